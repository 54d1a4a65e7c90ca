"""``scalefit report``: every figure and table of the scaling paper from one gain table."""

from __future__ import annotations

import argparse

from scalefit.cli.common import add_table_arguments, int_at_least, load_groups, size_list

EXAMPLES = """\
examples:
  scalefit report data/opsd_scaling_paper.csv --out report/
  scalefit report data/opsd_scaling_paper.csv --out report/ \\
      --benchmarks-from data/opsd_qwen3_zhao2026.csv        # Figure 7 from per-benchmark data
  scalefit report data/opsd_scaling_paper.csv --out quick/ --validation 20 --bootstrap 200 \\
      --no-posterior                                          # a fast draft (~15 s)

Writes forecast (the default forecast's figure, PNG and PDF) and forecast_table, then
figure1_fits … figure7_per_benchmark (PNG and PDF), table1_model_selection and
table2_decomposition (CSV and Markdown), predictions_bootstrap, index.md listing them, and
report.html: one self-contained page (the forecast with persistence beside it first, the
data's provenance, every figure and table).
Takes about a minute on 2 cores with the defaults.
"""


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="regenerate the paper's Figures 1-7 and Tables 1-2",
                       description="Fit, bootstrap, decompose, validate and design from one "
                                   "gain table, and write every figure and table of the "
                                   "scaling paper to a folder.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(p)
    g = p.add_argument_group("report")
    g.add_argument("--out", required=True, metavar="DIR", help="folder for figures and tables")
    g.add_argument("--at", type=size_list, default=None, metavar="SIZES",
                   help="prediction sizes of Figures 1 and 5 (default 14,70,405 for tables in B)")
    g.add_argument("--target", type=float, default=None, metavar="SIZE",
                   help="target size of Figures 5 and 6 (default 70 for tables in B)")
    g.add_argument("--candidates", type=size_list, default=None, metavar="SIZES",
                   help="candidate sizes of Figure 6 (default 14,32,70,100,140,200,405)")
    g.add_argument("--criterion", choices=("aic", "aicc", "bic"), default="aic",
                   help="information criterion of the weights (default aic, as the paper)")
    g.add_argument("--bootstrap", type=int_at_least(2), default=1000, metavar="N",
                   help="bootstrap replicates (default 1000)")
    g.add_argument("--validation", type=int_at_least(2), default=200, metavar="N",
                   help="synthetic-validation replicates per regime (default 200)")
    g.add_argument("--no-posterior", action="store_true",
                   help="skip the decomposition's posterior sampling (Figure 3b shows the "
                        "best fit only; saves ~20 s)")
    g.add_argument("--benchmarks-from", metavar="CSV", default=None,
                   help="a table with a benchmark column whose per-benchmark fits Figure 7 "
                        "shows when the main table has none")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--workers", type=int, default=None,
                   help="processes for the validation (default: the CPU count; 1 inline)")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scalefit.api import load
    from scalefit.errors import ScalefitError
    from scalefit.methods import predictive
    from scalefit.report.html import write_html_report
    from scalefit.report.paper import write_report
    from scalefit.studies.reproduce import ReportSettings, reproduce_paper

    groups = load_groups(args)
    if len(groups) > 1:
        raise ScalefitError(f"{args.table} has {len(groups)} groups ({', '.join(map(str, groups))}"
                            "); the report draws one table: pick one with --benchmark NAME "
                            "(or 'mean'), and pass the per-benchmark table as --benchmarks-from")
    table = next(iter(groups.values()))
    extra = load(args.benchmarks_from) if args.benchmarks_from else None
    settings = ReportSettings(sizes=tuple(args.at) if args.at else None, target=args.target,
                              candidates=tuple(args.candidates) if args.candidates else None,
                              criterion=args.criterion, seed=args.seed, bootstrap=args.bootstrap,
                              validation=args.validation, posterior=not args.no_posterior,
                              workers=args.workers, quiet=args.quiet, per_benchmark=extra)
    results = reproduce_paper(table, settings)
    written = write_report(results, args.out)
    reference = predictive(table, results.forecast.sizes, "persistence")
    written.append(write_html_report(table, args.out, written, results.forecast, reference))
    print(f"wrote {len(written)} files to {Path(args.out)}/ (see index.md):")
    for path in written:
        print(f"  {path.name}")
    return 0
