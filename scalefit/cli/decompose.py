"""``scalefit decompose``: the three-component gain decomposition and its identifiability."""

from __future__ import annotations

import argparse

from scalefit.cli.common import add_table_arguments, int_at_least, load_groups, size_list

TABLE2_SIZES = (0.5, 1.0, 8.0, 70.0, 405.0)

EXAMPLES = """\
examples:
  scalefit decompose data/opsd_scaling_paper.csv
  scalefit decompose data/opsd_scaling_paper.csv --paper-check --json decomposition.json
  scalefit decompose data/opsd_scaling_paper.csv --no-mcmc --share-at 405

Fits Δ = α N^β + γ (1 − e^(−N/N_char)) + δ ln(1 + η N) (the scaling paper, eq. 10-13) and reports the
components at --at (Table 2), then shows whether the data determine them: the rank of the
Jacobian, equally good fits with different shares, the profile likelihood of each component's
share at --share-at, and (emcee) its posterior next to its prior. See docs/analyses.md.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "decompose", help="three-component gain decomposition (Table 2) and whether the data "
                          "identify it",
        description="Fit the paper's distribution-match + dark-knowledge + regularisation "
                    "decomposition and diagnose its identifiability.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(p)
    g = p.add_argument_group("decomposition")
    g.add_argument("--at", type=size_list, default=list(TABLE2_SIZES), metavar="SIZES",
                   help="sizes of the component table (default 0.5,1,8,70,405)")
    g.add_argument("--share-at", type=float, default=70.0, metavar="SIZE",
                   help="size whose component shares are profiled and sampled (default 70)")
    g.add_argument("--no-profile", action="store_true", help="skip the profile likelihood")
    g.add_argument("--no-mcmc", action="store_true", help="skip the posterior sampling")
    g.add_argument("--mcmc-steps", type=int_at_least(200), default=12000, metavar="N",
                   help="emcee steps per walker (default 12000; the first half is burn-in)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--paper-check", action="store_true",
                   help="also confront the paper's stated parameters and Table 2 with the data")
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="FILE", default=None, help="write the result as JSON")
    o.add_argument("--csv", metavar="FILE", default=None,
                   help="write the component table (Table 2) as CSV")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from scalefit.io import atomic_write_csv, atomic_write_json
    from scalefit.report.text import format_decomposition
    from scalefit.studies.decompose import fit_decomposition, paper_check

    groups = load_groups(args)
    payloads = {}
    frames = []
    for label, table in groups.items():
        result = fit_decomposition(table, args.at, share_size=args.share_at, seed=args.seed,
                                   profile=not args.no_profile, posterior=not args.no_mcmc,
                                   mcmc_steps=args.mcmc_steps)
        check = paper_check(table) if args.paper_check else None
        if label is not None:
            print(f"== {label} ==")
        print(format_decomposition(result, check), end="\n\n")
        payloads[label] = result.to_dict()
        if check is not None:
            payloads[label]["paper_check"] = {
                k: (v.to_dict("records") if hasattr(v, "to_dict") else v) for k, v in check.items()}
        frames.append(result.to_frame().assign(group=label) if label is not None
                      else result.to_frame())
    if args.json:
        atomic_write_json(args.json, payloads[None] if None in payloads else {"groups": payloads})
        print(f"wrote {args.json}")
    if args.csv:
        import pandas as pd

        atomic_write_csv(args.csv, pd.concat(frames, ignore_index=True))
        print(f"wrote {args.csv}")
    return 0
