"""``scalefit backtest``: leave-future-out scores of every method on a gain table."""

from __future__ import annotations

import argparse

from scalefit.cli.common import add_table_arguments, load_groups, name_list
from scalefit.cli.validate import METHOD_NAMES
from scalefit.laws import LAWS

DEFAULT_METHODS = tuple(LAWS) + ("average", "bootstrap", "lfo_aicc")
LEVELS = (0.68, 0.95)

EXAMPLES = """\
examples:
  scalefit backtest data/opsd_scaling_paper.csv --holdout 2
  scalefit backtest data/opsd_scaling_paper.csv --holdout 1 --methods average,bootstrap,lfo_aicc
  scalefit backtest data/opsd_qwen3_zhao2026.csv --holdout 1 --json bt.json

Fits every method on all but the K largest distinct sizes of each table (each benchmark of a
multi-benchmark table is its own curve) and scores the held-out rows: error (truth − prediction),
absolute percentage error, and whether each nominal interval covers the truth. Methods:
{methods}. See docs/analyses.md.
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _levels(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected levels like 0.68,0.95, got {text!r}") from None
    if not values or any(not 0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"levels must be in (0, 1), got {text!r}")
    return values


def add_parser(sub) -> None:
    p = sub.add_parser(
        "backtest", help="leave-future-out: fit on the small sizes, score the K largest",
        description="Hold out the K largest sizes, fit each method on the rest, and score its "
                    "predictions and intervals on the held-out points.",
        epilog=EXAMPLES.format(methods=METHOD_NAMES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(p)
    g = p.add_argument_group("backtest")
    g.add_argument("--holdout", type=_positive_int, default=1, metavar="K",
                   help="number of largest distinct sizes held out (default 1)")
    g.add_argument("--methods", type=name_list, default=list(DEFAULT_METHODS), metavar="M[,M]",
                   help=f"methods scored (default {','.join(DEFAULT_METHODS)})")
    g.add_argument("--levels", type=_levels, default=list(LEVELS),
                   help="nominal interval levels (default 0.68,0.95)")
    x = p.add_argument_group("execution")
    x.add_argument("--workers", type=_positive_int, default=1,
                   help="worker processes over curves (default 1: inline)")
    x.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a Dask cluster at this scheduler address")
    o = p.add_argument_group("output")
    o.add_argument("--summary-only", action="store_true", help="print only the per-method summary")
    o.add_argument("--json", metavar="FILE", default=None, help="write points and summary as JSON")
    o.add_argument("--csv", metavar="FILE", default=None,
                   help="write one row per (curve, method, held-out point) as CSV")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from scalefit.backtest import backtest_tables
    from scalefit.executor import make_executor
    from scalefit.io import atomic_write_csv, atomic_write_json
    from scalefit.report.text import format_backtest

    groups = load_groups(args)
    tables = {(label if label is not None else table.source): table
              for label, table in groups.items()}
    with make_executor(args.workers, args.scheduler) as executor:
        result = backtest_tables(tables, args.holdout, args.methods, levels=args.levels,
                                 executor=None if args.workers == 1 and not args.scheduler
                                 else executor, quiet=args.quiet)
    print(format_backtest(result, points=not args.summary_only))
    if args.json:
        atomic_write_json(args.json, result.to_dict())
        print(f"wrote {args.json}")
    if args.csv:
        atomic_write_csv(args.csv, result.to_frame())
        print(f"wrote {args.csv}")
    return 0
