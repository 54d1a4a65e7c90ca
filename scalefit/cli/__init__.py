"""The ``scalefit`` command: parse, call the library, print. One module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from scalefit import __version__
from scalefit.errors import ScalefitError

COMMANDS = ("fit", "backtest", "design", "decompose", "validate", "report", "run", "loop")

DESCRIPTION = """\
scalefit: will a post-training method keep helping as models grow?

Fit candidate scaling laws to a table of gains measured at small model sizes, weight and
average them, and extrapolate with honest uncertainty.

Example:
  scalefit fit data/opsd_scaling_paper.csv --at 14,70,405
"""


# The library names its parameters in its messages (gain_unit=fraction); the CLI says the flag.
FLAGS = {"gain_unit": "--gain-unit", "size_unit": "--size-unit", "by": "--by",
         "criterion": "--criterion", "treatment": "--treatment", "baseline": "--baseline",
         "external": "--external", "bounds": "--range"}


def in_flags(message: str) -> str:
    """``message`` with each ``parameter=VALUE`` of the library written as the CLI's flag."""
    return re.sub(r"\b(" + "|".join(FLAGS) + r")=", lambda m: FLAGS[m.group(1)] + " ", message)


class Parser(argparse.ArgumentParser):
    """Usage errors as one line (plus a pointer to --help) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> Parser:
    parser = Parser(prog="scalefit", description=DESCRIPTION,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"scalefit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"scalefit.cli.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except ScalefitError as err:
        print(f"scalefit {args.command}: error: {in_flags(str(err))}", file=sys.stderr)
        return 2
    except OSError as err:  # unreadable input, unwritable output
        print(f"scalefit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"scalefit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
