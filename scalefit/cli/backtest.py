"""``scalefit backtest``: leave-future-out scores of every method on a gain table."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from scalefit.cli.common import (add_table_arguments, int_at_least, load_groups, method_help,
                                 name_list)
from scalefit.errors import ScalefitError
from scalefit.studies.backtest import BACKTEST_METHODS
from scalefit.studies.curves import CORPORA, CURVE_SETS, DEFAULT_EXTERNAL
from scalefit.studies.scoring import LEVELS, level_key, with_reference

EXAMPLES = """\
examples:
  scalefit backtest data/opsd_scaling_paper.csv --holdout 2
  scalefit backtest data/opsd_scaling_paper.csv --holdout 1 --methods average,bootstrap,lfo_aicc
  scalefit backtest data/opsd_qwen3_zhao2026.csv --holdout 1 --json bt.json

Real scaling curves, many at once (the calibration backtest, docs/calibration.md):
  scalefit backtest --curves obsscaling,learning --plot calibration.png
  scalefit backtest --curves qwen1.5,qwen2,bloomz --methods damped_trend,loglinear_wls
  scalefit backtest --curves obsscaling --methods paper,aicc,lfo_aicc --external DIR

Fits every method on all but the K largest distinct sizes of each table (each benchmark of a
multi-benchmark table is its own curve) and scores the held-out rows: error (truth − prediction),
absolute percentage error, and whether each nominal interval covers the truth. Methods:
{methods}. See docs/analyses.md.
"""


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
        epilog=EXAMPLES.format(methods=method_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(p, optional=True)
    g = p.add_argument_group("backtest")
    g.add_argument("--curves", type=name_list, default=None, metavar="SET[,SET]",
                   help="instead of a table, backtest the public curve sets (" + "; ".join(
                       f"{c.name}: {c.title}" for c in CORPORA.values()) + "); scores every "
                        "predictive method unless --methods, per set and pooled per kind of "
                        "quantity with every set weighing the same")
    g.add_argument("--external", default=str(DEFAULT_EXTERNAL), metavar="DIR",
                   help="folder holding the public data (default ../shared/data/external "
                        "beside the repository, or $SCALEFIT_EXTERNAL)")
    g.add_argument("--plot", metavar="FILE", default=None,
                   help="with --curves: write the calibration plot (nominal vs observed "
                        "coverage) as FILE (.png or .pdf)")
    g.add_argument("--holdout", type=int_at_least(1), default=1, metavar="K",
                   help="number of largest distinct sizes held out (default 1)")
    g.add_argument("--methods", type=name_list, default=None, metavar="M[,M]",
                   help=f"methods scored (default {','.join(BACKTEST_METHODS)}; with --curves "
                        "every registered method); persistence, the reference of the skill, is "
                        "always scored")
    g.add_argument("--levels", type=_levels, default=list(LEVELS),
                   help="nominal interval levels (default 0.68,0.95)")
    x = p.add_argument_group("execution")
    x.add_argument("--workers", type=int_at_least(1), default=1,
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


def run_curves(args: argparse.Namespace) -> int:
    """``--curves``: every predictive method on the public curve sets; coverage, APE, a plot."""
    from scalefit.executor import make_executor
    from scalefit.io import atomic_write_csv, atomic_write_json
    from scalefit.methods import METHODS
    from scalefit.report.tables import to_markdown
    from scalefit.studies.curves import CORPORA, external_curves
    from scalefit.studies.scoring import coverage_curve, pool_corpora, score_curves, summarise

    methods = tuple(METHODS if args.methods is None else with_reference(args.methods))
    scores, coverage, summaries = [], {}, {}
    wide = level_key(max(args.levels))
    cols = (["method", "points", "skill", "skill_per_curve", "median_abs_error", "median_ape"]
            + [f"coverage{level_key(v)}" for v in args.levels]
            + [f"median_width{wide}", f"interval_score{wide}_abs", "outside_range"])
    with make_executor(args.workers, args.scheduler) as executor:
        for name in args.curves:
            curves = external_curves(name, args.external)
            frame = score_curves(curves, methods, quiet=args.quiet, levels=args.levels,
                                 executor=None if args.workers == 1 and not args.scheduler
                                 else executor).assign(curve_set=name)
            scores.append(frame)
            summaries[name] = summarise(frame, relative=CORPORA[name].relative,
                                        levels=args.levels)
            coverage[name] = coverage_curve(frame)
            print(f"== {name} ({CORPORA[name].kind}): {CORPORA[name].title}; {len(curves)} "
                  "curves, held-out points scored per method ==")
            print(to_markdown(summaries[name][[c for c in cols if c in summaries[name]]], 3))
    for kind in dict.fromkeys(CORPORA[n].kind for n in args.curves):
        names = [n for n in args.curves if CORPORA[n].kind == kind]
        if len(names) > 1:
            frames = {n: f for n, f in zip(args.curves, scores) if n in names}
            pooled = summarise(pool_corpora(frames), relative=CORPORA[names[0]].relative,
                               levels=args.levels)
            print(f"== pooled {kind}: {', '.join(names)}, each corpus weighing the same ==")
            print(to_markdown(pooled[[c for c in cols if c in pooled]], 3))
    if args.plot:
        from scalefit.io import atomic_path
        from scalefit.report.figures_analyses import figure_calibration

        fig = figure_calibration(coverage)
        with atomic_path(args.plot) as tmp:
            fig.savefig(tmp, format=Path(args.plot).suffix.lstrip(".") or "png", dpi=130)
        print(f"wrote {args.plot}")
    if args.json:
        atomic_write_json(args.json, {name: {"summary": summaries[name].to_dict("records"),
                                             "coverage": {m: {str(k): v for k, v in row.items()}
                                                          for m, row in coverage[name].iterrows()}}
                                      for name in args.curves} | {"methods": list(methods),
                                                                  "all_methods": list(METHODS)})
        print(f"wrote {args.json}")
    if args.csv:
        atomic_write_csv(args.csv, pd.concat(scores, ignore_index=True))
        print(f"wrote {args.csv}")
    return 0


def run(args: argparse.Namespace) -> int:
    from scalefit.executor import make_executor
    from scalefit.io import atomic_write_csv, atomic_write_json
    from scalefit.report.text import format_backtest
    from scalefit.studies.backtest import backtest_tables

    if args.curves:
        if args.table is not None:
            raise ScalefitError("give a table or --curves, not both")
        unknown = [c for c in args.curves if c not in CURVE_SETS]
        if unknown:
            raise ScalefitError(f"unknown curve set {unknown[0]!r}; choose from "
                                f"{', '.join(CURVE_SETS)}")
        return run_curves(args)
    if args.table is None:
        raise ScalefitError("give a gain table to backtest, or --curves obsscaling,learning")
    if args.methods is None:
        args.methods = list(BACKTEST_METHODS)
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
