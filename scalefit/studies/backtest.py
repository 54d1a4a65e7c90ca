"""Leave-future-out backtests: fit on the smaller sizes, score the larger ones.

``backtest_curves(curves, methods)`` scores registered methods (``scalefit.methods.METHODS``:
every law alone, the paper's recipe ``average``/``paper``, its ``bootstrap``, and the calibrated
methods) or any callables ``(table, sizes) -> predictive`` on many ``scalefit.studies.curves.Curve``
objects (fit on each curve's training table, predict its held-out sizes), through the one scoring
engine ``scalefit.studies.scoring.score_curves``: one row per (curve, method, held-out point) with
the error, the absolute percentage error and whether each nominal interval covers the truth.
``backtest(table, holdout=K)`` is the single-table case: fit on all but the K largest sizes and
score the held-out ones. Both return a ``BacktestResult``.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from scalefit.core.laws import PAPER_LAWS
from scalefit.data import GainTable
from scalefit.methods import labelled_methods, method_list
from scalefit.methods.lfo import lfo_splits
from scalefit.studies.curves import Curve, holdout_curve
from scalefit.studies.scoring import LEVELS, level_key, score_curves, summarise, with_reference

BACKTEST_METHODS = tuple(PAPER_LAWS) + ("average", "bootstrap", "lfo_aicc", "persistence",
                                       "loglinear_last2", "loglinear_wls", "damped_trend")


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
    reference: pd.DataFrame | None = None  # persistence's rows, when it was not asked for

    def ok(self) -> pd.DataFrame:
        return self.points[self.points["failed"] == ""]

    def summary(self) -> pd.DataFrame:
        """Per method: points, curves, failed, bias (mean error), MAE, MAPE, median APE, RMSE and,
        per level, the observed coverage and its binomial SE (coverage is per point); and, from
        ``scalefit.studies.scoring.summarise``, the skill against persistence (when it was
        scored), the median absolute error, the median 95% width and the mean interval score."""
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
        frame = pd.DataFrame(rows)
        wide = level_key(max(self.levels))
        extra = ["skill", "skill_per_curve", "median_abs_error", f"median_width{wide}",
                 f"interval_score{wide}_abs", "outside_range"]
        if not self.ok().empty:
            more = summarise(pd.concat([self.points, self.reference], ignore_index=True)
                             if self.reference is not None else self.points,
                             levels=self.levels).set_index("method")
            frame = frame.join(more[[c for c in extra if c in more]], on="method")
        return frame

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


def backtest_curves(curves: Iterable[Curve], methods=BACKTEST_METHODS, *,
                    levels: Iterable[float] = LEVELS, executor: Executor | None = None,
                    quiet: bool = True, holdout: int | None = None) -> BacktestResult:
    """Score ``methods`` (names or callables, see ``scalefit.methods.METHODS``) on every curve."""
    curves = list(curves)
    levels = tuple(float(v) for v in levels)
    given = method_list(methods)
    labels = tuple(labelled_methods(given))
    # persistence, the reference of the skill, is scored in the same pass; kept apart if not asked
    scored = score_curves(curves, with_reference(given), levels=levels, executor=executor,
                          quiet=quiet)
    asked = scored["method"].isin(labels)
    reference = None if "persistence" in labels else scored[~asked].reset_index(drop=True)
    frame = scored[asked].reset_index(drop=True)
    frame["error"] = frame["truth"] - frame["mean"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ape"] = 100.0 * np.abs(frame["error"]) / np.abs(frame["truth"])
    for level in levels:
        key = level_key(level)
        frame[f"in{key}"] = (frame["truth"] >= frame[f"lo{key}"]) & (frame["truth"] <= frame[f"hi{key}"])
    first = ["curve", "group", "method", "size", "distance", "truth", "mean", "error", "ape"]
    rest = [c for c in frame.columns if c not in first and c != "failed"]
    frame = frame[first + rest + ["failed"]]
    return BacktestResult(frame, levels, labels, len(curves), holdout, reference=reference)


def backtest(table: GainTable, holdout: int = 1, methods=BACKTEST_METHODS, *,
             levels: Iterable[float] = LEVELS, name: str = "") -> BacktestResult:
    """Leave-future-out on one table: fit on all but the ``holdout`` largest distinct sizes and
    score the held-out ones (every row at those sizes, e.g. every benchmark of a pooled table)."""
    curve = holdout_curve(table, holdout, name=name or table.source)
    result = backtest_curves([curve], methods, levels=levels, holdout=holdout)
    result.notes.append(f"fitted on {len(curve.train)} points (sizes ≤ "
                        f"{curve.train.size.max():g} {table.size_unit}); scored on "
                        f"{len(curve.test_size)} held-out point(s)")
    return result


def backtest_tables(tables: dict[str, GainTable], holdout: int = 1, methods=BACKTEST_METHODS, *,
                    levels: Iterable[float] = LEVELS, executor: Executor | None = None,
                    quiet: bool = True) -> BacktestResult:
    """``backtest`` over several tables at once (e.g. one per benchmark), one curve each."""
    curves = [holdout_curve(t, holdout, name=label) for label, t in tables.items()]
    return backtest_curves(curves, methods, levels=levels, executor=executor, quiet=quiet,
                           holdout=holdout)


@dataclass
class LFOSkill:
    """Leave-future-out absolute errors on one table, per method, and persistence's on the same
    points (``lfo_skill``)."""

    methods: tuple[str, ...]
    reference: str
    median_abs_error: dict[str, float]
    origins: int
    errors: int

    def skill(self, method: str) -> float:
        """Median |error| ÷ the reference's (inf where the reference was exact and the method
        was not, NaN where both were)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(self.median_abs_error[method])
                         / self.median_abs_error[self.reference])

    def to_dict(self) -> dict:
        return {"reference": self.reference, "origins": self.origins, "errors": self.errors,
                "median_abs_error": dict(self.median_abs_error),
                "skill": {m: (s if np.isfinite(s) else None)
                          for m, s in ((m, self.skill(m)) for m in self.methods)}}


def lfo_skill(table: GainTable, methods=("damped_trend", "average"), reference="persistence",
              min_train: int = 3) -> LFOSkill | None:
    """Did the methods out-predict ``reference`` on this very table? At every leave-future-out
    split with at least ``min_train`` training sizes (``scalefit.methods.lfo.lfo_splits``) the
    absolute errors of each method and of the reference; None when the table has too few sizes."""
    splits = list(lfo_splits(table.size, min_train))
    if not splits:
        return None
    names = tuple(methods) + (reference,)
    curves = [Curve(f"origin {top:g}", table.take(train), table.size[future], table.value[future])
              for train, future, top in splits]
    frame = score_curves(curves, names)
    frame = frame[frame["failed"] == ""]
    errors = (frame["truth"] - frame["mean"]).abs().groupby(frame["method"]).median()
    return LFOSkill(tuple(methods), reference, {m: float(errors.get(m, np.nan)) for m in names},
                    len(curves), int((frame["method"] == reference).sum()))
