"""``scalefit run``: the OPSD runner (options and work live in ``scalefit.runner.cli``)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    # the runner's module imports no torch, so `scalefit --help` stays fast without the extra
    from scalefit.runner import cli as runner_cli

    p = sub.add_parser("run", help="measure OPSD gains over a family of small models (needs "
                                   "the runner extra: torch)",
                       description=runner_cli.DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    runner_cli.add_arguments(p)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from scalefit.cli.common import require_torch
    from scalefit.runner import cli as runner_cli

    require_torch("scalefit run")
    return runner_cli.main(args)
