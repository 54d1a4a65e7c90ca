"""Model sizes as people write them, and the default grid of sizes to measure next.

``parse_sizes`` reads ``0.5B``, ``7B``, ``70M``, ``1.2 T``, ``350k`` (suffixes K, M, B, T in any
case, with or without a space) and plain numbers, and converts them to a table's size unit.
``size_tokens`` finds the size inside model names such as ``Qwen3-8B``, ``Llama-2-70b-hf`` or
``pythia-410m``. ``default_candidates`` is the grid ``scalefit design`` ranks when no
``--candidates`` are given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SUFFIX_FACTORS = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
UNIT_FACTORS = {"B": 1e9, "M": 1e6, "K": 1e3, "count": 1.0}

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
SIZE_PATTERN = rf"^\s*(?P<number>[+-]?{_NUMBER})\s*(?P<suffix>[KkMmBbTt])?\s*$"
# In a model name the size is a number glued to a suffix and standing alone between separators:
# the "8B" of "Qwen3-8B", not the "3" of "Qwen3" nor the "3B" of "Qwen3-30B-A3B".
NAME_SIZE_PATTERN = r"(?<![0-9A-Za-z.])(\d+(?:\.\d+)?\s?[KkMmBbTt])(?![0-9A-Za-z])"

PAPER_SIZES_B = (13.0, 32.0, 70.0)


def parse_sizes(texts, unit: str = "B") -> np.ndarray:
    """Sizes in ``unit`` (``B``, ``M``, ``K`` or ``count``) from text cells.

    A number with a suffix (K, M, B, T, any case, optional space) is converted: ``'70M'`` in B is
    0.07. A bare number is taken to be in ``unit`` already. Cells that are neither are NaN (the
    caller names the row); the numbers themselves are not checked for sign or finiteness.
    """
    parts = pd.Series(texts, dtype=str).str.extract(SIZE_PATTERN)
    number = pd.to_numeric(parts["number"], errors="coerce").to_numpy(dtype=float)
    suffix = parts["suffix"].str.upper()
    factor = suffix.map(SUFFIX_FACTORS).to_numpy(dtype=float) / UNIT_FACTORS[unit]
    return number * np.where(suffix.isna().to_numpy(), 1.0, factor)


def size_tokens(names) -> pd.Series:
    """The size token of each model name (``'Llama-2-70b-hf'`` → ``'70b'``), or NaN where a
    name holds none or several different ones (``'Mixtral-8x7B'``, ``'gpt2'``)."""
    names = pd.Series(names, dtype=str).reset_index(drop=True)
    hits = names.str.extractall(NAME_SIZE_PATTERN)[0].str.replace(" ", "").str.upper()
    distinct = hits.groupby(level=0).nunique()
    first = hits.groupby(level=0).first()
    return first.where(distinct == 1).reindex(names.index)


def default_candidates(largest: float, target: float, unit: str = "B", per_decade: int = 4,
                       beyond: float = 2.0) -> np.ndarray:
    """The default candidate sizes of ``scalefit design``, in ``unit``, ascending.

    Log-spaced from the largest measured size to ``beyond`` times the target (or times the
    largest size, if that is larger), through the target and, for tables in billions, through
    the scaling paper's sizes 13, 32 and 70 B that fall inside (a paper size closer than half a
    step to the target or an end is left out). Between those anchors the points are evenly
    spaced in log size, about ``per_decade`` per factor of ten: every step is 0.5-1.5 times
    ``1 / per_decade`` decades. Points between anchors are rounded to two significant digits.
    """
    stop = beyond * max(target, largest)
    fixed = np.unique([largest, min(max(target, largest), stop), stop])
    paper = np.asarray(PAPER_SIZES_B if unit == "B" else (), float)
    paper = paper[(paper > largest) & (paper < stop)]
    near = np.abs(np.log10(paper[:, None] / fixed[None, :])).min(axis=1, initial=np.inf)
    anchors = np.unique(np.concatenate([fixed, paper[near >= 0.5 / per_decade]]))
    steps = np.maximum(1, np.round(per_decade * np.log10(anchors[1:] / anchors[:-1]))).astype(int)
    between = [np.geomspace(a, b, k + 1)[1:-1] for a, b, k in zip(anchors, anchors[1:], steps)]
    filled = np.concatenate(between) if between else np.empty(0)
    scale = 10.0 ** (np.floor(np.log10(filled)) - 1)
    return np.unique(np.concatenate([anchors, np.round(filled / scale) * scale]))
