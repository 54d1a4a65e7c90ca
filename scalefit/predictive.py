"""Predictive distributions at new sizes: the ways to weight laws and size intervals.

Every method maps a gain table and target sizes to a ``Predictive``: a location-scale Student-t
distribution per size (df = ∞ is the normal). Methods are registered in ``METHODS`` by name, so
backtests, the synthetic validation and the CLI score and offer the same set:

``paper``         AIC weights, normal with the total variance of seed 000 eq. 9 (within + between).
``aicc``, ``bic`` the same with AICc or BIC weights.
``student``       the paper's mean and eq. 9 scale with Student-t tails, ν = n − 2 (heavier tails
                  alone, without a model-structure term).
``pseudo_bma``    weights ∝ exp(Σ log predictive density of leave-future-out points) per law.
``stacking``      weights maximising the leave-future-out log score of the mixture.
``lfo``           the paper's mean and eq. 9 variance plus a *model-structure* term (τ·d)², with
                  d = ln(N / N_max) the extrapolation distance and τ estimated from the table's own
                  leave-future-out errors; Student-t with as many degrees of freedom as errors.
``lfo_aicc``      the same with AICc weights.

Leave-future-out (LFO): for each origin m, fit on the m smallest sizes and predict the larger
ones; the errors e_i at distances d_i = ln(N_i / N_m) measure how far extrapolation misses on
these very data. Under e_i / d_i ~ N(0, τ²), τ̂² = mean(e_i² / d_i²) and a new error is
τ̂ · d · t_ν with ν = the number of errors (the usual predictive for a scale estimated from ν
squared errors). LFO errors from nested origins are correlated, so ν is generous; the backtest
(``benchmarks/bench_calibration.py``) is what says whether the intervals hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import optimize, stats

from scalefit.average import AveragedFit, fit_laws, model_average, size_key
from scalefit.data import GainTable

Z = {0.68: stats.norm.ppf(0.84), 0.95: stats.norm.ppf(0.975)}


@dataclass
class Predictive:
    """Student-t predictive per size: ``mean + scale · t_df``; df = inf is the normal."""

    sizes: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    df: np.ndarray
    method: str
    notes: list[str] = field(default_factory=list)

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Central ``level`` interval."""
        q = stats.t.ppf(0.5 + level / 2.0, self.df)
        return self.mean - q * self.scale, self.mean + q * self.scale

    def logpdf(self, values) -> np.ndarray:
        return stats.t.logpdf(np.asarray(values, float), self.df, self.mean, self.scale)

    def to_dict(self) -> dict:
        lo68, hi68 = self.interval(0.68)
        lo95, hi95 = self.interval(0.95)
        return {"method": self.method, "notes": list(self.notes),
                "predictions": {size_key(s): {"mean": float(m), "scale": float(sc),
                                              "df": float(d), "ci68": [float(a), float(b)],
                                              "ci95": [float(c), float(e)]}
                                for s, m, sc, d, a, b, c, e in zip(
                                    self.sizes, self.mean, self.scale, np.broadcast_to(
                                        self.df, self.sizes.shape), lo68, hi68, lo95, hi95)}}


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


def _fit(table: GainTable, criterion: str) -> AveragedFit:
    """``fit_laws`` with AICc/BIC falling back to AIC where the criterion is undefined for every
    law (AICc needs n ≥ k + 2 points)."""
    fit = fit_laws(table, criterion="aic")
    if criterion != "aic":
        fit.criterion = criterion
        if not any(np.isfinite(s) for s in fit.scores.values()):
            fit.criterion = "aic"
            fit.notes.append(f"{criterion.upper()} undefined with {len(table)} points; AIC used")
    return fit


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
        fit = _fit(train, criterion)
        pred = fit.predict(t.size[future])
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


def _normal(fit: AveragedFit, sizes, method: str) -> Predictive:
    pred = fit.predict(sizes)
    return Predictive(pred.sizes, pred.mean, pred.sd, np.full(len(pred.sizes), np.inf), method,
                      list(fit.notes))


def criterion_method(criterion: str) -> Callable[[GainTable, np.ndarray], Predictive]:
    """The paper's recipe (eq. 7-9, normal) with weights from ``criterion``."""
    def method(table, sizes):
        return _normal(_fit(table, criterion), sizes, "paper" if criterion == "aic" else criterion)

    method.__doc__ = f"{criterion.upper()} weights, normal with eq. 9's total variance."
    return method


def student(table, sizes):
    """AIC weights, eq. 9 scale, Student-t with ν = n − 2 degrees of freedom."""
    fit = _fit(table, "aic")
    pred = fit.predict(sizes)
    df = float(max(len(table) - 2, 1))
    return Predictive(pred.sizes, pred.mean, pred.sd, np.full(len(pred.sizes), df), "student",
                      list(fit.notes))


