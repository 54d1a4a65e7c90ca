"""Argument types and options shared by several subcommands."""

from __future__ import annotations

import argparse
import numpy as np

from scalefit.core.bounds import parse_range
from scalefit.data import GAIN_UNITS, UNIT_FACTORS, GainTable


def size_list(text: str) -> list[float]:
    """``"14,70,405"`` → [14.0, 70.0, 405.0]; every size must be a positive number."""
    try:
        sizes = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes, got {text!r}") from None
    if not sizes or any(not np.isfinite(s) or s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive numbers, got {text!r}")
    return sizes


def int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    return parse


def require_torch(command: str) -> None:
    """One clear line instead of an ImportError when the runner extra is not installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        from scalefit.errors import ScalefitError
        raise ScalefitError(f"{command} needs torch: pip install -e '.[runner]'") from None


def open_interval(low: float, high: float, what: str):
    """An argparse type: a float strictly between ``low`` and ``high``, else "expected {what}"."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not low < value < high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


def name_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def method_help() -> str:
    """Every registered predictive method (``scalefit.methods.METHODS``) and its aliases, for
    --help: the CLI's choices are the registry's, so a new method appears by itself."""
    from scalefit.methods import ALIASES, METHODS

    def aliases(name):
        alias = [a for a, target in ALIASES.items() if target == name]
        return f" (alias {', '.join(alias)})" if alias else ""

    return ", ".join(name + aliases(name) for name in METHODS)


def add_table_arguments(p: argparse.ArgumentParser, optional: bool = False) -> None:
    """The gain-table input and how to read it (``optional``: the table may be left out)."""
    p.add_argument("table", nargs="?" if optional else None,
                   help="gain table (size, gain, se[, benchmark]) or accuracy table "
                        "(method, size, benchmark, accuracy, n_problems): CSV or TSV (comma, "
                        "semicolon or tab) or .xlsx. Sizes may carry a suffix (0.5B, 70M, "
                        "350k) or come from a model-name column (Qwen3-8B)")
    g = p.add_argument_group("reading the table")
    g.add_argument("--size-unit", choices=list(UNIT_FACTORS), default=None,
                   help="unit of a size column whose name carries none (size_b, size_m, ... "
                        "carry theirs); default B. Fits run in the table's unit")
    g.add_argument("--gain-unit", choices=GAIN_UNITS, default=None,
                   help="unit of the gain and se columns: pp (percentage points) or fraction "
                        "(0.012 for 1.2 pp; multiplied by 100). Default pp, but a table whose "
                        "every |gain| and se is <= 1 is refused until this is given")
    g.add_argument("--treatment", default=None,
                   help="accuracy tables: the method whose gain is measured (default OPSD)")
    g.add_argument("--baseline", default=None,
                   help="accuracy tables: the method it is measured against (default SFT)")
    g.add_argument("--benchmark", default=None, metavar="NAME",
                   help="fit one benchmark of the table; 'mean' fits the mean over benchmarks")
    g.add_argument("--per-benchmark", action="store_true",
                   help="fit each benchmark separately (the default when a table has several "
                        "and no --benchmark is given)")
    g.add_argument("--by", type=name_list, default=[], metavar="COL[,COL]",
                   help="fit each level of these columns separately (e.g. richness)")
    g.add_argument("--range", type=value_range, default=None, metavar="LO,HI",
                   help="possible range of the values, which no forecast or interval bound "
                        "leaves (default: -100,100 for a gain in pp, narrowed by the baseline's "
                        "accuracy where the table has it; 0,100 for an 'accuracy' column; 0,inf "
                        "for a 'loss' column)")


def value_range(text: str) -> tuple[float, float]:
    try:
        return parse_range(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def load_groups(args: argparse.Namespace) -> dict[str | None, GainTable]:
    """The table(s) to fit, read by ``sf.load``: ``{None: table}`` for one fit, ``{label: table}``
    for several (each benchmark of a multi-benchmark table, each level of ``--by``)."""
    from scalefit.api import load

    table = load(args.table, size_unit=args.size_unit, treatment=args.treatment,
                 baseline=args.baseline, by=tuple(args.by), gain_unit=args.gain_unit,
                 bounds=args.range, benchmark=args.benchmark)
    by = list(args.by)
    if args.benchmark is None and table.benchmark is not None and (
            args.per_benchmark or len(table.benchmarks) > 1):
        by = ["benchmark"] + [c for c in by if c != "benchmark"]
    if not by:
        return {None: table}
    return table.split(by)
