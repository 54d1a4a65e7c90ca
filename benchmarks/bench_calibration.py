"""Skill and calibration on real scaling data: every method × every corpus, in one run.

Corpora, read from ../shared/data/external (or --external DIR; nothing is copied): ObsScaling
accuracies of LLM families (MMLU, ARC-C, HellaSwag; fit on ≤ 8B, predict larger), the 92
learning curves of Alabdulmohsin et al. (fit on their Training == 1 rows, predict the rest),
the chain-of-thought gains of Wei et al. 2022 (fit ≤ 8B) and the Gemma instruction-tuning gains
(the one benchmark with two sizes ≤ 8B). For every registered method, and for ``damped_trend``
with the constants fitted without the corpus it is scored on ("damped_trend (LOCO)", from
benchmarks/damped_constants.csv), it prints per corpus: skill against persistence (median
|error| ÷ persistence's; < 1 beats it), median absolute error (pp; % of the truth for the
learning curves), median APE, coverage of the 68% and 95% intervals, median 95% width (and
relative to the truth), the mean 95% interval score and the number of points or bounds outside
the possible range. Writes per-corpus scores and summaries, the calibration plot and the skill
figure (method × corpus) to --out.

    python benchmarks/bench_calibration.py --out runs/calibration      # ~4 min on 2 cores
    python benchmarks/bench_calibration.py --data cot --methods persistence,damped_trend,paper
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
from scalefit.methods.damped import DampedTrend
from scalefit.report.figures import save_figure
from scalefit.report.figures_analyses import figure_calibration, figure_skill
from scalefit.studies.curves import CURVE_SETS, DEFAULT_EXTERNAL, RELATIVE_ERRORS, external_curves
from scalefit.studies.scoring import coverage_curve, score_curves, summarise, with_reference

CONSTANTS = Path(__file__).with_name("damped_constants.csv")
COLUMNS = ["method", "points", "skill", "skill_per_curve", "median_abs_error", "median_ape",
           "coverage68", "coverage95", "median_width95", "median_rel_width95",
           "interval_score95_abs", "outside_range", "outside_truth_range"]


def loco_method(corpus: str) -> DampedTrend | None:
    """``damped_trend`` with the constants fitted without ``corpus`` (its own fold, else the
    fold fitted on every corpus, which never saw the ones outside it)."""
    if not CONSTANTS.exists():
        return None
    table = pd.read_csv(CONSTANTS).set_index("fold")
    row = table.loc[f"without {corpus}"] if f"without {corpus}" in table.index else table.loc["all"]
    priors = tuple((k, row[f"tau0_{k}"], row[f"nu0_{k}"]) for k in ("logit", "log"))
    return DampedTrend(row["phi"], row["lam"], priors, name="damped_trend (LOCO)")


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
    coverage, summaries = {}, {}
    with ProcessPoolExecutor(args.workers) as pool:
        for name in [n for n in args.data.split(",") if n]:
            start = time.perf_counter()
            curves = external_curves(name, args.external)
            loco = loco_method(name)
            scores = score_curves(curves, methods, executor=pool)
            if loco is not None:
                scores = pd.concat([scores, score_curves(curves, [loco], executor=pool)],
                                   ignore_index=True)
            table = summarise(scores, relative=RELATIVE_ERRORS[name])
            coverage[name] = coverage_curve(scores)
            summaries[name] = table
            atomic_write_csv(args.out / f"{name}_scores.csv", scores)
            atomic_write_csv(args.out / f"{name}_summary.csv", table)
            unit = "% of truth" if RELATIVE_ERRORS[name] else "pp"
            print(f"\n== {name}: {len(curves)} curves, {int(table['points'].max())} held-out "
                  f"points; errors in {unit}; {time.perf_counter() - start:.0f} s")
            print(table[COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    save_figure(figure_calibration(coverage), args.out, "calibration")
    save_figure(figure_skill(summaries), args.out, "skill")
    print(f"\nwrote {args.out}/ (scores, summaries, calibration.png/.pdf, skill.png/.pdf)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
