"""Leave-future-out (LFO) errors of the model average on one table, and what is built on them.

For each origin m, fit on the m smallest sizes and predict the larger ones; the errors e_i at
distances d_i = ln(N_i / N_m) measure how far extrapolation misses on these very data. They give
the model-structure scale of ``structure`` (τ̂² = mean(e_i² / d_i²)) and the weights of
``pseudo_bma`` and ``stacking`` (each law's log predictive density at the LFO points).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

from scalefit.core.average import AveragedFit, fit_laws, model_average
from scalefit.data import GainTable
from scalefit.methods.base import Predictive


def fit_weighted(table: GainTable, criterion: str) -> AveragedFit:
    """The paper's five laws weighted by ``criterion``, falling back to AIC where it is undefined
    for every law (AICc needs n ≥ k + 2 points), with a note."""
    return fit_laws(table, criterion=criterion, fallback=True)


@dataclass
class LFOErrors:
    """Leave-future-out errors of the model average: distance ln(N_i/N_m), error y − ŷ, the
    average's eq. 9 SD, and each law's prediction (laws × points; NaN where it was skipped)."""

    distance: np.ndarray
    error: np.ndarray
    sd: np.ndarray
    law_mean: np.ndarray
    law_sd: np.ndarray
    observed: np.ndarray
    laws: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.error)


def lfo_origins(n: int, max_origins: int = 6) -> list[int]:
    """Training-set sizes m for leave-future-out: from 2 to n − 1, at most ``max_origins`` of
    them, spread over the upper half (where the fits resemble the final one)."""
    if n < 3:
        return []
    lo = max(2, min(n // 2, n - max_origins))
    return sorted(set(np.linspace(lo, n - 1, min(max_origins, n - lo)).round().astype(int)))


def lfo_errors(table: GainTable, criterion: str = "aic", max_origins: int = 6) -> LFOErrors:
    """Leave-future-out errors of the ``criterion``-weighted average on ``table`` (sorted by size;
    rows of equal size are predicted from the rows strictly smaller)."""
    t = table.sorted()
    names = None
    out = {k: [] for k in ("distance", "error", "sd", "law_mean", "law_sd", "observed")}
    for m in lfo_origins(len(t), max_origins):
        train = t.take(np.arange(m))
        future = t.size > train.size.max()
        if not future.any():
            continue
        pred = fit_weighted(train, criterion).predict(t.size[future])
        names = pred.laws
        out["distance"].append(np.log(t.size[future] / train.size.max()))
        out["error"].append(t.gain[future] - pred.mean)
        out["sd"].append(pred.sd)
        out["law_mean"].append(pred.law_mean)
        out["law_sd"].append(pred.law_sd)
        out["observed"].append(t.gain[future])
    if names is None:
        empty = np.zeros(0)
        return LFOErrors(empty, empty, empty, np.zeros((0, 0)), np.zeros((0, 0)), empty, ())
    return LFOErrors(*(np.concatenate(out[k], axis=-1) for k in
                       ("distance", "error", "sd", "law_mean", "law_sd", "observed")), names)


def structure_scale(errors: LFOErrors) -> float:
    """τ̂ = sqrt(mean(e_i² / d_i²)): the model-structure error per unit of log-distance."""
    if len(errors) == 0:
        return np.nan
    return float(np.sqrt(np.mean(errors.error**2 / errors.distance**2)))


def lfo_law_logdens(errors: LFOErrors) -> np.ndarray:
    """log N(y_i; law mean, law SD) per law (rows) and LFO point (columns); −inf where skipped."""
    with np.errstate(invalid="ignore", divide="ignore"):
        dens = stats.norm.logpdf(errors.observed, errors.law_mean, errors.law_sd)
    return np.where(np.isfinite(dens), dens, -np.inf)


def reweighted(table: GainTable, sizes, weights_from_lfo: Callable[[np.ndarray], np.ndarray],
               method: str) -> Predictive:
    """The model average with law weights from ``weights_from_lfo(log densities)``; normal with
    eq. 9's variance. AIC weights when the table has no leave-future-out points."""
    fit = fit_weighted(table, "aic")
    errors = lfo_errors(table, "aic")
    pred = fit.predict(sizes)
    if len(errors) == 0:
        return Predictive(pred.sizes, pred.mean, pred.sd, np.full(len(pred.sizes), np.inf),
                          method, ["no leave-future-out points: AIC weights used"])
    w = weights_from_lfo(lfo_law_logdens(errors))
    order = [errors.laws.index(n) for n in pred.laws]
    w = np.where(np.isfinite(pred.law_mean).all(axis=1), w[order], 0.0)
    w = w / w.sum()
    mean, within, between = model_average(pred.law_mean, pred.law_sd, w)
    return Predictive(pred.sizes, mean, np.sqrt(within + between),
                      np.full(len(pred.sizes), np.inf), method,
                      ["weights " + ", ".join(f"{n} {v:.3f}" for n, v in zip(pred.laws, w))])