def _lfo_law_logdens(errors: LFOErrors) -> np.ndarray:
    """log N(y_i; law mean, law SD) per law (rows) and LFO point (columns); −inf where skipped."""
    with np.errstate(invalid="ignore", divide="ignore"):
        dens = stats.norm.logpdf(errors.observed, errors.law_mean, errors.law_sd)
    return np.where(np.isfinite(dens), dens, -np.inf)


def _reweighted(table, sizes, weights_from_lfo, method: str) -> Predictive:
    fit = _fit(table, "aic")
    errors = lfo_errors(table, "aic")
    pred = fit.predict(sizes)
    if len(errors) == 0:
        return Predictive(pred.sizes, pred.mean, pred.sd, np.full(len(pred.sizes), np.inf),
                          method, ["no leave-future-out points: AIC weights used"])
    w = weights_from_lfo(_lfo_law_logdens(errors))
    order = [errors.laws.index(n) for n in pred.laws]
    w = np.where(np.isfinite(pred.law_mean).all(axis=1), w[order], 0.0)
    w = w / w.sum()
    mean, within, between = model_average(pred.law_mean, pred.law_sd, w)
    return Predictive(pred.sizes, mean, np.sqrt(within + between),
                      np.full(len(pred.sizes), np.inf), method,
                      ["weights " + ", ".join(f"{n} {v:.3f}" for n, v in zip(pred.laws, w))])


def _pseudo_bma_weights(logdens: np.ndarray) -> np.ndarray:
    """Pseudo-BMA: w_k ∝ exp(Σ_i log p_k(y_i)) over leave-future-out points."""
    total = logdens.sum(axis=1)
    if not np.isfinite(total).any():
        return np.full(len(total), 1.0 / len(total))
    return np.exp(total - np.max(total[np.isfinite(total)])) * np.isfinite(total)


def _stacking_weights(logdens: np.ndarray) -> np.ndarray:
    """Stacking: w on the simplex maximising Σ_i log Σ_k w_k p_k(y_i) (Yao et al. 2018)."""
    usable = np.isfinite(logdens).all(axis=1)
    if usable.sum() <= 1:
        return usable / max(usable.sum(), 1)
    ld = logdens[usable]
    shift = ld.max(axis=0)
    p = np.exp(ld - shift)

    def loss(z):
        w = np.exp(z - z.max())
        w /= w.sum()
        return -np.sum(np.log(w @ p + 1e-300))

    z = optimize.minimize(loss, np.zeros(len(ld)), method="Nelder-Mead",
                          options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000}).x
    w = np.zeros(len(logdens))
    w[usable] = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    return w


def pseudo_bma(table, sizes):
    """Pseudo-BMA weights from leave-future-out log predictive densities; normal, eq. 9."""
    return _reweighted(table, sizes, _pseudo_bma_weights, "pseudo_bma")


def stacking(table, sizes):
    """Stacking weights from leave-future-out log scores; normal, eq. 9."""
    return _reweighted(table, sizes, _stacking_weights, "stacking")


def structure_method(criterion: str) -> Callable[[GainTable, np.ndarray], Predictive]:
    """Eq. 9 variance plus (τ̂ d)² model-structure error, Student-t with ν = #LFO errors."""
    name = "lfo" if criterion == "aic" else f"lfo_{criterion}"

    def method(table, sizes):
        fit = _fit(table, criterion)
        pred = fit.predict(sizes)
        errors = lfo_errors(table, criterion)
        notes = list(fit.notes)
        if len(errors) == 0:
            notes.append("too few points for leave-future-out errors: no structure term")
            return Predictive(pred.sizes, pred.mean, pred.sd, np.full(len(pred.sizes), np.inf),
                              name, notes)
        tau = structure_scale(errors)
        distance = np.log(np.maximum(pred.sizes / table.size.max(), 1.0))
        scale = np.sqrt(pred.sd**2 + (tau * distance) ** 2)
        notes.append(f"model-structure scale τ = {tau:.3g} per unit ln-size from "
                     f"{len(errors)} leave-future-out errors")
        return Predictive(pred.sizes, pred.mean, scale, np.full(len(pred.sizes), float(len(errors))),
                          name, notes)

    method.__doc__ = (f"{criterion.upper()} weights; eq. 9 variance plus a model-structure term "
                      "from leave-future-out errors; Student-t.")
    return method


METHODS: dict[str, Callable[[GainTable, np.ndarray], Predictive]] = {
    "paper": criterion_method("aic"),
    "aicc": criterion_method("aicc"),
    "bic": criterion_method("bic"),
    "student": student,
    "pseudo_bma": pseudo_bma,
    "stacking": stacking,
    "lfo": structure_method("aic"),
    "lfo_aicc": structure_method("aicc"),
}


def predictive(table: GainTable, sizes, method: str = "paper") -> Predictive:
    """The predictive distribution of ``method`` (a name in ``METHODS``) at ``sizes``."""
    if method not in METHODS:
        from scalefit.errors import ScalefitError

        raise ScalefitError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    return METHODS[method](table, np.atleast_1d(np.asarray(sizes, float)))
