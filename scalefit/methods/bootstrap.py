"""The scaling paper's parametric bootstrap (section 2.5 and section 3.6), fast.

The paper's bootstrap: draw ``R`` resamples of the observed gains by adding Gaussian noise scaled
by each point's standard error, refit every law (eq. 1-5) to every resample by weighted least
squares (eq. 6), recompute the Akaike weights per resample (eq. 7) and form the model-averaged
prediction per resample (eq. 8); percentiles of the ``R`` predictions are the confidence interval.

The refits are ``scalefit.core.fit.fit_laws_batch`` (vectorised across replicates, global by a
grid search; see there). ``bootstrap(table, sizes, ...)`` is the paper's bootstrap;
``bootstrap_replicates`` does the same for replicate data the caller supplies. Registered as the
predictive method ``bootstrap`` (1000 resamples, seed 0), with a batched form for the synthetic
validation: each simulated table resampled ``n_boot`` times, warm-started at its own fit.

Resampling schemes. ``scheme="data"`` (default) adds noise to the *observed* gains, as the paper
does (section 2.5); it reproduces the paper's interval, and each law's replicate fits are centred
on that law's own fit (exactly so for the linear laws: θ̂(y + ε) = θ̂(y) + Hε). ``scheme="fitted"``
is the textbook parametric bootstrap: noise is added to the model-averaged fitted curve (eq. 8 at
the observed sizes). For a linear law alone the two give the same spread (nearly the same for a
nonlinear one); with model averaging they differ by where the replicates are centred, a measure
of how much the interval depends on that choice (docs/uncertainty.md gives the numbers).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.core.average import AveragedFit, average_batch, size_key
from scalefit.core.fit import SKIPPED, fit_law_batch, fit_laws_batch
from scalefit.core.laws import PAPER_LAWS
from scalefit.data import GainTable
from scalefit.errors import ScalefitError
from scalefit.methods.base import EmpiricalPredictive, Method, ReplicateBatch, register

SCHEMES = ("data", "fitted")

# Grid points per nonlinear parameter for variable projection, by number of such parameters.
_GRID_POINTS = {1: 161, 2: 31, 3: 13}


# --- the bootstrap ----------------------------------------------------------------------------

def _percentile_summary(values: np.ndarray, level: float) -> dict:
    """Mean, SD and the percentile interval of the finite values (NaN when there are none)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {"mean": np.nan, "sd": np.nan, "ci95": [np.nan, np.nan], "n": 0}
    lo, hi = np.quantile(v, [0.5 - level / 2.0, 0.5 + level / 2.0])
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
            "ci95": [float(lo), float(hi)], "n": int(v.size)}


