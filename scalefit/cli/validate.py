"""``scalefit validate``: synthetic validation of the extrapolation methods (the scaling paper, §2.3, Fig. 4)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from scalefit.cli.common import (add_table_arguments, int_at_least, load_groups, method_help,
                                 name_list, open_interval, size_list)
from scalefit.core.laws import LAWS
from scalefit.studies.scoring import TWO_SIGMA
from scalefit.studies.validate import VALIDATION_METHODS, EVAL_SIZES, REGIMES

EXAMPLES = """\
examples:
  scalefit validate data/opsd_scaling_paper.csv
  scalefit validate data/opsd_scaling_paper.csv --replicates 1000 --workers 2 --json val.json
  scalefit validate data/opsd_scaling_paper.csv --methods average,bootstrap,lfo_aicc --per-size
  scalefit validate data/opsd_scaling_paper.csv --scheduler tcp://10.0.0.5:8786

For each regime (a law fitted to the table is the truth) replicate tables are simulated at the
table's sizes up to --train-max with noise at its SEs, every method is fitted, and its prediction
at --at is scored: MAPE and the coverage of the central --level interval (default 0.9545, the
paper's 2σ). Methods: {methods}. The figure data are the --json / --csv files
(scalefit.studies.validate.ValidationResult has everything Figure 4 needs). See docs/analyses.md.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "validate", help="synthetic validation: MAPE and interval coverage of every method "
                         "under four ground-truth regimes",
        description="Simulate tables from ground-truth regimes calibrated to the data, fit them "
                    "on the small sizes with every method, and score the extrapolations.",
        epilog=EXAMPLES.format(methods=method_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(p)
    g = p.add_argument_group("study")
    g.add_argument("--replicates", type=int_at_least(1), default=200, metavar="N",
                   help="simulated tables per regime (default 200)")
    g.add_argument("--bootstrap", type=int_at_least(1), default=200, metavar="B",
                   help="bootstrap resamples per simulated table for the bootstrap method "
                        "(default 200)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0); results do not "
                   "depend on --workers")
    g.add_argument("--at", type=size_list, default=list(EVAL_SIZES), metavar="SIZES",
                   help="sizes scored, in the table's unit (default 14,32,70)")
    g.add_argument("--train-max", type=float, default=8.0, metavar="SIZE",
                   help="fit on the table's sizes up to this (default 8, the paper's ≤ 8B)")
    g.add_argument("--regimes", type=name_list, default=list(REGIMES), metavar="LAW[,LAW]",
                   help=f"ground-truth laws (default {','.join(REGIMES)}; any of "
                        f"{', '.join(LAWS)})")
    g.add_argument("--methods", type=name_list, default=list(VALIDATION_METHODS),
                   metavar="M[,M]", help=f"methods scored (default {','.join(VALIDATION_METHODS)})")
    g.add_argument("--level", type=open_interval(0.0, 1.0, "a number in (0, 1)"), default=TWO_SIGMA,
                   help="central interval level scored (default 0.9545 = ±2σ)")
    x = p.add_argument_group("execution")
    x.add_argument("--workers", type=int_at_least(1), default=None,
                   help="worker processes (default: the CPU count; 1 runs inline)")
    x.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a Dask cluster at this scheduler address instead")
    x.add_argument("--chunk", type=int_at_least(1), default=25,
                   help="replicates per job (default 25)")
    o = p.add_argument_group("output")
    o.add_argument("--per-size", action="store_true", help="also print the tables per size")
    o.add_argument("--json", metavar="FILE", default=None,
                   help="write the result (heat maps, truths, settings) as JSON")
    o.add_argument("--csv", metavar="FILE", default=None,
                   help="write the long table (regime, method, size, MAPE, coverage, ...) as CSV")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def _suffixed(path: str, label: str | None) -> Path:
    if label is None:
        return Path(path)
    p = Path(path)
    return p.with_name(f"{p.stem}_{re.sub(r'[^A-Za-z0-9._=-]+', '_', label)}{p.suffix}")


def run(args: argparse.Namespace) -> int:
    from scalefit.api import validate
    from scalefit.executor import make_executor
    from scalefit.io import atomic_write_csv, atomic_write_json
    from scalefit.report.text import format_validation

    groups = load_groups(args)
    with make_executor(args.workers, args.scheduler) as executor:
        for label, table in groups.items():
            result = validate(table, regimes=args.regimes, methods=args.methods,
                              eval_sizes=args.at, max_train_size=args.train_max,
                              n_replicates=args.replicates, seed=args.seed,
                              n_boot=args.bootstrap, level=args.level, executor=executor,
                              chunk=args.chunk, quiet=args.quiet)
            if label is not None:
                print(f"== {label} ==")
            print(format_validation(result, per_size=args.per_size), end="\n\n")
            if args.json:
                atomic_write_json(_suffixed(args.json, label), result.to_dict())
                print(f"wrote {_suffixed(args.json, label)}")
            if args.csv:
                atomic_write_csv(_suffixed(args.csv, label), result.to_frame())
                print(f"wrote {_suffixed(args.csv, label)}")
    return 0
