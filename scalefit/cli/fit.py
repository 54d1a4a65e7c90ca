"""``scalefit fit``: fit, rank and average the scaling laws on a gain table."""

from __future__ import annotations

import argparse

from scalefit.average import CRITERIA, fit_laws
from scalefit.cli.common import add_table_arguments, default_sizes, load_groups, name_list, size_list
from scalefit.io import atomic_write_json
from scalefit.laws import LAWS
from scalefit.report.text import format_fit

EXAMPLES = """\
examples:
  scalefit fit data/opsd_scaling_paper.csv --at 14,70,405
  scalefit fit data/opsd_scaling_paper.csv --criterion aicc --json fit.json
  scalefit fit data/opsd_qwen3_zhao2026.csv --treatment OPSD --baseline SFT --benchmark mean
  scalefit fit runs/smoke/gains.csv --per-benchmark

Laws (seed 000, eq. 1-5): {laws}.
Weights are exp(-Δ/2) of the chosen criterion (eq. 7); the model average and its within- and
between-model SD follow eq. 8-9. Sizes in --at are in the table's unit.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fit", help="fit, rank and average the scaling laws; extrapolate with uncertainty",
        description="Fit the candidate scaling laws to a gain table by weighted least squares "
                    "(the table's standard errors as absolute sigma), rank them by AIC, AICc "
                    "and BIC, and print each law's and the model-averaged prediction at the "
                    "requested sizes.",
        epilog=EXAMPLES.format(laws=", ".join(f"{l.name} ({l.formula})" for l in LAWS.values())),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(p)
    g = p.add_argument_group("fitting")
    g.add_argument("--at", type=size_list, default=None, metavar="SIZES",
                   help="comma-separated sizes to predict, in the table's unit (default: "
                        "14,70,405 for tables in B; else 2x,10x,100x the largest size)")
    g.add_argument("--criterion", choices=CRITERIA, default="aic",
                   help="information criterion the weights come from (default aic, as the paper)")
    g.add_argument("--laws", type=name_list, default=None, metavar="NAME[,NAME]",
                   help=f"fit only these laws (default all: {', '.join(LAWS)})")
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="FILE", default=None,
                   help="also write the results as JSON (written atomically)")
    o.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    groups = load_groups(args)
    payloads = {}
    for label, table in groups.items():
        fit = fit_laws(table, criterion=args.criterion, laws=args.laws)
        sizes = args.at or default_sizes(table)
        title = None if label is None else f"== {label} ==\n"
        print(("" if label is None else title) + format_fit(fit, sizes), end="\n\n")
        payloads[label] = fit.to_dict(sizes)
    if args.json:
        payload = payloads[None] if None in payloads else {"groups": payloads}
        atomic_write_json(args.json, payload)
        print(f"wrote {args.json}")
    return 0
