"""The one scoring engine: predictive methods on held-out points of many curves.

``score_curves(curves, methods)`` fits every curve's training table with each method, predicts its
held-out sizes, and returns one row per (curve, method, held-out point): the prediction, its
intervals at each nominal level, the location-scale parameters where the predictive has them and
the probability integral transform (PIT) of the truth. The leave-future-out backtest
(``scalefit.studies.backtest``), the calibration study (``benchmarks/bench_calibration.py``) and
``scalefit backtest --curves`` all score through it.

``summarise`` turns those rows into the calibration table: observed coverage of nominal 68% and
95% intervals, MAPE, median APE, RMSLE, median relative width and the mean interval score
(Gneiting & Raftery 2007: width plus 2/α times the miss, lower is better), per method. Coverage is
reported per point and as the mean over curves, so a curve with many held-out points does not
dominate. ``coverage_curve`` is observed against nominal coverage at many levels, from the PIT.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.errors import ScalefitError
from scalefit.executor import run_jobs
from scalefit.methods import labelled_methods, method_list
from scalefit.studies.curves import Curve

LEVELS = (0.68, 0.95)
TWO_SIGMA = float(stats.norm.cdf(2.0) - stats.norm.cdf(-2.0))  # 0.9545: the paper's "2σ"


def level_key(level: float) -> str:
    """0.95 → "95", 0.68 → "68", 0.9545 → "95.45": the suffix of ``lo``/``hi``/``in`` columns."""
    return f"{100.0 * level:.4g}"


def with_reference(methods, reference: str = "persistence") -> list:
    """``methods`` and ``reference`` (persistence: what every skill is measured against)."""
    methods = list(methods)
    return methods + ([] if reference in methods else [reference])


def score_curve(curve: Curve, methods: dict, levels: tuple[float, ...]) -> list[dict]:
    """Rows for one curve: every method fitted on ``curve.train``, scored at its held-out sizes."""
    rows = []
    top = float(np.max(curve.train.size))
    sizes = np.asarray(curve.test_size, float)
    for label, method in methods.items():
        base = {"curve": curve.name, "group": curve.group, "method": label}
        try:
            pred = method(curve.train, sizes)
            intervals = [pred.interval(level) for level in levels]
            pit = pred.cdf(curve.test_value)
        except ScalefitError as err:
            rows.append({**base, "failed": str(err)})
            continue
        scale = np.broadcast_to(getattr(pred, "scale", np.nan), sizes.shape)
        df = np.broadcast_to(getattr(pred, "df", np.nan), sizes.shape)
        lo_r, hi_r = curve.train.value_range
        tight = (np.full((2, len(sizes)), np.nan) if curve.truth_range is None
                 else np.asarray(curve.truth_range, float))
        for j, (size, truth) in enumerate(zip(sizes, curve.test_value)):
            mean = float(pred.mean[j])
            row = {**base, "size": float(size), "distance": float(np.log(size / top)),
                   "truth": float(truth), "mean": mean, "scale": float(scale[j]),
                   "df": float(df[j]), "pit": float(pit[j]), "range_lo": lo_r,
                   "range_hi": hi_r, "truth_lo": tight[0, j], "truth_hi": tight[1, j],
                   "failed": "" if np.isfinite(mean) else "no prediction (fit failed or skipped)"}
            for level, (lo, hi) in zip(levels, intervals):
                row[f"lo{level_key(level)}"] = float(lo[j])
                row[f"hi{level_key(level)}"] = float(hi[j])
            rows.append(row)
    return rows


def _score_curve_named(curve: Curve, names: tuple[str, ...], levels) -> list[dict]:
    """``score_curve`` with methods given by registry name (what crosses process boundaries)."""
    return score_curve(curve, labelled_methods(names), levels)


def score_curves(curves: Iterable[Curve], methods, *, levels: Iterable[float] = LEVELS,
                 executor: Executor | None = None, quiet: bool = True) -> pd.DataFrame:
    """One row per (curve, method, held-out point), with the prediction and its intervals.

    ``methods`` are registry names (``scalefit.methods.METHODS`` or aliases) and/or callables
    ``(table, sizes) -> predictive``. Each curve is one job, through ``executor`` when given (a
    process pool or Dask from ``scalefit.executor.make_executor``; callables must then be
    picklable module-level functions). Columns: ``curve``, ``group``, ``method``, ``size``,
    ``distance`` = ln(size / largest training size), ``truth``, ``mean``, ``scale``/``df`` (NaN for
    predictives made of draws), ``pit``, ``loL``/``hiL`` per level, ``failed`` ("" or why not).
    """
    curves = list(curves)
    given = method_list(methods)
    labelled = labelled_methods(given)
    levels = tuple(float(v) for v in levels)
    if all(isinstance(m, str) for m in given):  # names cross process boundaries as names
        jobs, fn = [(c, tuple(labelled), levels) for c in curves], _score_curve_named
    else:
        jobs, fn = [(c, labelled, levels) for c in curves], score_curve
    results = run_jobs(fn, jobs, executor=executor, desc="backtest", quiet=quiet, unit="curve")
    frame = pd.DataFrame([row for rows in results for row in rows])
    if frame.empty:
        raise ScalefitError("no curve to score")
    cols = ["size", "distance", "truth", "mean", "scale", "df", "pit", "range_lo", "range_hi",
            "truth_lo", "truth_hi"]
    cols += [f"{side}{level_key(v)}" for v in levels for side in ("lo", "hi")]
    for col in cols:
        if col not in frame:
            frame[col] = np.nan
    return frame[["curve", "group", "method"] + cols + ["failed"]]


def interval_score(lo, hi, truth, level: float):
    """The interval score of a central ``level`` interval (Gneiting & Raftery 2007, eq. 43):
    (hi − lo) + (2/α)(lo − y)₊ + (2/α)(y − hi)₊, α = 1 − level; lower is better."""
    alpha = 1.0 - level
    return ((hi - lo) + 2 / alpha * np.maximum(lo - truth, 0)
            + 2 / alpha * np.maximum(truth - hi, 0))


def coverage_curve(scores: pd.DataFrame, levels=(0.5, 0.68, 0.8, 0.9, 0.95, 0.99)) -> pd.DataFrame:
    """Observed coverage of central intervals at each nominal level, per method (rows)."""
    ok = scores[scores["failed"] == ""]
    pit = (ok["pit"] if "pit" in ok else  # rows from elsewhere: the PIT of their Student-t
           pd.Series(stats.t.cdf(ok["truth"], ok["df"], ok["mean"], ok["scale"]), ok.index))
    central = np.abs(2.0 * pit - 1.0)  # the smallest central level whose interval holds the truth
    return pd.DataFrame({level: (central <= level).groupby(ok["method"], sort=False).mean()
                         for level in levels})


def weighted_quantile(values, weights, q: float) -> float:
    """The ``q`` quantile of ``values`` with ``weights``: linear interpolation of the sorted
    values at their mid-point cumulative weights, so equal weights give ``np.quantile``'s median
    (the mean of the two middle values of an even count)."""
    values, weights = np.asarray(values, float), np.asarray(weights, float)
    keep = np.isfinite(values) & (weights > 0)
    if not keep.any():
        return np.nan
    order = np.argsort(values[keep], kind="stable")
    v, w = values[keep][order], weights[keep][order]
    cum = (np.cumsum(w) - w / 2.0) / w.sum()
    return float(np.interp(q, cum, v))


def pool_corpora(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Score rows of several corpora as one frame in which every corpus weighs the same: a
    ``corpus`` column, curves renamed ``corpus: curve``, and a ``weight`` column of 1/(the
    method's rows in that corpus), which ``summarise`` honours. (One corpus of 199 correlated
    curves then counts as much as one of four.)"""
    parts = []
    for name, frame in frames.items():
        part = frame.assign(corpus=name, curve=name + ": " + frame["curve"].astype(str))
        part["weight"] = 1.0 / part.groupby("method")["method"].transform("size")
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def summarise(scores: pd.DataFrame, reference: str = "persistence", relative: bool = False,
              levels=LEVELS) -> pd.DataFrame:
    """Per method: coverage of the central intervals at each of ``levels`` (per point and per
    curve: ``coverageL``, ``coverageL_per_curve``), MAPE, median APE, RMSLE; for the widest
    level W, the median width relative to |truth| and the mean interval score relative to
    |truth|; and, in the data's units, the median absolute error, the median W width
    (``median_widthW``), the mean W interval score (``interval_scoreW_abs``), and the number of
    points or interval bounds outside the possible range (``outside_range``;
    ``outside_truth_range`` against the tighter range at the held-out size where the curve gives
    one). With the default levels, W = 95.

    Skill against ``reference`` (default persistence, when it was scored on the same points):
    ``skill`` = median |error| / the reference's median |error| (pooled over points; < 1 beats
    it), ``skill_mean`` the same with means, ``skill_per_curve`` the median over curves of the
    ratio of mean |error|. ``relative``: errors in % of |truth| for the skill and
    ``median_abs_error`` (for curves of different scales, e.g. losses).

    A ``weight`` column (``pool_corpora``) makes every mean, median, coverage and skill a
    weighted one; per-curve statistics stay per curve.
    """
    keys = [level_key(v) for v in levels]
    wide, wide_key = max(levels), level_key(max(levels))
    ok = scores[scores["failed"] == ""].copy()
    if "weight" not in ok:
        ok["weight"] = 1.0
    err = ok["truth"] - ok["mean"]
    ok["ape"] = 100.0 * np.abs(err) / np.abs(ok["truth"])
    ok["abs_error"] = ok["ape"] if relative else np.abs(err)
    for k in keys:
        ok[f"in{k}"] = (ok["truth"] >= ok[f"lo{k}"]) & (ok["truth"] <= ok[f"hi{k}"])
    positive = (ok["mean"] > 0) & (ok["truth"] > 0)
    ok["sqlog"] = np.where(positive, np.log(ok["mean"].where(positive, 1.0) /
                                            ok["truth"].where(positive, 1.0)) ** 2, np.nan)
    ok["width"] = ok[f"hi{wide_key}"] - ok[f"lo{wide_key}"]
    ok["rel_width"] = ok["width"] / np.abs(ok["truth"])
    ok["iscore_abs"] = interval_score(ok[f"lo{wide_key}"], ok[f"hi{wide_key}"], ok["truth"], wide)
    ok["iscore"] = ok["iscore_abs"] / np.abs(ok["truth"])
    values = ok[["mean"] + [f"{side}{k}" for k in keys for side in ("lo", "hi")]].to_numpy()
    for name, lo, hi in (("outside", "range_lo", "range_hi"), ("outside_t", "truth_lo", "truth_hi")):
        if lo in ok:
            below = values < ok[[lo]].to_numpy() - 1e-9
            above = values > ok[[hi]].to_numpy() + 1e-9
            ok[name] = np.sum(below | above, axis=1)
        else:
            ok[name] = 0
    rows = {}
    for method, sub in ok.groupby("method", sort=False):
        w = sub["weight"].to_numpy(float)

        def mean(col):
            v = sub[col].to_numpy(float)
            good = np.isfinite(v)
            return float(np.sum(w[good] * v[good]) / np.sum(w[good])) if good.any() else np.nan

        def median(col):
            return weighted_quantile(sub[col], w, 0.5)

        rmsle = mean("sqlog")
        rows[method] = {
            "points": len(sub), "curves": sub["curve"].nunique(),
            **{f"coverage{k}": mean(f"in{k}") for k in keys},
            "mape": mean("ape"), "median_ape": median("ape"),
            "rmsle": float(np.sqrt(rmsle)) if np.isfinite(rmsle) else np.nan,
            f"median_rel_width{wide_key}": median("rel_width"),
            f"interval_score{wide_key}": mean("iscore"),
            "median_abs_error": median("abs_error"), f"median_width{wide_key}": median("width"),
            f"interval_score{wide_key}_abs": mean("iscore_abs"),
            "outside_range": int(sub["outside"].sum()),
            "outside_truth_range": int(sub["outside_t"].sum())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    covered = [f"in{k}" for k in keys]
    per_curve = ok.groupby(["method", "curve"])[covered].mean().groupby("method").mean()
    for k in keys:
        table[f"coverage{k}_per_curve"] = per_curve[f"in{k}"]
    table = table.join(_skill(ok, reference))
    failed = scores[scores["failed"] != ""].groupby("method").size()
    table["failed_curves"] = failed.reindex(table.index).fillna(0).astype(int)
    order = [m for m in scores["method"].drop_duplicates() if m in table.index]
    return table.loc[order].reset_index()


def _skill(ok: pd.DataFrame, reference: str) -> pd.DataFrame:
    """skill, skill_mean and skill_per_curve of every method against ``reference`` on the points
    both predicted (NaN when the reference was not scored); weighted by ``weight``."""
    cols = ["skill", "skill_mean", "skill_per_curve"]
    ref = ok[ok["method"] == reference].set_index(["curve", "size"])["abs_error"]
    if ref.empty:
        return pd.DataFrame(columns=cols, dtype=float)
    rows = {}
    for method, sub in ok.groupby("method"):
        both = sub.set_index(["curve", "size"])[["abs_error", "weight"]].rename(
            columns={"abs_error": "m"}).join(ref.rename("r"), how="inner").dropna()
        by_curve = both.groupby(level="curve")[["m", "r"]].mean()
        w = both["weight"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (by_curve["m"] / by_curve["r"]).replace([np.inf, -np.inf], np.nan)
            rows[method] = [np.float64(weighted_quantile(both["m"], w, 0.5))
                            / weighted_quantile(both["r"], w, 0.5),
                            np.sum(w * both["m"]) / np.sum(w * both["r"]), ratio.median()]
    return pd.DataFrame.from_dict(rows, orient="index", columns=cols)
