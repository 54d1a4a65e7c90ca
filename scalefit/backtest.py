"""Leave-future-out backtests, and the registry of prediction methods they (and the synthetic
validation) score.

A *method* is any callable ``method(table, sizes) -> predictive`` that fits a ``GainTable`` and
returns, at ``sizes`` (table unit), an object with ``mean`` (m,) and ``interval(level) -> (lo, hi)``
(each (m,)). ``METHODS`` registers them by name:

=================  ================================================================================
``power``, ...     one law (every name in ``scalefit.laws.LAWS``): its WLS fit, normal interval with
                   the delta-method SD (eq. 6 and the within-model term of eq. 9)
``average``        the paper's recipe: AIC weights (eq. 7), model average (eq. 8), normal interval
                   with the total variance of eq. 9 (within + between); ``paper`` is an alias
``bootstrap``      the paper's parametric bootstrap (section 2.5): mean and percentile interval of
                   the model-averaged prediction over ``n_boot`` resamples (``bootstrap_method``)
``aicc``, ``bic``,  every other method of ``scalefit.predictive.METHODS`` (issue 6): other weights,
``lfo_aicc``, ...  Student-t tails, a leave-future-out model-structure term
=================  ================================================================================

``backtest_curves(curves, methods)`` scores methods on many ``scalefit.curves.Curve`` objects (fit
on each curve's training table, predict its held-out sizes): one row per (curve, method, held-out
point) with the error, the absolute percentage error and whether each nominal interval covers the
truth. ``backtest(table, holdout=K)`` is the single-table case: fit on all but the K largest sizes
and score the held-out ones (leave-future-out). Both return a ``BacktestResult``.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.average import fit_laws, size_key
from scalefit.curves import Curve, holdout_curve
from scalefit.data import GainTable
from scalefit.errors import ScalefitError
from scalefit.executor import run_jobs
from scalefit.fit import fit_law
from scalefit.laws import LAWS
from scalefit.predictive import METHODS as PREDICTIVE_METHODS
from scalefit.predictive import Predictive

LEVELS = (0.68, 0.95)
TWO_SIGMA = float(stats.norm.cdf(2.0) - stats.norm.cdf(-2.0))  # 0.9545: the paper's "2σ"


class PredictiveLike(Protocol):
    sizes: np.ndarray
    mean: np.ndarray

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]: ...


Method = Callable[[GainTable, np.ndarray], PredictiveLike]


@dataclass
class EmpiricalPredictive:
    """A predictive given by draws (R, m), e.g. bootstrap replicates: mean of the draws and
    percentile intervals. ``failed`` counts draws that are not finite (left out)."""

    sizes: np.ndarray
    draws: np.ndarray
    method: str
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.nanmean(np.where(np.isfinite(self.draws), self.draws, np.nan), axis=0)

    @property
    def scale(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.nanstd(np.where(np.isfinite(self.draws), self.draws, np.nan), axis=0, ddof=1)

    @property
    def failed(self) -> int:
        return int(np.sum(~np.all(np.isfinite(self.draws), axis=1)))

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        d = np.where(np.isfinite(self.draws), self.draws, np.nan)
        lo, hi = np.nanquantile(d, [0.5 - level / 2.0, 0.5 + level / 2.0], axis=0)
        return lo, hi

    def to_dict(self) -> dict:
        lo68, hi68 = self.interval(0.68)
        lo95, hi95 = self.interval(0.95)
        return {"method": self.method, "notes": list(self.notes), "draws": len(self.draws),
                "failed": self.failed,
                "predictions": {size_key(s): {"mean": float(m), "sd": float(sd),
                                              "ci68": [float(a), float(b)],
                                              "ci95": [float(c), float(d)]}
                                for s, m, sd, a, b, c, d in zip(self.sizes, self.mean, self.scale,
                                                                lo68, hi68, lo95, hi95)}}


def law_method(name: str) -> Method:
    """One law alone: its WLS fit, normal with the delta-method SD. NaN if the fit fails or the
    table has fewer points than the law has parameters."""
    law = LAWS[name]

    def method(table: GainTable, sizes) -> Predictive:
        sizes = np.atleast_1d(np.asarray(sizes, float))
        fit = fit_law(law, table.size, table.gain, table.se, size_unit=table.size_unit)
        notes = [] if fit.converged else [f"{name} {fit.status}: {fit.message}"]
        return Predictive(sizes, fit.predict(sizes), fit.predict_sd(sizes),
                          np.full(len(sizes), np.inf), name, notes + list(fit.notes))

    method.__name__ = name
    method.__doc__ = f"The {law.label.lower()} law alone ({law.formula}), delta-method normal."
    return method


def average_method(criterion: str = "aic") -> Method:
    """Model average with ``criterion`` weights, normal with eq. 9's total variance."""
    def method(table: GainTable, sizes) -> Predictive:
        fit = fit_laws(table, criterion=criterion)
        pred = fit.predict(sizes)
        return Predictive(pred.sizes, pred.mean, pred.sd, np.full(len(pred.sizes), np.inf),
                          "average" if criterion == "aic" else criterion, list(fit.notes))

    method.__name__ = "average"
    method.__doc__ = f"{criterion.upper()} weights, model average, normal with eq. 9's variance."
    return method


