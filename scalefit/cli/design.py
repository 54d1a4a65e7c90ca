"""``scalefit design``: which model size to measure next (the scaling paper, §2.4, eq. 14, Figure 6)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from scalefit.cli.common import (add_table_arguments, int_at_least, load_groups, open_interval,
                                 size_list)
from scalefit.core.average import CRITERIA
from scalefit.data import normalise_name, read_table
from scalefit.errors import DataError, ScalefitError
from scalefit.methods import DEFAULT_METHOD, METHODS, method_names
from scalefit.sizes import default_candidates
from scalefit.studies.design import DESIGN_RULES, DRAWS, FORECAST_DESIGN_RULES

POSITIVE = open_interval(0.0, np.inf, "a positive number")

EXAMPLES = """\
examples:
  scalefit design data/opsd_scaling_paper.csv      # default candidates 8,13,20,32,70,140
  scalefit design data/opsd_scaling_paper.csv --candidates 14,32,70,100,140,200,405
  scalefit design data/opsd_scaling_paper.csv --candidates 14,32,70,140 --target 405 --new-se 1.0
  scalefit design data/opsd_scaling_paper.csv --candidates candidates.csv   # columns size[,cost]
  scalefit design data/opsd_scaling_paper.csv --method paper --criterion info_value

Default: the expected reduction of the default forecast's 95% interval width at --target if
one point were measured at the candidate with SE --new-se (simulated from the forecast itself),
also per unit cost (cost ∝ size unless --costs or a cost column says otherwise), with the
forecast's current interval at the target. --method paper ranks by the scaling paper's recipe
instead: the expected reduction of the model-averaged variance (eq. 9, simulated from the fitted
mixture of laws), with the paper's eq. 14 (the laws' weighted disagreement) beside it.
See docs/analyses.md.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "design", help="rank candidate sizes for the next experiment (how much one more point "
                       "would shrink the forecast's interval at a target, per unit cost)",
        description="Rank candidate model sizes by how much one more measurement there would "
                    "shrink the forecast's interval at a target size.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(p)
    g = p.add_argument_group("design")
    g.add_argument("--candidates", default=None, metavar="SIZES|CSV",
                   help="comma-separated candidate sizes (table unit), or a CSV file with a "
                        "size column and an optional cost column. Default: log-spaced, about "
                        "4 per factor of ten, from the largest measured size to twice the "
                        "target, through the target and (tables in B) the paper's 13, 32 and "
                        "70 B; e.g. 8,13,20,32,70,140 for the bundled table")
    g.add_argument("--target", type=POSITIVE, default=70.0,
                   help="size whose prediction should become more certain (default 70)")
    g.add_argument("--new-se", type=POSITIVE, default=None, metavar="SE",
                   help="standard error of the new measurement, pp (default: the table's "
                        "largest SE)")
    g.add_argument("--costs", type=size_list, default=None, metavar="C[,C]",
                   help="cost of each candidate, any unit (default: ∝ size)")
    g.add_argument("--method", choices=method_names(), default=DEFAULT_METHOD, metavar="METHOD",
                   help=f"the forecast whose interval at the target the new point should shrink "
                        f"(default {DEFAULT_METHOD}: {METHODS[DEFAULT_METHOD].summary}); paper: "
                        f"the laws' eq. 9 variance and eq. 14. Any of: {', '.join(method_names())}")
    g.add_argument("--criterion", choices=DESIGN_RULES, default="reduction",
                   help="ranking criterion (default reduction; info_value, eq. 14, with "
                        "--method paper only)")
    g.add_argument("--weights", choices=CRITERIA, default="aic",
                   help="information criterion of the law weights (--method paper; default aic)")
    g.add_argument("--sims", type=int_at_least(2), default=None, metavar="S",
                   help="simulated measurements per candidate (default 200; 400 with "
                        "--method paper)")
    g.add_argument("--draws", choices=DRAWS, default="bootstrap",
                   help="--method paper: parameter uncertainty of the drawn law, its bootstrap "
                        "refits (default) or its fit covariance")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="FILE", default=None, help="write the result as JSON")
    o.add_argument("--csv", metavar="FILE", default=None,
                   help="write one row per candidate as CSV")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def _candidates(text: str, costs):
    path = Path(text)
    if path.suffix.lower() == ".csv" or path.exists():
        frame = read_table(path)
        cols = {normalise_name(c): c for c in frame.columns}
        size_col = next((cols[c] for c in ("size", "size_b", "candidate", "candidates")
                         if c in cols), None)
        if size_col is None:
            raise DataError(f"{path}: no size column (size, size_b or candidate)")
        try:
            sizes = frame[size_col].astype(float).to_numpy()
        except ValueError:
            raise DataError(f"{path}, column {size_col!r}: sizes must be numbers") from None
        if "cost" in cols and costs is None:
            try:
                costs = frame[cols["cost"]].astype(float).to_numpy()
            except ValueError:
                raise DataError(f"{path}, column {cols['cost']!r}: costs must be numbers") from None
        return sizes, costs
    try:
        return np.array(size_list(text)), costs
    except argparse.ArgumentTypeError as err:
        raise DataError(f"--candidates: {err}") from None


def run(args: argparse.Namespace) -> int:
    from scalefit.api import design
    from scalefit.io import atomic_write_csv, atomic_write_json
    from scalefit.report.text import format_design, format_forecast_design

    paper = args.method in ("paper", "average")
    if not paper and args.criterion not in FORECAST_DESIGN_RULES:
        raise ScalefitError(f"--criterion {args.criterion} ranks the laws (eq. 14): use it with "
                            f"--method paper, or one of {', '.join(FORECAST_DESIGN_RULES)}")
    options = ({"draws": args.draws, "weights_criterion": args.weights} if paper else {})
    groups = load_groups(args)
    payloads = {}
    for label, table in groups.items():
        sizes, costs = (_candidates(args.candidates, args.costs) if args.candidates else
                        (default_candidates(table.size.max(), args.target, table.size_unit),
                         args.costs))
        if not args.candidates:
            print(f"default candidates: {', '.join(f'{c:g}' for c in sizes)} {table.size_unit} "
                  "(--candidates to choose others)")
        result = design(table, sizes, method=args.method, target=args.target,
                        new_se=args.new_se, costs=costs,
                        n_sims=args.sims or (400 if paper else 200), seed=args.seed,
                        criterion=args.criterion, quiet=args.quiet, **options)
        if label is not None:
            print(f"== {label} ==")
        print((format_design if paper else format_forecast_design)(result), end="\n\n")
        payloads[label] = result
    if args.json:
        data = (payloads[None].to_dict() if None in payloads
                else {"groups": {k: v.to_dict() for k, v in payloads.items()}})
        atomic_write_json(args.json, data)
        print(f"wrote {args.json}")
    if args.csv:
        import pandas as pd

        frames = [r.to_frame().assign(group=k) if k is not None else r.to_frame()
                  for k, r in payloads.items()]
        atomic_write_csv(args.csv, pd.concat(frames, ignore_index=True))
        print(f"wrote {args.csv}")
    return 0
