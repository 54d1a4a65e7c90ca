"""``scalefit fit``: fit, rank and average the scaling laws on a gain table."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from scalefit.cli.common import add_table_arguments, int_at_least, load_groups, name_list, size_list
from scalefit.core.average import CRITERIA
from scalefit.core.laws import LAWS, PAPER_LAWS
from scalefit.data import default_sizes
from scalefit.io import atomic_write_csv, atomic_write_json
from scalefit.methods import DEFAULT_METHOD, METHODS, method_names
from scalefit.report.text import format_bootstrap, format_mcmc

EXAMPLES = """\
examples:
  scalefit fit data/opsd_scaling_paper.csv --at 14,70,405
  scalefit fit data/opsd_scaling_paper.csv --criterion aicc --json fit.json
  scalefit fit data/opsd_qwen3_zhao2026.csv --treatment OPSD --baseline SFT --benchmark mean
  scalefit fit runs/smoke/gains.csv --per-benchmark
  scalefit fit data/opsd_scaling_paper.csv --at 70 --bootstrap 1000 --seed 0
  scalefit fit data/opsd_scaling_paper.csv --at 70 --mcmc --save runs/paper-uncertainty

The printout opens with the answer: the default forecast at the --at sizes (median, 68% and 95%
intervals, inside the values' possible range) with persistence beside it, and whether it and
the laws out-predicted persistence on this table's own leave-future-out checks. Then the scaling
paper's recipe: laws (eq. 1-5): {laws}; weights exp(-Δ/2) of the chosen criterion (eq. 7); the
model average and its within- and between-model SD (eq. 8-9). Sizes in --at are in the table's
unit.
--bootstrap refits every law on every parametric resample and recomputes the weights per
resample (section 2.5); --mcmc samples each law's posterior with emcee and mixes them with the
chosen weights. See docs/uncertainty.md.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fit", help="fit, rank and average the scaling laws; extrapolate with uncertainty",
        description="Forecast a gain table at larger sizes: the default forecast with its "
                    "intervals and persistence beside it first, then the candidate scaling laws "
                    "fitted by weighted least squares (the table's standard errors as absolute "
                    "sigma), ranked by AIC, AICc and BIC, and their model average.",
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
                   help=f"fit only these laws (default the paper's five: {', '.join(PAPER_LAWS)}; "
                        f"registered: {', '.join(LAWS)})")
    u = p.add_argument_group("uncertainty (docs/uncertainty.md)")
    u.add_argument("--bootstrap", type=int_at_least(2), default=0, metavar="N",
                   help="parametric bootstrap with N replicates (the paper uses 1000): Gaussian "
                        "noise scaled by each SE, every law refitted and the weights recomputed "
                        "per replicate; percentile 95%% intervals per law and averaged")
    u.add_argument("--bootstrap-scheme", choices=("data", "fitted"), default="data",
                   help="centre the resamples on the observed gains (data, the paper's; "
                        "default) or on the model-averaged fitted curve (fitted)")
    u.add_argument("--seed", type=int, default=0,
                   help="random seed of the bootstrap and MCMC (default 0): same seed, same "
                        "numbers")
    u.add_argument("--mcmc", action="store_true",
                   help="sample each law's posterior with emcee (Gaussian likelihood with the "
                        "SEs, uniform priors) and mix the posterior predictives")
    u.add_argument("--mcmc-steps", type=int_at_least(100), default=2500, metavar="N",
                   help="initial steps per walker (default 2500); a law whose R-hat or ESS "
                        "fails is extended by doubling up to --mcmc-max-steps")
    u.add_argument("--mcmc-max-steps", type=int_at_least(100), default=None, metavar="N",
                   help="most steps per walker (default 4 x --mcmc-steps)")
    u.add_argument("--mcmc-burn", type=int_at_least(0), default=None, metavar="N",
                   help="steps discarded as burn-in (default a quarter of --mcmc-steps)")
    u.add_argument("--mcmc-walkers", type=int_at_least(8), default=32, metavar="N",
                   help="emcee walkers (default 32)")
    u.add_argument("--mcmc-weights", default=None,
                   choices=("aic", "aicc", "bic", "stacking", "pseudo-bma"),
                   help="weights of the posterior mixture: information-criterion weights "
                        "(default: --criterion) or stacking / pseudo-BMA from PSIS-LOO")
    u.add_argument("--interval", "--method", choices=(*method_names(), "none"),
                   default=DEFAULT_METHOD, metavar="METHOD",
                   help=f"the forecast printed first (JSON key 'calibrated'), with persistence "
                        f"beside it and the table's own leave-future-out check (key "
                        f"'lfo_skill'). Default {DEFAULT_METHOD}: "
                        f"{METHODS[DEFAULT_METHOD].summary} (docs/calibration.md); paper: the "
                        f"scaling paper's eq. 8-9; none: the laws alone. Any of: "
                        f"{', '.join(method_names())}")
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="FILE", default=None,
                   help="also write the results as JSON (written atomically)")
    o.add_argument("--save", metavar="DIR", default=None,
                   help="write the bootstrap replicates and summary (CSV, JSON) and the MCMC "
                        "posteriors (arviz NetCDF) with their summaries into DIR, atomically; "
                        "grouped fits get one subfolder per group")
    o.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def _group_dir(save: str, label: str | None) -> Path:
    """``--save DIR`` for one group: DIR itself, or DIR/<label> with a file-safe label."""
    base = Path(save)
    return base if label is None else base / (re.sub(r"[^A-Za-z0-9._=-]+", "_", label) or "group")