def bootstrap_method(n_boot: int = 1000, seed: int | None = 0, criterion: str = "aic",
                     scheme: str = "data") -> Method:
    """The paper's parametric bootstrap (``scalefit.bootstrap.bootstrap``) as a method: mean and
    percentile interval of the model-averaged prediction over ``n_boot`` resamples."""
    def method(table: GainTable, sizes) -> EmpiricalPredictive:
        from scalefit.bootstrap import bootstrap

        sizes = np.atleast_1d(np.asarray(sizes, float))
        boot = bootstrap(table, sizes, n_boot, seed=seed, criterion=criterion, quiet=True,
                         scheme=scheme)
        return EmpiricalPredictive(sizes, boot.average, "bootstrap",
                                   [f"{n_boot} resamples ({scheme} scheme), seed {seed}"])

    method.__name__ = "bootstrap"
    method.__doc__ = (f"Parametric bootstrap ({n_boot} resamples, {criterion.upper()} weights per "
                      "resample): mean and percentile interval.")
    return method


def _registry() -> dict[str, Method]:
    methods: dict[str, Method] = {name: law_method(name) for name in LAWS}
    methods["average"] = average_method("aic")
    methods["bootstrap"] = bootstrap_method()
    for name, fn in PREDICTIVE_METHODS.items():
        if name != "paper":  # the same as "average"
            methods[name] = fn
    return methods


METHODS: dict[str, Method] = _registry()
ALIASES = {"paper": "average", "model_average": "average", "avg": "average"}
DEFAULT_METHODS = tuple(LAWS) + ("average", "bootstrap", "lfo_aicc")


def resolve_methods(methods) -> dict[str, Method]:
    """Names (``METHODS`` keys or aliases) and/or callables → ``{name: method}`` in order.

    A callable is named by its ``__name__``. Unknown names raise ``ScalefitError``.
    """
    if isinstance(methods, str) or callable(methods):
        methods = [methods]
    out: dict[str, Method] = {}
    for m in methods:
        if callable(m):
            out[getattr(m, "__name__", repr(m))] = m
            continue
        name = ALIASES.get(m, m)
        if name not in METHODS:
            raise ScalefitError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
        out[name] = METHODS[name]
    if not out:
        raise ScalefitError("no method given")
    return out


def level_key(level: float) -> str:
    """0.95 → "95", 0.68 → "68", 0.9545 → "95.45": the suffix of ``lo``/``hi``/``in`` columns."""
    return f"{100.0 * level:.4g}"


def _score_curve(curve: Curve, methods: dict[str, Method], levels: tuple[float, ...]) -> list[dict]:
    rows = []
    top = float(np.max(curve.train.size))
    for name, method in methods.items():
        base = {"curve": curve.name, "group": curve.group, "method": name}
        try:
            pred = method(curve.train, np.asarray(curve.test_size, float))
            intervals = [pred.interval(level) for level in levels]
        except ScalefitError as err:
            rows.append({**base, "failed": str(err)})
            continue
        for j, (size, truth) in enumerate(zip(curve.test_size, curve.test_value)):
            mean = float(pred.mean[j])
            row = {**base, "size": float(size), "distance": float(np.log(size / top)),
                   "truth": float(truth), "mean": mean,
                   "failed": "" if np.isfinite(mean) else "no prediction (fit failed or skipped)"}
            for level, (lo, hi) in zip(levels, intervals):
                row[f"lo{level_key(level)}"] = float(lo[j])
                row[f"hi{level_key(level)}"] = float(hi[j])
            rows.append(row)
    return rows