@dataclass
class BootstrapResult:
    """Parametric bootstrap of every law and of the model average at ``sizes`` (table unit).

    ``predictions`` (R, L, m) per replicate and law (NaN where the refit failed), ``converged``
    (R, L), ``weights`` (R, L) recomputed per replicate from ``criterion``, ``average`` (R, m) the
    model-averaged prediction per replicate (eq. 8; NaN only if every law failed), ``chi2`` (R, L)
    and ``params`` {law: (R, k)}. Intervals are percentile intervals of the finite replicates.
    """

    sizes: np.ndarray
    laws: tuple[str, ...]
    predictions: np.ndarray
    converged: np.ndarray
    weights: np.ndarray
    average: np.ndarray
    chi2: np.ndarray
    params: dict[str, np.ndarray]
    seed: int | None = None
    scheme: str = "data"
    criterion: str = "aic"
    level: float = 0.95
    size_unit: str = "B"
    skipped: list[str] = field(default_factory=list)
    retried: dict[str, int] = field(default_factory=dict)
    seconds: float = np.nan

    @property
    def n_replicates(self) -> int:
        return self.predictions.shape[0]

    @property
    def failed(self) -> dict[str, int]:
        """Replicates whose refit failed, per law that was fitted (skipped laws are listed in
        ``skipped``), and ``"average"``: replicates where every law failed."""
        out = {name: int(np.sum(~self.converged[:, i])) for i, name in enumerate(self.laws)
               if name not in self.skipped}
        out["average"] = int(np.sum(~np.all(np.isfinite(self.average), axis=1)))
        return out

    def law_summary(self, name: str) -> list[dict]:
        i = self.laws.index(name)
        return [_percentile_summary(self.predictions[:, i, j], self.level)
                for j in range(len(self.sizes))]

    def average_summary(self) -> list[dict]:
        return [_percentile_summary(self.average[:, j], self.level) for j in range(len(self.sizes))]

    def to_frame(self) -> pd.DataFrame:
        """One row per (model, size): mean, SD, interval, replicates used."""
        rows = []
        for name in list(self.laws) + ["average"]:
            if name in self.skipped:
                continue
            summ = self.average_summary() if name == "average" else self.law_summary(name)
            for size, s in zip(self.sizes, summ):
                rows.append({"model": name, "size": size, "mean": s["mean"], "sd": s["sd"],
                             "ci_low": s["ci95"][0], "ci_high": s["ci95"][1], "n": s["n"]})
        return pd.DataFrame(rows)

    def replicates_frame(self) -> pd.DataFrame:
        """Every replicate: each law's prediction, weight and convergence, and the average."""
        cols = {"replicate": np.arange(self.n_replicates)}
        for j, size in enumerate(self.sizes):
            for i, name in enumerate(self.laws):
                cols[f"{name}@{size_key(size)}"] = self.predictions[:, i, j]
            cols[f"average@{size_key(size)}"] = self.average[:, j]
        for i, name in enumerate(self.laws):
            cols[f"weight_{name}"] = self.weights[:, i]
            cols[f"converged_{name}"] = self.converged[:, i]
        return pd.DataFrame(cols)

    def to_dict(self) -> dict:
        """``{"average": {SIZE: {"mean", "ci95"}}, "laws": {NAME: {SIZE: {...}}}, "replicates",
        "failed"}`` plus the settings (the JSON contract of ``scalefit fit --bootstrap``). Each SIZE entry also has
        the bootstrap ``sd``; ``ci95`` is the ``level`` percentile interval (0.95 by default)."""
        keys = [size_key(s) for s in self.sizes]

        def entries(summ):
            return {key: {"mean": s["mean"], "ci95": s["ci95"], "sd": s["sd"]}
                    for key, s in zip(keys, summ)}

        with np.errstate(invalid="ignore"):
            mean_w = np.nanmean(self.weights, axis=0)
        return {
            "average": entries(self.average_summary()),
            "laws": {name: entries(self.law_summary(name)) for name in self.laws
                     if name not in self.skipped},
            "replicates": self.n_replicates,
            "failed": self.failed,
            "retried": dict(self.retried),
            "skipped": list(self.skipped),
            "seed": self.seed,
            "scheme": self.scheme,
            "criterion": self.criterion,
            "level": self.level,
            "mean_weights": {name: float(w) for name, w in zip(self.laws, mean_w)},
            "size_unit": self.size_unit,
            "seconds": self.seconds,
        }


def bootstrap_replicates(table: GainTable, Y, sizes, *, fit: AveragedFit | None = None,
                         starts: dict | None = None, criterion: str = "aic", laws=None,
                         quiet: bool = False, level: float = 0.95, seed: int | None = None,
                         scheme: str = "data") -> BootstrapResult:
    """Refit every law to each row of ``Y`` (R, n: replicate gains at ``table.size`` with SEs
    ``table.se``), recompute the weights per replicate and model-average (the scaling paper, section 2.5).

    Warm starts come from ``fit`` (the original ``fit_laws`` result) or ``starts`` ({law:
    params}); neither is needed, since each refit also searches a grid (see ``fit_law_batch``).
    """
    t0 = time.perf_counter()
    names = (list(fit.fits) if fit is not None else list(PAPER_LAWS)) if laws is None else list(laws)
    sizes = np.atleast_1d(np.asarray(sizes, float))
    if starts is None and fit is not None:
        starts = {n: fit.fits[n].params for n in names
                  if n in fit.fits and fit.fits[n].converged}
    fits = fit_laws_batch(table.size, Y, table.se, laws=names, starts=starts, y_ref=table.value,
                          quiet=quiet, desc="bootstrap")
    avg = average_batch(fits, sizes, criterion, within=False)
    skipped = [n for n, f in fits.items() if f.status == SKIPPED]
    return BootstrapResult(
        sizes=sizes, laws=tuple(names), predictions=avg.law_mean,
        converged=np.stack([fits[n].converged for n in names], axis=1), weights=avg.weights,
        average=avg.mean, chi2=np.stack([fits[n].chi2 for n in names], axis=1),
        params={n: fits[n].theta for n in names}, seed=seed, scheme=scheme,
        criterion=criterion, level=level, size_unit=table.size_unit, skipped=skipped,
        retried={n: fits[n].n_retried for n in names}, seconds=time.perf_counter() - t0)


