"""``scalefit loop``: fit → choose the next size → run it → append → refit, within a budget."""

from __future__ import annotations

import argparse
import re

from scalefit.errors import ScalefitError

DESCRIPTION = """\
Close the loop between the analysis and the runner. Each round fits the runner's gain table
(one richness level, one split), ranks the candidate sizes not yet run by the expected reduction
of the forecast's 95% interval width at --target per unit of compute (the design criterion of
`scalefit design`, with the runner's FLOP estimate as the cost), runs the runner at the best one,
appends its rows and refits. It prints each round's choice, why, and how the 95% interval at the
target moved. The preset's own sizes (--sizes) are run first as the initial table.

State: OUT/loop.json beside the runner's tables and checkpoints. Interrupt it and rerun the same
command to resume; raise --budget and rerun to continue. See docs/runner.md ("The closed loop").

Examples:
  scalefit loop --preset tiny --out runs/loop --budget 3 --candidates 60k,100k,150k
  scalefit loop --preset smoke --out runs/loop-smoke --budget 45m --target 1m
  # the runner's study (README): after `scalefit run --preset study --out runs/study`, three
  # rounds on its checkpoints, forecasting OPSD - base at 10M parameters
  scalefit loop --preset study --sizes 60k,200k,600k --candidates 100k,300k,1m,2m \
      --target 10m --baseline base --budget 3 --out runs/loop \
      --checkpoint-dir runs/study/checkpoints
  scalefit fit runs/loop/gains.csv          # the table the loop built
"""

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)$")
_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def budget(text: str) -> tuple[int | None, float | None]:
    """``"3"`` → three rounds; ``"45m"``, ``"2h"``, ``"90s"`` → that much wall time of rounds."""
    text = text.strip().lower()
    if text.isdigit() and int(text) >= 1:
        return int(text), None
    m = _DURATION.match(text)
    if m and float(m.group(1)) > 0:
        return None, float(m.group(1)) * _SECONDS[m.group(2)]
    raise argparse.ArgumentTypeError(f"expected a number of rounds (3) or a wall time (45m, 2h, "
                                     f"90s), got {text!r}")


def add_parser(sub) -> None:
    from scalefit.methods import DEFAULT_METHOD, method_names
    from scalefit.runner import cli as runner_cli

    p = sub.add_parser("loop", help="closed loop: fit, pick the next size by information per "
                                    "compute, run it, refit (needs the runner extra: torch)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("the loop")
    g.add_argument("--budget", type=budget, required=True, metavar="B",
                   help="rounds (e.g. 3) or wall time of rounds (e.g. 45m, 2h), counted over "
                        "every invocation on this --out")
    g.add_argument("--candidates", type=runner_cli.sizes_type, default=None, metavar="LIST",
                   help="sizes the loop may run next (default: the family sizes above the "
                        "preset's smallest up to 300k that the preset does not run)")
    g.add_argument("--target", default="1m", metavar="SIZE",
                   help="size whose gain the loop wants to pin down (a family name or shape; "
                        "default 1m, beyond what the CPU presets train)")
    g.add_argument("--fit-richness", type=runner_cli.unit_type, default=None, metavar="R",
                   help="richness level fitted (default: the first level run)")
    g.add_argument("--split", choices=("id", "ood"), default="id",
                   help="evaluation split fitted (default id)")
    g.add_argument("--baseline", choices=("sft", "base"), default="sft",
                   help="gain fitted: OPSD - SFT (default) or OPSD - base")
    g.add_argument("--interval", "--method", choices=method_names(), default=DEFAULT_METHOD,
                   metavar="METHOD",
                   help=f"the forecast whose 95%% interval at the target the loop shrinks and "
                        f"reports (default {DEFAULT_METHOD}, docs/calibration.md); any of: "
                        f"{', '.join(method_names())}")
    g.add_argument("--n-sims", type=runner_cli.positive_type(int), default=200, metavar="S",
                   help="simulations per candidate in the design criterion (default 200)")
    runner_cli.add_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from scalefit.cli.common import require_torch

    require_torch("scalefit loop")
    from scalefit.runner import cli as runner_cli
    from scalefit.runner.config import resolve_size
    from scalefit.loop import LoopSettings, default_candidates, run_loop

    cfg = runner_cli.config_from_args(args)
    try:
        resolve_size(args.target)
    except ValueError as err:
        raise ScalefitError(str(err)) from None
    candidates = args.candidates or default_candidates(cfg)
    if not candidates:
        raise ScalefitError("no candidate sizes: give --candidates")
    settings = LoopSettings(
        candidates=tuple(candidates), target=args.target,
        richness=cfg.richness[0] if args.fit_richness is None else args.fit_richness,
        split=args.split, baseline=args.baseline, interval=args.interval, n_sims=args.n_sims,
        seed=cfg.seed)
    rounds, seconds = args.budget
    out = args.out or f"runs/loop-{args.preset}"
    state = run_loop(cfg, out, settings, budget_runs=rounds, budget_seconds=seconds,
                     workers=args.workers or 1, scheduler=args.scheduler,
                     checkpoint_dir=args.checkpoint_dir, quiet=args.quiet)
    done = [r for r in state["rounds"] if r["status"] == "done"]
    print(f"\n{len(done)} round(s) in {out}: " + ", ".join(r["size"] for r in done)
          + f"; state in {out}/loop.json; fit the table with: scalefit fit {out}/gains.csv")
    return 0
