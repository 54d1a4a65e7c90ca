"""Skill and calibration on real scaling data: every method × every corpus, in one run.

Corpora (``scalefit.studies.curves.CORPORA``), read from ../shared/data/external (or --external
DIR; nothing is copied): ObsScaling accuracies of LLM families (fit on ≤ 8B, predict larger), the
92 learning curves of Alabdulmohsin et al. (fit on their Training == 1 rows, predict the rest),
and six corpora of gains of a method over its baseline (chain-of-thought, Gemma IT − PT, Qwen1.5
chat − base, Qwen2 instruct − base, BLOOMZ − BLOOM, ObsScaling's prompting techniques; fit on
≤ 8B, or on all but the largest size where fewer than three sizes are ≤ 8B). Every registered
method is scored, and ``damped_trend`` also with the constants fitted without the corpus it is
scored on ("damped_trend (LOCO)", from benchmarks/damped_constants.csv): its published numbers;
and with the constants it had before they depended on the kind of quantity ("damped_trend
(previous)"), the reference of the improvement.

Per corpus, and pooled per kind of quantity (accuracy, loss, gain) with every corpus weighing the
same (``scalefit.studies.scoring.pool_corpora``: BLOOMZ's 199 correlated curves count as much as
Qwen2's four), it prints: skill against persistence (median |error| ÷ persistence's; < 1 beats
it), median absolute error (pp; % of the truth for the learning curves), coverage of the 68% and
95% intervals, median 95% width, the mean 95% interval score (Gneiting & Raftery 2007) and the
number of points or bounds outside the possible range. Writes per-corpus scores and summaries,
the pooled summaries, the calibration plot and the skill figure to --out.

    python benchmarks/bench_calibration.py --out runs/calibration      # ~10 min on 2 cores
    python benchmarks/bench_calibration.py --data cot,bloomz --methods persistence,damped_trend
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from scalefit.io import atomic_write_csv
from scalefit.methods import METHODS
from scalefit.methods.damped import TrendPrior, damped_method
from scalefit.report.figures import save_figure
from scalefit.report.figures_analyses import figure_calibration, figure_skill
from scalefit.studies.curves import CORPORA, CURVE_SETS, DEFAULT_EXTERNAL, external_curves
from scalefit.studies.scoring import (coverage_curve, pool_corpora, score_curves, summarise,
                                      with_reference)

CONSTANTS = Path(__file__).with_name("damped_constants.csv")
LOCO = "damped_trend (LOCO)"
PREVIOUS = "damped_trend (previous)"
# The constants the default shipped with before they depended on the kind of quantity: one
# trend (φ = 0.6, λ = 0.25) for everything, a logit prior for accuracies and gains alike.
PREVIOUS_PRIORS = {"gain": TrendPrior(0.6, 0.0, 0.25, 0.152, 20.0),
                   "accuracy": TrendPrior(0.6, 0.0, 0.25, 0.152, 20.0),
                   "loss": TrendPrior(0.6, 0.0, 0.25, 0.0119, float("inf"))}
COLUMNS = ["method", "points", "skill", "median_abs_error", "coverage68", "coverage95",
           "median_width95", "interval_score95_abs", "outside_range", "outside_truth_range"]


def loco_method(corpus: str):
    """``damped_trend`` with, for every kind, the constants fitted without ``corpus`` (its own
    fold where the corpus is of that kind, else the fold fitted on every corpus)."""
    if not CONSTANTS.exists():
        return None
    table = pd.read_csv(CONSTANTS)
    priors = {}
    for kind, rows in table.groupby("kind"):
        rows = rows.set_index("fold")
        row = rows.loc[f"without {corpus}"] if f"without {corpus}" in rows.index else rows.loc["all"]
        priors[kind] = TrendPrior(row["phi"], row["phi_sd"], row["lam"], row["tau0"], row["nu0"])
    return damped_method(priors, name=LOCO)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=",".join(CURVE_SETS),
                    help=f"comma-separated corpora (default {','.join(CURVE_SETS)})")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="comma-separated registered methods (default: all)")
    ap.add_argument("--external", type=Path, default=DEFAULT_EXTERNAL)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/calibration"))
    args = ap.parse_args(argv)
    if not args.external.exists():
        print(f"external data not found at {args.external}", file=sys.stderr)
        return 2
    methods = with_reference(m for m in args.methods.split(",") if m)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    fmt = {"float_format": lambda v: f"{v:.3g}", "index": False}
    coverage, summaries, scored = {}, {}, {}
    with ProcessPoolExecutor(args.workers) as pool:
        for name in [n for n in args.data.split(",") if n]:
            start = time.perf_counter()
            corpus = CORPORA[name]
            curves = external_curves(name, args.external)
            scores = score_curves(curves, methods, executor=pool)
            extra = [m for m in (loco_method(name), damped_method(PREVIOUS_PRIORS, PREVIOUS))
                     if m is not None]
            scores = pd.concat([scores, score_curves(curves, extra, executor=pool)],
                               ignore_index=True)
            table = summarise(scores, relative=corpus.relative)
            scored[name], coverage[name], summaries[name] = scores, coverage_curve(scores), table
            atomic_write_csv(args.out / f"{name}_scores.csv", scores)
            atomic_write_csv(args.out / f"{name}_summary.csv", table)
            unit = "% of truth" if corpus.relative else "pp"
            print(f"\n== {name} ({corpus.kind}): {corpus.title}; {len(curves)} curves, "
                  f"{int(table['points'].max())} held-out points; errors in {unit}; "
                  f"{time.perf_counter() - start:.0f} s")
            print(table[COLUMNS].to_string(**fmt))
    for kind in dict.fromkeys(CORPORA[n].kind for n in scored):
        names = [n for n in scored if CORPORA[n].kind == kind]
        table = summarise(pool_corpora({n: scored[n] for n in names}),
                          relative=CORPORA[names[0]].relative)
        summaries[f"{kind} (pooled)"] = table
        atomic_write_csv(args.out / f"pooled_{kind}_summary.csv", table)
        print(f"\n== pooled {kind}: {', '.join(names)}, each corpus weighing the same")
        print(table[COLUMNS].to_string(**fmt))
    save_figure(figure_calibration(coverage), args.out, "calibration")
    save_figure(figure_skill(summaries), args.out, "skill")
    print(f"\nwrote {args.out}/ (scores, summaries, calibration.png/.pdf, skill.png/.pdf)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
