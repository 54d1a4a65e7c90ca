"""Fit the laws, weight them, and average their predictions (the scaling paper, eq. 6-9).

``fit_laws`` fits the paper's five laws (``PAPER_LAWS``, or the ``laws`` asked for) to one gain
table and returns an ``AveragedFit``; its ``predict(sizes)`` gives each law's prediction ±
delta-method SD and the model average with the within-model and between-model variance of eq. 9.
``average_batch`` is the same average over replicate fits (``BatchFit``). Both weight through
``criterion_weights``, the one place where AICc or BIC falls back to AIC when it is undefined for
every law (AICc needs n ≥ k + 2 points). ``akaike_weights`` and ``model_average`` are the plain
array functions behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalefit.core.fit import BatchFit, FitResult, fit_law
from scalefit.core.laws import PAPER_LAWS, get_law
from scalefit.data import GainTable
from scalefit.errors import ScalefitError

CRITERIA = ("aic", "aicc", "bic")


def akaike_weights(scores, axis: int = -1) -> np.ndarray:
    """w_m = exp(−Δ_m / 2) / Σ exp(−Δ_m' / 2), Δ_m = score_m − min score (the scaling paper, eq. 7).

    Works for AIC, AICc or BIC scores along ``axis``. Non-finite scores (a failed or skipped fit,
    AICc with too few points) get weight 0; if every score is non-finite all weights are NaN.
    """
    s = np.asarray(scores, dtype=float)
    finite = np.isfinite(s)
    best = np.min(np.where(finite, s, np.inf), axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        w = np.where(finite, np.exp(-0.5 * (s - best)), 0.0)
        return w / w.sum(axis=axis, keepdims=True)


def criterion_weights(scores: dict[str, np.ndarray], criterion: str, fallback: bool = False):
    """Akaike weights (laws on the last axis) from ``scores[criterion]``; with ``fallback``, rows
    where that criterion is undefined for every law use ``scores["aic"]`` instead.

    Returns ``(weights, fell_back)`` with ``fell_back`` a boolean per row.
    """
    chosen = np.asarray(scores[criterion], float)
    undefined = ~np.any(np.isfinite(chosen), axis=-1)
    fell_back = undefined & fallback & np.any(np.isfinite(np.asarray(scores["aic"], float)), axis=-1)
    used = np.where(fell_back[..., None], scores["aic"], chosen) if fallback else chosen
    with np.errstate(invalid="ignore"):
        return akaike_weights(used, axis=-1), fell_back


@dataclass
class AveragedPrediction:
    """Per-law and model-averaged predictions at ``sizes`` (table unit), for one table or a
    batch of ``R`` replicate tables (``average_batch``), which adds a leading replicate axis.

    ``weights`` (L,) or (R, L); ``law_mean`` and ``law_sd`` (L, m) or (R, L, m); ``mean``,
    ``within_var``, ``between_var`` (m,) or (R, m). The average is eq. 8 and its variance eq. 9:
    within = Σ w σ_m², between = Σ w (Δ_m − Δ_avg)², total = within + between. In a batch a law
    whose refit failed in a replicate has weight 0 there (the other weights renormalised); a
    replicate where every law failed has NaN weights and mean.
    """

    sizes: np.ndarray
    laws: tuple[str, ...]
    weights: np.ndarray
    law_mean: np.ndarray
    law_sd: np.ndarray
    mean: np.ndarray
    within_var: np.ndarray
    between_var: np.ndarray

    @property
    def within_sd(self) -> np.ndarray:
        return np.sqrt(self.within_var)

    @property
    def between_sd(self) -> np.ndarray:
        return np.sqrt(self.between_var)

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(self.within_var + self.between_var)


def model_average(law_mean, law_sd, weights):
    """Model-averaged mean, within and between variance (the scaling paper, eq. 8-9).

    ``law_mean`` and ``law_sd`` have the laws on axis −2 and sizes on axis −1; ``weights`` has the
    laws on its last axis (leading axes, e.g. bootstrap replicates, broadcast). Laws of weight 0
    (failed fits, whose predictions are NaN) are left out.
    """
    m, s = np.asarray(law_mean, float), np.asarray(law_sd, float)
    w = np.asarray(weights, float)[..., :, None]
    used = w > 0
    mean = np.sum(np.where(used, w * m, 0.0), axis=-2)
    within = np.sum(np.where(used, w * s**2, 0.0), axis=-2)
    between = np.sum(np.where(used, w * (m - mean[..., None, :]) ** 2, 0.0), axis=-2)
    return mean, within, between


@dataclass
class AveragedFit:
    """Every law fitted to one table, with information-criterion weights."""

    table: GainTable
    fits: dict[str, FitResult]
    criterion: str = "aic"
    notes: list[str] = field(default_factory=list)
    fallback: bool = False  # AICc/BIC undefined for every law: weigh by AIC (and say so)

    @property
    def size_unit(self) -> str:
        return self.table.size_unit

    @property
    def scores(self) -> dict[str, float]:
        return {name: fit.criteria[self.criterion] for name, fit in self.fits.items()}

    @property
    def weights(self) -> dict[str, float]:
        names = list(self.fits)
        crit = {c: np.array([self.fits[n].criteria[c] for n in names]) for c in {"aic", self.criterion}}
        w, _ = criterion_weights(crit, self.criterion, self.fallback)
        return dict(zip(names, map(float, w)))

    def predict(self, sizes) -> AveragedPrediction:
        sizes = np.atleast_1d(np.asarray(sizes, dtype=float))
        names = tuple(self.fits)
        means = np.array([self.fits[n].predict(sizes) for n in names])
        sds = np.array([self.fits[n].predict_sd(sizes) for n in names])
        w = np.array([self.weights[n] for n in names])
        mean, within, between = model_average(means, sds, w)
        return AveragedPrediction(sizes, names, w, means, sds, mean, within, between)

    def to_dict(self, sizes) -> dict:
        """The JSON contract: ``{"laws": {NAME: {...}}, "average": {SIZE: {...}}}`` plus context."""
        pred = self.predict(sizes)
        keys = [size_key(s) for s in pred.sizes]
        laws = {}
        for i, (name, fit) in enumerate(self.fits.items()):
            crit = fit.criteria
            laws[name] = {
                "formula": fit.spec.formula,
                "status": fit.status,
                "converged": fit.converged,
                "message": fit.message,
                "k": fit.k,
                "params": dict(zip(fit.spec.params, map(float, fit.params))),
                "param_se": dict(zip(fit.spec.params, map(float, fit.param_se))),
                "at_bound": list(fit.at_bound),
                "chi2": float(fit.chi2),
                "aic": crit["aic"], "aicc": crit["aicc"], "bic": crit["bic"],
                "weight": float(pred.weights[i]),
                "notes": list(fit.notes),
                "predictions": {key: {"mean": float(pred.law_mean[i, j]),
                                      "sd": float(pred.law_sd[i, j])}
                                for j, key in enumerate(keys)},
            }
        average = {key: {"mean": float(pred.mean[j]), "sd": float(pred.sd[j]),
                         "within_sd": float(pred.within_sd[j]),
                         "between_sd": float(pred.between_sd[j])}
                   for j, key in enumerate(keys)}
        return {
            "source": self.table.source,
            "size_unit": self.size_unit,
            "size_unit_name": self.table.unit_label,
            "gain_unit": "percentage points",
            "criterion": self.criterion,
            "n_points": len(self.table),
            "data": {"size": self.table.size.tolist(), "gain": self.table.value.tolist(),
                     "se": self.table.se.tolist()},
            "notes": list(self.table.notes) + list(self.notes),
            "laws": laws,
            "average": average,
        }


def average_batch(fits: dict[str, BatchFit], sizes, criterion: str = "aic",
                  within: bool = True, fallback: bool = False) -> AveragedPrediction:
    """Weights from ``criterion`` per replicate and the model average of ``fits`` at ``sizes``
    (eq. 7-9, as ``AveragedFit.predict``); ``fallback`` as in ``criterion_weights``.

    ``within=False`` skips the delta-method SDs (the bootstrap does not need them).
    """
    sizes = np.atleast_1d(np.asarray(sizes, float))
    names = tuple(fits)
    crit = [fits[n].criteria() for n in names]
    scores = {c: np.stack([cr[c] for cr in crit], axis=1) for c in {"aic", criterion}}  # (R, L)
    weights, _ = criterion_weights(scores, criterion, fallback)
    means = np.stack([fits[n].predict(sizes) for n in names], axis=1)  # (R, L, m)
    sds = (np.stack([fits[n].predict_sd(sizes) for n in names], axis=1) if within
           else np.zeros_like(means))
    with np.errstate(invalid="ignore"):
        mean, w_var, b_var = model_average(np.nan_to_num(means), np.nan_to_num(sds),
                                           np.nan_to_num(weights))
    none = ~np.any(weights > 0, axis=1)
    mean[none], w_var[none], b_var[none] = np.nan, np.nan, np.nan
    return AveragedPrediction(sizes, names, weights, means, sds, mean, w_var, b_var)


def size_key(size: float) -> str:
    """A requested size as a JSON key: ``70.0`` → ``"70"``, ``0.5`` → ``"0.5"``."""
    return f"{float(size):g}"


def fit_laws(table: GainTable, *, criterion: str = "aic", laws: list[str] | None = None,
             fallback: bool = False) -> AveragedFit:
    """Fit each law (default: the paper's five, ``PAPER_LAWS``) to ``table`` and weight them by
    ``criterion``.

    Laws with more parameters than the table has points are skipped (status "skipped", weight 0);
    a fit that fails gets status "failed" and weight 0. Raises ``ScalefitError`` if none fits, or
    if ``criterion`` is undefined for every law — unless ``fallback``, which weighs by AIC then
    and says so in ``notes`` (what the predictive methods do).
    """
    if criterion not in CRITERIA:
        raise ScalefitError(f"unknown criterion {criterion!r}; choose from {', '.join(CRITERIA)}")
    names = [get_law(n).name for n in (PAPER_LAWS if laws is None else laws)]
    fits = {name: fit_law(name, table.size, table.value, table.se, size_unit=table.size_unit)
            for name in names}
    notes = [f"{name} {fit.status}: {fit.message}" for name, fit in fits.items() if not fit.converged]
    result = AveragedFit(table, fits, criterion, notes)
    if fallback and criterion != "aic" and not any(np.isfinite(s) for s in result.scores.values()) \
            and any(f.converged for f in fits.values()):
        result.fallback = True
        result.notes.append(f"{criterion.upper()} undefined with {len(table)} points; AIC used")
        return result
    if not any(np.isfinite(s) for s in result.scores.values()):
        fewest = min(get_law(n).k for n in names)
        if all(f.status == "skipped" for f in fits.values()):
            reason = f"{len(table)} point(s) are too few for any law (the smallest needs {fewest})"
        elif criterion == "aicc" and any(f.converged for f in fits.values()):
            reason = (f"AICc needs more points than parameters + 1, and {len(table)} point(s) "
                      f"leave it undefined for every law (the smallest has {fewest}); use "
                      "criterion=aic or criterion=bic")
        else:
            reason = f"no law could be fitted ({'; '.join(notes)})"
        raise ScalefitError(f"{table.source}: {reason}")
    return result
