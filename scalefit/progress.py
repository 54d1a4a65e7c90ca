"""Progress bars for long work (tqdm on stderr), silenced by ``quiet``."""

from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             quiet: bool = False, unit: str = "it") -> tqdm:
    """A tqdm bar; ``quiet=True`` disables it. Use as an iterator or call ``update`` by hand."""
    return tqdm(iterable, total=total, desc=desc, disable=quiet, unit=unit, leave=False,
                dynamic_ncols=True)
