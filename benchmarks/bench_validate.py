"""Synthetic validation at the default settings: time it inline and on a process pool, check
that the results are the same, and print the Figure 4 tables next to the paper's numbers.

    python benchmarks/bench_validate.py [--replicates 200] [--bootstrap 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from scalefit.data import load_gain_table
from scalefit.executor import make_executor
from scalefit.report.text import format_validation
from scalefit.studies.validate import validate

ROOT = Path(__file__).resolve().parents[1]
PAPER_AVERAGE_MAPE = {"logarithmic": 2.7, "power": 30.8, "saturating": 161.8, "sigmoid": 215.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-inline", action="store_true", help="time the pool only")
    args = ap.parse_args()
    table = load_gain_table(ROOT / "data" / "opsd_scaling_paper.csv")
    kw = dict(n_replicates=args.replicates, n_boot=args.bootstrap, seed=0, quiet=True)

    t0 = time.perf_counter()
    with make_executor(args.workers) as pool:
        pooled = validate(table, executor=pool, **kw)
    t_pool = time.perf_counter() - t0
    print(f"{args.workers} worker processes: {t_pool:.1f} s")
    if not args.skip_inline:
        t0 = time.perf_counter()
        inline = validate(table, **kw)
        t_inline = time.perf_counter() - t0
        diff = np.nanmax(np.abs(inline.mean - pooled.mean))
        print(f"inline: {t_inline:.1f} s; speed-up {t_inline / t_pool:.2f}x; largest difference "
              f"between the two runs' predictions: {diff:.2e} pp")
    print()
    print(format_validation(pooled))
    print()
    mape = pooled.heatmap("mape")
    print("model average MAPE (%), this run vs the paper (section 3.5):")
    for regime, paper in PAPER_AVERAGE_MAPE.items():
        print(f"  {regime:12s} {mape.loc[regime, 'average']:6.1f}   paper {paper:6.1f}")


if __name__ == "__main__":
    main()
