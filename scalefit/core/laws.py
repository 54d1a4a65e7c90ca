"""The candidate scaling laws of the scaling paper (eq. 1-5), registered once in ``LAWS``.

Every law is data plus one vectorised function: ``law.value(theta, x)`` evaluates the law for
parameters ``theta`` of shape ``(..., k)`` at sizes ``x`` of shape ``(n,)`` and returns
``(..., n)``; ``law.jacobian(theta, x)`` returns ``(..., n, k)``. Leading dimensions let one call
evaluate many parameter sets (bootstrap replicates, MCMC walkers) at once.

Bounds and starting points depend on the data (the size unit is the table's, so a bound on the
saturating law's N0 must be relative to the sizes observed). They are wide enough never to bind
on well-behaved data; where one does bind, ``FitResult.at_bound`` says so. Adding a sixth law is
one ``Law(...)`` entry in ``LAWS``: it can be fitted, backtested and validated by name (it is a
predictive method of its own), and is averaged when asked for (``--laws``). The paper's model
average (Table 1) is over ``PAPER_LAWS``, the explicit set of its five laws, so it is unchanged.

Size units: the power, logarithmic and sigmoid laws are unit-free (changing the unit rescales
``a`` or shifts ``c``, predictions are unchanged); the saturating law's N0 is in the table's unit,
and the sqrt-log law uses ln(N + 1), whose shape depends on the unit. Fits run in the table's unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from scalefit.errors import ScalefitError

Array = np.ndarray


@dataclass(frozen=True)
class Law:
    """One candidate scaling law: its formula, parameters, and how to start and bound a fit."""

    name: str
    label: str
    formula: str
    equation: str
    params: tuple[str, ...]
    value: Callable[[Array, Array], Array]
    jacobian: Callable[[Array, Array], Array]
    bounds: Callable[[Array, Array], tuple[Array, Array]]
    starts: Callable[[Array, Array, Array], Array]
    linear: bool = False  # linear in its parameters: weighted least squares has a closed form

    @property
    def k(self) -> int:
        return len(self.params)


def _p(theta: Array, i: int) -> Array:
    """Parameter ``i`` of ``theta (..., k)`` shaped to broadcast against sizes ``(n,)``."""
    return np.asarray(theta, dtype=float)[..., i, None]


def _profile_starts(basis: Callable[[Array], Array], grid: Array, x: Array, y: Array,
                    sigma: Array, n_keep: int = 6) -> Array:
    """Starting points from a grid over the nonlinear parameters, with the law's linear
    amplitude ``a`` solved by weighted least squares at each grid point (variable projection).

    ``basis(g)`` gives the law's value at amplitude 1 for nonlinear parameters ``g``; the result
    has rows ``[a, *g]`` for the ``n_keep`` grid points of lowest chi².
    """
    w = 1.0 / sigma**2
    rows, chi2 = [], []
    for g in grid:
        b = basis(g)
        denom = np.sum(w * b * b)
        if not np.isfinite(denom) or denom <= 0:
            continue
        a = np.sum(w * b * y) / denom
        rows.append([a, *g])
        chi2.append(np.sum(w * (y - a * b) ** 2))
    order = np.argsort(chi2)[:n_keep]
    return np.asarray(rows, dtype=float)[order]


# --- power law, eq. (1): a * N^b -------------------------------------------------------------

def _power(theta, x):
    return _p(theta, 0) * x ** _p(theta, 1)


def _power_jac(theta, x):
    xb = x ** _p(theta, 1)
    return np.stack([xb * np.ones_like(_p(theta, 0)), _p(theta, 0) * xb * np.log(x)], axis=-1)


def _power_bounds(x, y):
    return np.array([-np.inf, -4.0]), np.array([np.inf, 4.0])


def _power_starts(x, y, s):
    grid = np.linspace(-2.0, 2.0, 33)[:, None]
    return _profile_starts(lambda g: x ** g[0], grid, x, y, s)


# --- logarithmic law, eq. (2): a * ln N + c --------------------------------------------------

def _logarithmic(theta, x):
    return _p(theta, 0) * np.log(x) + _p(theta, 1)


def _logarithmic_jac(theta, x):
    ones = np.ones_like(_p(theta, 0) * x)
    return np.stack([np.log(x) * ones, ones], axis=-1)


def _unbounded(k):
    return lambda x, y: (np.full(k, -np.inf), np.full(k, np.inf))


def _no_starts(k):
    return lambda x, y, s: np.zeros((1, k))


# --- saturating law, eq. (3): a * (1 - exp(-N / N0)) -----------------------------------------

def _saturating(theta, x):
    return _p(theta, 0) * -np.expm1(-x / _p(theta, 1))


def _saturating_jac(theta, x):
    a, n0 = _p(theta, 0), _p(theta, 1)
    e = np.exp(-x / n0)
    return np.stack([-np.expm1(-x / n0) * np.ones_like(a), -a * e * x / n0**2], axis=-1)


def _saturating_bounds(x, y):
    # N0 from far below to far above the observed sizes: flat to linear across the data.
    return np.array([-np.inf, x.min() / 100.0]), np.array([np.inf, x.max() * 100.0])


def _saturating_starts(x, y, s):
    lo, hi = _saturating_bounds(x, y)
    grid = np.geomspace(lo[1], hi[1], 25)[:, None]
    return _profile_starts(lambda g: -np.expm1(-x / g[0]), grid, x, y, s)


# --- sigmoid in ln N, eq. (4): a / (1 + exp(-b (ln N - c))) ----------------------------------

def _sigmoid_unit(b, c, x):
    return 0.5 * (1.0 + np.tanh(0.5 * b * (np.log(x) - c)))  # logistic, overflow-free


def _sigmoid(theta, x):
    return _p(theta, 0) * _sigmoid_unit(_p(theta, 1), _p(theta, 2), x)


def _sigmoid_jac(theta, x):
    a, b, c = _p(theta, 0), _p(theta, 1), _p(theta, 2)
    s = _sigmoid_unit(b, c, x)
    ds = s * (1.0 - s)
    return np.stack([s, a * ds * (np.log(x) - c), -a * ds * b], axis=-1)


def _sigmoid_bounds(x, y):
    # Slope of either sign (b < 0 is a step *down* to 0, which no sign of a can express); |b| <= 10
    # (steeper is a step between two observed sizes, unidentified); midpoint within e^5 of the data.
    lx = np.log(x)
    return (np.array([-np.inf, -10.0, lx.min() - 5.0]),
            np.array([np.inf, 10.0, lx.max() + 5.0]))


def _sigmoid_starts(x, y, s):
    lo, hi = _sigmoid_bounds(x, y)
    slopes = np.array([0.3, 0.6, 1.0, 2.0, 4.0, 8.0])
    lx = np.unique(np.log(x))
    # midpoints between observed sizes too: a steep sigmoid is a step between two of them
    mids = np.concatenate([np.linspace(lo[2] + 1.0, hi[2] - 1.0, 9), (lx[1:] + lx[:-1]) / 2])
    grid = np.array([(b, c) for b in np.concatenate([-slopes, slopes]) for c in mids])
    return _profile_starts(lambda g: _sigmoid_unit(g[0], g[1], x), grid, x, y, s, n_keep=10)


# --- sqrt-log hybrid, eq. (5): a sqrt(ln(N+1)) + b ln(N+1) + c ------------------------------

def _sqrt_log(theta, x):
    lx = np.log1p(x)
    return _p(theta, 0) * np.sqrt(lx) + _p(theta, 1) * lx + _p(theta, 2)


def _sqrt_log_jac(theta, x):
    lx = np.log1p(x)
    ones = np.ones_like(_p(theta, 0) * x)
    return np.stack([np.sqrt(lx) * ones, lx * ones, ones], axis=-1)


LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        Law("power", "Power law", "a * N^b", "eq. 1", ("a", "b"),
            _power, _power_jac, _power_bounds, _power_starts),
        Law("logarithmic", "Logarithmic", "a * ln(N) + c", "eq. 2", ("a", "c"),
            _logarithmic, _logarithmic_jac, _unbounded(2), _no_starts(2), linear=True),
        Law("saturating", "Saturating", "a * (1 - exp(-N / N0))", "eq. 3", ("a", "N0"),
            _saturating, _saturating_jac, _saturating_bounds, _saturating_starts),
        Law("sigmoid", "Sigmoid", "a / (1 + exp(-b * (ln(N) - c)))", "eq. 4", ("a", "b", "c"),
            _sigmoid, _sigmoid_jac, _sigmoid_bounds, _sigmoid_starts),
        Law("sqrt_log", "Sqrt-log", "a * sqrt(ln(N+1)) + b * ln(N+1) + c", "eq. 5",
            ("a", "b", "c"), _sqrt_log, _sqrt_log_jac, _unbounded(3), _no_starts(3),
            linear=True),
    )
}


PAPER_LAWS: tuple[str, ...] = ("power", "logarithmic", "saturating", "sigmoid", "sqrt_log")


def get_law(law: "str | Law") -> Law:
    """The registered law called ``law`` (a ``Law`` is returned as it is); the one error for an
    unknown name, listing the choices."""
    if isinstance(law, Law):
        return law
    try:
        return LAWS[law]
    except KeyError:
        raise ScalefitError(f"unknown law {law!r}; choose from {', '.join(LAWS)}") from None
