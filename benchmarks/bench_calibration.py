"""Calibration backtest: do each method's intervals hold on real scaling data?

For every method in scalefit.methods.METHODS, on the ObsScaling LLM families (fit on ≤ 8B,
predict larger; MMLU, ARC-C, HellaSwag) and on the 92 learning curves of Alabdulmohsin et al.
(fit on Training == 1, predict the rest), print the observed coverage of nominal 68% and 95%
intervals, MAPE, median APE, RMSLE, width and interval score; write the tables, the per-point
scores and a calibration plot (nominal vs observed coverage) to --out.

    python benchmarks/bench_calibration.py --out runs/calibration            # both data sets
    python benchmarks/bench_calibration.py --data obsscaling --methods paper,lfo_aicc

The data are read from ../shared/data/external/ (or --external DIR); nothing is copied.
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
from scalefit.report.figures import save_figure
from scalefit.report.figures_analyses import figure_calibration
from scalefit.studies.curves import DEFAULT_EXTERNAL, external_curves
from scalefit.studies.scoring import coverage_curve, score_curves, summarise


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=["obsscaling", "learning", "both"], default="both")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--external", type=Path, default=DEFAULT_EXTERNAL)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/calibration"))
    args = ap.parse_args(argv)
    if not args.external.exists():
        print(f"external data not found at {args.external}", file=sys.stderr)
        return 2
    methods = tuple(m for m in args.methods.split(",") if m)
    names = ["obsscaling", "learning"] if args.data == "both" else [args.data]
    pd.set_option("display.width", 200)
    coverage = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for name in names:
            start = time.perf_counter()
            curves = external_curves(name, args.external)
            scores = score_curves(curves, methods, executor=pool)
            table = summarise(scores)
            coverage[name] = coverage_curve(scores)
            atomic_write_csv(args.out / f"{name}_scores.csv", scores)
            atomic_write_csv(args.out / f"{name}_summary.csv", table)
            print(f"\n== {name}: {len(curves)} curves, {int(table['points'].iloc[0])} held-out "
                  f"points, {time.perf_counter() - start:.0f} s")
            cols = ["method", "coverage68", "coverage95", "coverage95_per_curve", "median_ape",
                    "mape", "rmsle", "median_rel_width95", "interval_score95"]
            print(table[cols].round(3).to_string(index=False))
    save_figure(figure_calibration(coverage), args.out, "calibration")
    print(f"\nwrote {args.out}/ (scores, summaries, calibration.png/.pdf)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
