"""Naive forecasts, the bar any extrapolation method must clear (as the M4 competition scores
every method against naive forecasts; skill = error / persistence's error).

``persistence``       the value at the largest measured size stays (inverse-variance mean of
                      the rows at that size);
``loglinear_last2``   the straight line in ln N through the two largest distinct sizes;
``loglinear_wls``     weighted least squares y = a + b ln N on every point (weights 1/se²).

Each gets a Student-t interval of the same structure-error form as the default
(``scalefit.methods.damped``), in the table's units: scale² = se_last² + τ² d², d = ln(N/N_max),
τ² = mean(e²/d²) of the forecast's own leave-future-out errors e on the table
(``scalefit.methods.lfo.lfo_splits``; df = their number); with no such error
τ = sd(values)/max(1, range of ln N), df = 1. Points and bounds are censored to the table's
possible range by ``Method.__call__``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from scalefit.methods.base import Method, Predictive, register
from scalefit.methods.lfo import lfo_splits

Point = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def last_value(x, y, s) -> tuple[float, float]:
    """Inverse-variance mean of the values at the largest size, and its SE."""
    top = x == x.max()
    w = 1.0 / s[top] ** 2
    return float(np.sum(w * y[top]) / w.sum()), float(1.0 / np.sqrt(w.sum()))


def wls_line(lx, y, s) -> tuple[float, float]:
    """Intercept and slope of the weighted least-squares line y = a + b·lx (weights 1/s²);
    slope 0 with one distinct lx."""
    w = 1.0 / s**2
    if np.ptp(lx) == 0:
        return float(np.sum(w * y) / w.sum()), 0.0
    X = np.column_stack([np.ones_like(lx), lx])
    a, b = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * y))
    return float(a), float(b)


def persistence_point(x, y, s, xf) -> np.ndarray:
    return np.full(len(xf), last_value(x, y, s)[0])


def last_two_point(x, y, s, xf) -> np.ndarray:
    ux = np.unique(x)
    if len(ux) < 2:
        return persistence_point(x, y, s, xf)
    below = x <= ux[-2]
    y1, _ = last_value(x[below], y[below], s[below])
    y2, _ = last_value(x, y, s)
    return y2 + (y2 - y1) / np.log(ux[-1] / ux[-2]) * np.log(xf / ux[-1])


def wls_point(x, y, s, xf) -> np.ndarray:
    a, b = wls_line(np.log(x), y, s)
    return a + b * np.log(xf)


def naive_predictive(point: Point, name: str, min_train: int, table, sizes) -> Predictive:
    """``point``'s forecast at ``sizes`` with the structure-error interval of the module doc."""
    order = np.argsort(table.size, kind="stable")
    x, y, s = table.size[order], table.value[order], table.se[order]
    errors, dists = [], []
    for train, future, top in lfo_splits(x, min_train):
        errors.append(y[future] - point(x[train], y[train], s[train], x[future]))
        dists.append(np.log(x[future] / top))
    if errors:
        e, d = np.concatenate(errors), np.concatenate(dists)
        tau, df = float(np.sqrt(np.mean(e**2 / d**2))), float(len(e))
    else:
        tau, df = float(np.std(y)) / max(float(np.ptp(np.log(x))), 1.0), 1.0
    _, se_last = last_value(x, y, s)
    d = np.log(np.maximum(sizes / x.max(), 1.0))
    return Predictive(sizes, point(x, y, s, sizes), np.sqrt(se_last**2 + (tau * d) ** 2),
                      np.full(len(sizes), df), name,
                      [f"structure scale τ = {tau:.3g} per unit ln-size from {len(errors)} "
                       "leave-future-out origin(s)" if errors else
                       "no leave-future-out error: τ from the spread of the values"])


def _naive(name: str, point: Point, min_train: int, summary: str, title: str) -> Method:
    def predict(table, sizes):
        return naive_predictive(point, name, min_train, table, sizes)

    return register(Method(name, predict, summary, title=title))


_naive("persistence", persistence_point, 1, "naive: the value at the largest size stays",
       "persistence (the value at the largest measured size stays)")
_naive("loglinear_last2", last_two_point, 2,
       "naive: straight line in ln N through the two largest sizes",
       "straight line in ln N through the two largest sizes")
_naive("loglinear_wls", wls_point, 2, "naive: weighted least squares line in ln N, all points",
       "weighted least-squares line in ln N")
