"""Score predictive methods on many curves: do their intervals hold, how far are their means?

``score_curves(curves, methods)`` fits every curve's training table with each method, predicts its
held-out sizes, and returns one row per (curve, method, held-out point). ``summarise`` turns those
rows into the calibration table: observed coverage of nominal 68% and 95% intervals, MAPE, median
APE, RMSLE, median relative width and the mean interval score (Gneiting & Raftery 2007: width
plus 2/α times the miss, lower is better), per method. Coverage is reported per point and as the
mean over curves, so a curve with many held-out points does not dominate.
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.curves import Curve
from scalefit.errors import ScalefitError
from scalefit.predictive import METHODS, predictive
from scalefit.progress import progress


def _score_one(curve: Curve, methods: tuple[str, ...]) -> list[dict]:
    rows = []
    for method in methods:
        try:
            pred = predictive(curve.train, curve.test_size, method)
        except ScalefitError as err:
            rows.append({"curve": curve.name, "group": curve.group, "method": method,
                         "failed": str(err)})
            continue
        lo68, hi68 = pred.interval(0.68)
        lo95, hi95 = pred.interval(0.95)
        for j, (size, truth) in enumerate(zip(curve.test_size, curve.test_value)):
            rows.append({"curve": curve.name, "group": curve.group, "method": method,
                         "size": size, "distance": np.log(size / curve.train.size.max()),
                         "truth": truth, "mean": pred.mean[j], "scale": pred.scale[j],
                         "df": pred.df[j], "lo68": lo68[j], "hi68": hi68[j],
                         "lo95": lo95[j], "hi95": hi95[j], "failed": ""})
    return rows


def score_curves(curves: list[Curve], methods=tuple(METHODS), *, executor: Executor | None = None,
                 quiet: bool = False) -> pd.DataFrame:
    """One row per (curve, method, held-out point), with the prediction and its intervals."""
    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ScalefitError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    if executor is None:
        results = [_score_one(c, methods) for c in progress(curves, desc="backtest", quiet=quiet,
                                                            unit="curve")]
    else:
        futures = [executor.submit(_score_one, c, methods) for c in curves]
        results = [f.result() for f in progress(futures, desc="backtest", quiet=quiet,
                                                unit="curve")]
    return pd.DataFrame([row for rows in results for row in rows])


def coverage_curve(scores: pd.DataFrame, levels=(0.5, 0.68, 0.8, 0.9, 0.95, 0.99)) -> pd.DataFrame:
    """Observed coverage of central intervals at each nominal level, per method (rows)."""
    ok = scores[scores["failed"] == ""]
    z = np.abs(ok["truth"] - ok["mean"]) / ok["scale"]
    out = {}
    for level in levels:
        q = stats.t.ppf(0.5 + level / 2.0, ok["df"])
        out[level] = (z <= q).groupby(ok["method"], sort=False).mean()
    return pd.DataFrame(out)


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Per method: coverage of the 68% and 95% intervals (per point and per curve), MAPE, median
    APE, RMSLE, median width of the 95% interval relative to |truth|, mean 95% interval score."""
    ok = scores[scores["failed"] == ""].copy()
    err = ok["truth"] - ok["mean"]
    ok["ape"] = 100.0 * np.abs(err) / np.abs(ok["truth"])
    ok["in68"] = (ok["truth"] >= ok["lo68"]) & (ok["truth"] <= ok["hi68"])
    ok["in95"] = (ok["truth"] >= ok["lo95"]) & (ok["truth"] <= ok["hi95"])
    positive = (ok["mean"] > 0) & (ok["truth"] > 0)
    ok["sqlog"] = np.where(positive, np.log(ok["mean"].where(positive, 1.0) /
                                            ok["truth"].where(positive, 1.0)) ** 2, np.nan)
    ok["rel_width95"] = (ok["hi95"] - ok["lo95"]) / np.abs(ok["truth"])
    alpha = 0.05
    ok["iscore95"] = ((ok["hi95"] - ok["lo95"])
                      + 2 / alpha * np.maximum(ok["lo95"] - ok["truth"], 0)
                      + 2 / alpha * np.maximum(ok["truth"] - ok["hi95"], 0)) / np.abs(ok["truth"])
    per_curve = ok.groupby(["method", "curve"])[["in68", "in95"]].mean().groupby("method").mean()
    table = ok.groupby("method").agg(
        points=("truth", "size"), curves=("curve", "nunique"),
        coverage68=("in68", "mean"), coverage95=("in95", "mean"),
        mape=("ape", "mean"), median_ape=("ape", "median"),
        rmsle=("sqlog", lambda s: float(np.sqrt(np.nanmean(s))) if s.notna().any() else np.nan),
        median_rel_width95=("rel_width95", "median"), interval_score95=("iscore95", "mean"))
    table["coverage68_per_curve"] = per_curve["in68"]
    table["coverage95_per_curve"] = per_curve["in95"]
    failed = scores[scores["failed"] != ""].groupby("method").size()
    table["failed_curves"] = failed.reindex(table.index).fillna(0).astype(int)
    order = [m for m in scores["method"].drop_duplicates() if m in table.index]
    return table.loc[order].reset_index()