def _uncertainty(args, table, fit, sizes, label, payload) -> None:
    """--bootstrap and --mcmc for one table: print, add to the JSON payload, save."""
    save_dir = None if args.save is None else _group_dir(args.save, label)
    if args.bootstrap:
        from scalefit.methods.bootstrap import bootstrap

        boot = bootstrap(table, sizes, args.bootstrap, seed=args.seed, criterion=args.criterion,
                         laws=args.laws, quiet=args.quiet, scheme=args.bootstrap_scheme, fit=fit)
        print(format_bootstrap(boot), end="\n\n")
        payload["bootstrap"] = boot.to_dict()
        if save_dir is not None:
            atomic_write_csv(save_dir / "bootstrap_replicates.csv", boot.replicates_frame())
            atomic_write_csv(save_dir / "bootstrap_summary.csv", boot.to_frame())
            atomic_write_json(save_dir / "bootstrap.json", payload["bootstrap"])
    if args.mcmc:
        from scalefit.methods.mcmc import mcmc

        result = mcmc(table, sizes, laws=args.laws, weights=args.mcmc_weights or args.criterion,
                      fit=fit, n_walkers=args.mcmc_walkers, n_steps=args.mcmc_steps,
                      n_burn=args.mcmc_burn, max_steps=args.mcmc_max_steps, seed=args.seed,
                      quiet=args.quiet)
        print(format_mcmc(result), end="\n\n")
        payload["mcmc"] = result.to_dict()
        if save_dir is not None:
            result.save(save_dir)


def run(args: argparse.Namespace) -> int:
    from scalefit.api import fit

    groups = load_groups(args)
    if args.mcmc_burn is not None and args.mcmc_burn >= args.mcmc_steps:
        from scalefit.errors import ScalefitError

        raise ScalefitError(f"--mcmc-burn ({args.mcmc_burn}) must be below --mcmc-steps "
                            f"({args.mcmc_steps})")
    payloads = {}
    for label, table in groups.items():
        report = fit(table, criterion=args.criterion, laws=args.laws,
                     method=None if args.interval == "none" else args.interval)
        sizes = args.at or default_sizes(table)
        print(("" if label is None else f"== {label} ==\n") + report.summary(sizes), end="\n\n")
        payloads[label] = report.to_dict(sizes)
        _uncertainty(args, table, report.fit, sizes, label, payloads[label])
    if args.save and (args.bootstrap or args.mcmc):
        print(f"saved to {args.save}")
    if args.json:
        payload = payloads[None] if None in payloads else {"groups": payloads}
        atomic_write_json(args.json, payload)
        print(f"wrote {args.json}")
    return 0