def bootstrap(table: GainTable, sizes, n_replicates: int = 1000, seed: int | None = 0,
              criterion: str = "aic", laws=None, quiet: bool = False, *, scheme: str = "data",
              fit: AveragedFit | None = None, level: float = 0.95) -> BootstrapResult:
    """Parametric bootstrap of the scaling paper, section 2.5, at ``sizes`` (table unit).

    Replicate r is y_r = c + σ ⊙ ε_r, ε_r ~ N(0, I) from ``numpy.random.default_rng(seed)``, with
    c the observed gains (``scheme="data"``, the paper's, default) or the model-averaged fitted
    curve at the observed sizes (``scheme="fitted"``). Every law is refitted on every replicate
    (``fit_law_batch``), weights are recomputed per replicate from ``criterion`` (eq. 7) and the
    model average formed per replicate (eq. 8); percentile intervals follow. The same ``seed``
    gives the same replicates and results; the noise is drawn for all replicates at once, so the
    result does not depend on chunking. ``fit`` (the ``fit_laws`` result the CLI already has)
    supplies warm starts and the fitted curve; without it the point fits are made by the same
    batched fitter.
    """
    if scheme not in SCHEMES:
        raise ScalefitError(f"unknown bootstrap scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    if n_replicates < 2:
        raise ScalefitError(f"the bootstrap needs at least 2 replicates, got {n_replicates}")
    if criterion not in ("aic", "aicc", "bic"):
        raise ScalefitError(f"unknown criterion {criterion!r}; choose from aic, aicc, bic")
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_replicates, len(table)))
    starts = None
    if fit is None:  # the point fits, by the same batched fitter (no scipy needed)
        point = fit_laws_batch(table.size, table.value[None, :], table.se, laws=laws,
                               y_ref=table.value)
        starts = {n: f.theta[0] for n, f in point.items() if f.converged[0]}
        if not starts:
            raise ScalefitError(f"{table.source}: no law could be fitted")
        center_fitted = average_batch(point, table.size, criterion, within=False).mean[0]
    else:
        center_fitted = fit.predict(table.size).mean
    center = table.value if scheme == "data" else center_fitted
    Y = center + eps * table.se
    return bootstrap_replicates(table, Y, sizes, fit=fit, starts=starts, criterion=criterion,
                                laws=laws, quiet=quiet, level=level, seed=seed, scheme=scheme)


def _predict(table: GainTable, sizes: np.ndarray, n_boot: int = 1000, seed: int | None = 0):
    boot = bootstrap(table, sizes, n_boot, seed=seed, quiet=True)
    return EmpiricalPredictive(sizes, boot.average, "bootstrap",
                               [f"{n_boot} resamples (data scheme), seed {seed}"])


def _batch(b: ReplicateBatch):
    """Per replicate table: ``b.n_boot`` resamples around its gains (noise from its own
    generator), every law refitted warm-started at the replicate's fit, the AIC-weighted average
    per resample; mean and percentile interval at ``b.level``."""
    r, n = b.Y.shape
    eps = np.stack([rng.standard_normal((b.n_boot, n)) for rng in b.rngs])  # (r, B, n)
    Yb = (b.Y[:, None, :] + eps * b.se).reshape(r * b.n_boot, n)
    boot = {law: fit_law_batch(law, b.sizes, Yb, b.se, np.repeat(f.theta, b.n_boot, axis=0),
                               y_ref=b.y_ref)  # NaN rows (failed fits) start from the grid
            for law, f in b.fits().items()}
    avg = average_batch(boot, b.eval_sizes, "aic", within=False).mean.reshape(r, b.n_boot, -1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: every resample failed
        lo, hi = np.nanquantile(avg, [0.5 - b.level / 2, 0.5 + b.level / 2], axis=1)
        mean = np.nanmean(avg, axis=1)
    return mean, lo, hi


register(Method("bootstrap", _predict, "the paper's parametric bootstrap (1000 resamples, AIC "
                "weights per resample): mean and percentile interval", _batch))
