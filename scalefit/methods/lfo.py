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


def lfo_splits(size, min_train: int = 2, max_origins: int = 6):
    """The leave-future-out splits of a table: the one definition behind every method's own
    check (the laws' structure term and weights here, the naive and damped forecasts' structure
    error) and ``scalefit fit``'s check against persistence.

    Origin m trains on the m smallest distinct sizes and forecasts every larger row. With n
    distinct sizes the origins run from max(``min_train``, min(n // 2, n − ``max_origins``)) to
    n − 1, at most ``max_origins`` of them spread evenly: all of them on a short table, the
    upper half of a long one (where the fits resemble the final one and the extrapolations are
    still long). Rows of one size are never split. Yields (train mask, future mask, largest
    training size) in the order of ``size``."""
    size = np.asarray(size, float)
    distinct = np.unique(size)
    n = len(distinct)
    if n <= min_train:
        return
    lo = max(min_train, min(n // 2, n - max_origins))
    for m in sorted(set(np.linspace(lo, n - 1, min(max_origins, n - lo)).round().astype(int))):
        top = distinct[m - 1]
        yield size <= top, size > top, top


def lfo_errors(table: GainTable, criterion: str = "aic", max_origins: int = 6) -> LFOErrors:
    """Leave-future-out errors of the ``criterion``-weighted average on ``table`` at every split
    of ``lfo_splits`` (at least two training sizes: the laws have two parameters or more)."""
    names = None
    out = {k: [] for k in ("distance", "error", "sd", "law_mean", "law_sd", "observed")}
    for train, future, top in lfo_splits(table.size, 2, max_origins):
        pred = fit_weighted(table.take(train), criterion).predict(table.size[future])
        names = pred.laws
        out["distance"].append(np.log(table.size[future] / top))
        out["error"].append(table.value[future] - pred.mean)
        out["sd"].append(pred.sd)
        out["law_mean"].append(pred.law_mean)
        out["law_sd"].append(pred.law_sd)
        out["observed"].append(table.value[future])
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