@dataclass
class BacktestResult:
    """Scores of prediction methods on held-out points.

    ``points``: one row per (curve, method, held-out point) with ``curve``, ``group``, ``method``,
    ``size`` (table unit), ``distance`` = ln(size / largest training size), ``truth``, ``mean``,
    ``error`` = truth − mean, ``ape`` = 100 |error| / |truth|, and per nominal level L in
    ``levels`` the interval ``loL``/``hiL`` and ``inL`` (covers the truth); ``failed`` is "" or why
    the method gave no prediction (those rows are left out of the summary, and counted).
    """

    points: pd.DataFrame
    levels: tuple[float, ...]
    methods: tuple[str, ...]
    curves: int
    holdout: int | None = None
    notes: list[str] = field(default_factory=list)

    def ok(self) -> pd.DataFrame:
        return self.points[self.points["failed"] == ""]

    def summary(self) -> pd.DataFrame:
        """Per method: points, curves, failed, bias (mean error), MAE, MAPE, median APE, RMSE and,
        per level, the observed coverage and its binomial SE (coverage is per point)."""
        ok = self.ok()
        rows = []
        for method in self.methods:
            sub = ok[ok["method"] == method]
            failed = int((self.points["method"] == method).sum() - len(sub))
            row = {"method": method, "points": len(sub), "curves": sub["curve"].nunique(),
                   "failed": failed}
            if len(sub):
                row.update(bias=sub["error"].mean(), mae=sub["error"].abs().mean(),
                           mape=sub["ape"].mean(), median_ape=sub["ape"].median(),
                           rmse=float(np.sqrt(np.mean(sub["error"] ** 2))))
                for level in self.levels:
                    cov = sub[f"in{level_key(level)}"].mean()
                    row[f"coverage{level_key(level)}"] = cov
                    row[f"coverage{level_key(level)}_se"] = float(
                        np.sqrt(level * (1 - level) / len(sub)))
            rows.append(row)
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        return self.points.copy()

    def to_dict(self) -> dict:
        summary = self.summary().set_index("method")
        return {
            "levels": list(self.levels), "methods": list(self.methods), "curves": self.curves,
            "holdout": self.holdout, "notes": list(self.notes),
            "summary": {m: {k: (None if pd.isna(v) else v) for k, v in summary.loc[m].items()}
                        for m in summary.index},
            "points": [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                        for k, v in r.items()} for r in self.points.to_dict("records")],
        }


def backtest_curves(curves: Iterable[Curve], methods=DEFAULT_METHODS, *,
                    levels: Iterable[float] = LEVELS, executor: Executor | None = None,
                    quiet: bool = True, holdout: int | None = None) -> BacktestResult:
    """Score ``methods`` (names or callables, see ``METHODS``) on every curve.

    Each curve is one job (through ``executor`` when given: a process pool or Dask from
    ``scalefit.executor.make_executor``; callables must then be picklable module-level functions).
    """
    curves = list(curves)
    resolved = resolve_methods(methods)
    levels = tuple(float(v) for v in levels)
    given = [methods] if isinstance(methods, str) or callable(methods) else list(methods)
    if all(isinstance(m, str) for m in given):  # names cross process boundaries as names
        jobs = [(c, tuple(resolved), levels) for c in curves]
        fn = _score_curve_named
    else:
        jobs = [(c, resolved, levels) for c in curves]
        fn = _score_curve
    results = run_jobs(fn, jobs, executor=executor, desc="backtest", quiet=quiet, unit="curve")
    rows = [row for rows in results for row in rows]
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise ScalefitError("no curve to backtest")
    for level in levels:
        lo, hi = f"lo{level_key(level)}", f"hi{level_key(level)}"
        if lo not in frame:
            frame[lo] = np.nan
            frame[hi] = np.nan
    for col in ("size", "distance", "truth", "mean"):
        if col not in frame:
            frame[col] = np.nan
    frame["error"] = frame["truth"] - frame["mean"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ape"] = 100.0 * np.abs(frame["error"]) / np.abs(frame["truth"])
    for level in levels:
        key = level_key(level)
        frame[f"in{key}"] = (frame["truth"] >= frame[f"lo{key}"]) & (frame["truth"] <= frame[f"hi{key}"])
    first = ["curve", "group", "method", "size", "distance", "truth", "mean", "error", "ape"]
    rest = [c for c in frame.columns if c not in first and c != "failed"]
    frame = frame[first + rest + ["failed"]]
    return BacktestResult(frame, levels, tuple(resolved), len(curves), holdout)


def _score_curve_named(curve: Curve, names: tuple[str, ...], levels) -> list[dict]:
    """``_score_curve`` with methods given by registry name (what crosses process boundaries)."""
    return _score_curve(curve, resolve_methods(names), levels)


def backtest(table: GainTable, holdout: int = 1, methods=DEFAULT_METHODS, *,
             levels: Iterable[float] = LEVELS, name: str = "") -> BacktestResult:
    """Leave-future-out on one table: fit on all but the ``holdout`` largest distinct sizes and
    score the held-out ones (every row at those sizes, e.g. every benchmark of a pooled table)."""
    curve = holdout_curve(table, holdout, name=name or table.source)
    result = backtest_curves([curve], methods, levels=levels, holdout=holdout)
    result.notes.append(f"fitted on {len(curve.train)} points (sizes ≤ "
                        f"{curve.train.size.max():g} {table.size_unit}); scored on "
                        f"{len(curve.test_size)} held-out point(s)")
    return result


def backtest_tables(tables: dict[str, GainTable], holdout: int = 1, methods=DEFAULT_METHODS, *,
                    levels: Iterable[float] = LEVELS, executor: Executor | None = None,
                    quiet: bool = True) -> BacktestResult:
    """``backtest`` over several tables at once (e.g. one per benchmark), one curve each."""
    curves = [holdout_curve(t, holdout, name=label) for label, t in tables.items()]
    return backtest_curves(curves, methods, levels=levels, executor=executor, quiet=quiet,
                           holdout=holdout)
