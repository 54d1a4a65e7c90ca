"""``scalefit run``: the OPSD runner (options and work live in ``scalefit.runner.cli``)."""

from __future__ import annotations

import argparse
import importlib.util


def add_parser(sub) -> None:
    # the runner's module imports no torch, so `scalefit --help` stays fast without the extra
    from scalefit.runner import cli as runner_cli

    p = sub.add_parser("run", help="measure OPSD gains over model sizes: the runner's own family "
                                   "or transformers checkpoints (needs the runner extra: torch; "
                                   "--models needs the hf extra)",
                       description=runner_cli.DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    runner_cli.add_arguments(p)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from scalefit.cli.common import require_torch
    from scalefit.errors import ScalefitError
    from scalefit.runner import cli as runner_cli

    require_torch("scalefit run")
    if runner_cli.config_from_args(args).real:
        missing = [m for m in ("transformers", "peft", "math_verify")
                   if importlib.util.find_spec(m) is None]
        if missing:
            raise ScalefitError(f"scalefit run --models needs {', '.join(missing)}: "
                                "pip install -e '.[hf]'")
    return runner_cli.main(args)
