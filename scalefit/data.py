"""Gain tables: load, validate, convert units, derive gains from accuracy tables.

A gain table is a CSV (comma, semicolon or tab separated) or an ``.xlsx`` sheet with one row per
(size, benchmark): the model size, the gain in percentage points and its standard error,
optionally a benchmark and any other columns (kept as ``extra``).
Column names are matched case-insensitively after turning every run of non-alphanumerics into
``_`` (so ``Size (B)`` reads as ``size_b``); accepted names:

=========  =====================================================================================
size       ``size``, ``model_size`` (unit from ``size_unit``, default B);
           ``size_b``, ``params_b``, ``n_params_b``, ``model_size_b`` (billions);
           ``size_m``, ``params_m``, ``n_params_m``, ``model_size_m`` (millions);
           ``size_k``, ``params_k`` (thousands); ``params``, ``n_params``, ``num_params``,
           ``parameters`` (raw counts, converted to billions)
gain       ``gain``, ``gain_pp``, ``delta``, ``delta_pp``, ``improvement``, ``improvement_pp``
se         ``se``, ``se_pp``, ``gain_se``, ``stderr``, ``std_err``, ``sem``, ``sigma``
benchmark  ``benchmark``, ``task``, ``dataset`` (optional)
baseline   ``accuracy_baseline``, ``baseline_accuracy``: the baseline's accuracy
           (pp), which narrows a gain's possible range (optional)
=========  =====================================================================================

An *accuracy table* instead has ``method``, a size column, ``benchmark``, an accuracy
(``accuracy_pct``/``accuracy``/``acc`` in percent, or ``accuracy_frac``/``acc_frac``) and the number
of problems (``n_problems``/``n_items``/``num_problems``); ``gains_from_accuracies`` turns it into
gains of a treatment over a baseline (see its docstring for the standard error).

Sizes may be written with a suffix (``0.5B``, ``70M``, ``1.2 T``, ``350k``; ``scalefit.sizes``) and
are converted to the column's unit; a table with no size column but a model-name column
(``model``, ``model_name``, ``name``, ``model_id``, ``checkpoint``, ``base_model``) takes the sizes
from the names (``Qwen3-8B``, ``pythia-410m``). Gains are in percentage points; a table whose every
|gain| and se is ≤ 1 is refused as possibly fractions unless the gain unit is given.

Fits run in the table's size unit. Any problem with the file is a ``DataError`` whose one-line
message names the file, the row (1-based data row, and the line in the file) and the column.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import DataError
from scalefit.sizes import UNIT_FACTORS, parse_sizes, size_tokens

UNIT_NAMES = {"B": "billions of parameters", "M": "millions of parameters",
              "K": "thousands of parameters", "count": "parameters"}

SIZE_COLUMNS = {
    "size": None, "model_size": None,
    "size_b": "B", "params_b": "B", "n_params_b": "B", "model_size_b": "B",
    "size_m": "M", "params_m": "M", "n_params_m": "M", "model_size_m": "M",
    "size_k": "K", "params_k": "K",
    "params": "count", "n_params": "count", "num_params": "count", "parameters": "count",
}
GAIN_COLUMNS = ("gain", "gain_pp", "delta", "delta_pp", "improvement", "improvement_pp")
# A table may give one curve of another quantity instead of gains; the column says which.
VALUE_KINDS = {"accuracy": ("accuracy", "accuracy_pct", "acc", "acc_pct"), "loss": ("loss",)}
VALUE_RANGES = {"accuracy": (0.0, 100.0), "loss": (0.0, np.inf)}
KINDS = ("gain", *VALUE_KINDS)  # what a table's values are (``GainTable.kind``)
SE_COLUMNS = ("se", "se_pp", "gain_se", "stderr", "std_err", "sem", "sigma")
BENCHMARK_COLUMNS = ("benchmark", "task", "dataset")
MODEL_COLUMNS = ("model", "model_name", "name", "model_id", "checkpoint", "base_model")
GAIN_UNITS = ("pp", "fraction")
DELIMITERS = (",", ";", "\t")
SIZE_HINT = "a number, optionally with a suffix K, M, B or T: 0.5B, 70M, 350k"
METHOD_COLUMNS = ("method",)
ACCURACY_COLUMNS = {"accuracy_pct": 1.0, "accuracy": 1.0, "acc": 1.0, "acc_pct": 1.0,
                    "accuracy_frac": 100.0, "acc_frac": 100.0}
N_PROBLEMS_COLUMNS = ("n_problems", "n_items", "num_problems")
# A column of the baseline's accuracy (pp) at each row narrows a gain's possible range.
BASELINE_COLUMNS = ("accuracy_baseline", "baseline_accuracy")
GAIN_RANGE = (-100.0, 100.0)  # a gain in pp of an accuracy: the possible range of a table's values


def normalise_name(name: str) -> str:
    """``'Size (B)'`` → ``'size_b'``: lower case, non-alphanumeric runs to one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


@dataclass
class GainTable:
    """Values ± standard errors at model sizes (in ``size_unit``): gains of a method over its
    baseline in percentage points, or one curve of an accuracy or a loss.

    ``kind`` says what ``value`` holds: ``"gain"`` (the default), ``"accuracy"`` (pp) or
    ``"loss"``; the default forecast's constants depend on it (``scalefit.methods.damped``).
    ``bounds`` is the possible range of the values ([0, 100] for an accuracy, (0, ∞) for a loss);
    predictions never leave it. Left as None, ``value_range`` infers it: a gain in pp of an
    accuracy lies in [−100, 100], and in [−a, 100 − a] when the table carries the baseline's
    accuracy a (column ``baseline_column``; see ``value_range``).
    """

    size: np.ndarray
    value: np.ndarray
    se: np.ndarray
    size_unit: str = "B"
    benchmark: np.ndarray | None = None
    extra: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: str = "<memory>"
    notes: list[str] = field(default_factory=list)
    bounds: tuple[float, float] | None = None
    baseline_column: str | None = None
    kind: str = "gain"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        self.size, self.value, self.se = (np.asarray(v, dtype=float)
                                          for v in (self.size, self.value, self.se))
        if self.benchmark is not None:
            self.benchmark = np.asarray(self.benchmark, dtype=object)
        if self.extra is None or self.extra.empty and len(self.extra.columns) == 0:
            self.extra = pd.DataFrame(index=range(len(self.size)))
        self.extra = self.extra.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.size)

    @property
    def value_range(self) -> tuple[float, float]:
        """The possible range of the values: ``bounds`` if given; the kind's for an accuracy
        ([0, 100]) or a loss ((0, ∞)); else, for a gain table that carries
        the baseline's accuracy a (pp) in ``baseline_column``, [−max a, 100 − min a] over the rows
        at the largest size, a gain's range if the baseline's accuracy at the sizes forecast is
        that at the largest measured one (the usual case of a baseline that does not get worse
        with size keeps every possible gain above the lower bound); else [−100, 100]."""
        if self.bounds is not None:
            return tuple(self.bounds)
        if self.kind in VALUE_RANGES:
            return VALUE_RANGES[self.kind]
        if self.baseline_column is None or self.baseline_column not in self.extra:
            return GAIN_RANGE
        a = pd.to_numeric(self.extra[self.baseline_column], errors="coerce").to_numpy(float)
        a = a[self.size == self.size.max()]
        a = a[np.isfinite(a)]
        if a.size == 0:
            return GAIN_RANGE
        return (0.0 - float(a.max()), 100.0 - float(a.min()))  # 0.0 -: never −0

    @property
    def unit_label(self) -> str:
        return UNIT_NAMES[self.size_unit]

    @property
    def benchmarks(self) -> list[str]:
        return [] if self.benchmark is None else list(dict.fromkeys(self.benchmark))

    @property
    def value_name(self) -> str:
        """The value column's name: ``gain``, ``accuracy`` or ``loss`` (the kind)."""
        return self.kind

    def to_frame(self) -> pd.DataFrame:
        """Canonical columns (``size``, the value named by its kind, ``se``, ``benchmark``) and
        the extra ones."""
        frame = pd.DataFrame({"size": self.size, self.value_name: self.value, "se": self.se})
        if self.benchmark is not None:
            frame["benchmark"] = self.benchmark
        return pd.concat([frame, self.extra.drop(columns=frame.columns, errors="ignore")], axis=1)

    def take(self, rows) -> "GainTable":
        """The table restricted to (and ordered by) ``rows``: integer indices or a boolean mask."""
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
        return replace(self, size=self.size[rows], value=self.value[rows], se=self.se[rows],
                       benchmark=None if self.benchmark is None else self.benchmark[rows],
                       extra=self.extra.iloc[rows].reset_index(drop=True), notes=list(self.notes))

    def sorted(self) -> "GainTable":
        return self.take(np.argsort(self.size, kind="stable"))

    def select(self, benchmark: str) -> "GainTable":
        """Rows of one benchmark (``"mean"`` pools all benchmarks, see ``pooled``)."""
        if benchmark == "mean":
            return self.pooled()
        if benchmark not in self.benchmarks:
            have = ", ".join(map(str, self.benchmarks)) or "none (the table has no benchmark column)"
            raise DataError(f"{self.source}: no benchmark {benchmark!r}; the table has {have}")
        out = self.take(self.benchmark == benchmark)
        out.notes.append(f"benchmark {benchmark}")
        return out

    def pooled(self) -> "GainTable":
        """The mean gain over benchmarks at each size, SE = sqrt(Σ se²) / m (benchmarks taken
        as independent). Only sizes measured on every benchmark are kept."""
        if self.benchmark is None:
            return self
        names = self.benchmarks
        frame = self.to_frame()
        counts = frame.groupby("size")["benchmark"].nunique()
        complete = counts[counts == len(names)].index
        if len(complete) == 0:
            raise DataError(f"{self.source}: no size is measured on all of {', '.join(names)}")
        sub = frame[frame["size"].isin(complete)]
        agg = sub.groupby("size").agg(value=(self.value_name, "mean"),
                                      se=("se", lambda s: np.sqrt(np.sum(s**2)) / len(s)))
        dropped = sorted(set(frame["size"]) - set(complete))
        notes = list(self.notes) + [f"mean over benchmarks {', '.join(map(str, names))} "
                                    "(independent SEs)"]
        if dropped:
            notes.append(f"sizes {dropped} dropped: not measured on every benchmark")
        return GainTable(agg.index.to_numpy(), agg["value"].to_numpy(), agg["se"].to_numpy(),
                         self.size_unit, source=self.source, notes=notes, bounds=self.bounds,
                         kind=self.kind)

    def split(self, by: list[str]) -> dict[str, "GainTable"]:
        """One table per level of the ``by`` columns (``"benchmark"`` or extra columns)."""
        frame = self.to_frame()
        missing = [c for c in by if c not in frame.columns]
        if missing:
            raise DataError(f"{self.source}: no column {missing[0]!r} to group by; columns are "
                            f"{', '.join(frame.columns)}")
        groups = {}
        for key, idx in frame.groupby(list(by), sort=False, dropna=False).indices.items():
            key = key if isinstance(key, tuple) else (key,)
            label = (str(key[0]) if len(by) == 1
                     else ",".join(f"{c}={v}" for c, v in zip(by, key)))
            mask = np.zeros(len(self), bool)
            mask[np.asarray(idx)] = True
            groups[label] = self.take(mask)
            groups[label].notes.append(", ".join(f"{c} = {v}" for c, v in zip(by, key)))
        return groups


def _where(source: str, row: int, column: str) -> str:
    return f"{source}, row {row + 1} (line {row + 2}), column {column!r}"


def _find(columns: dict[str, str], names, what: str, source: str, required: bool = True):
    """The one raw column whose normalised name is among ``names`` (error if several)."""
    hits = [raw for norm, raw in columns.items() if norm in names]
    if len(hits) > 1:
        raise DataError(f"{source}: columns {', '.join(map(repr, hits))} all look like the {what}; "
                        "keep one")
    if not hits and required:
        raise DataError(f"{source}: missing the {what} column (one of: {', '.join(names)}); "
                        f"columns are {', '.join(map(repr, columns.values())) or 'none'}")
    return hits[0] if hits else None


def _numbers(frame: pd.DataFrame, column: str, source: str, *, positive: bool = False,
             what: str = "", size_unit: str | None = None) -> np.ndarray:
    """A numeric column; empty cells, text, infinities (and non-positive values) are errors.

    With ``size_unit`` the cells are sizes (``7B``, ``350M`` or plain numbers, see
    ``scalefit.sizes.parse_sizes``) converted to that unit."""
    raw = frame[column]
    values = (pd.to_numeric(raw.str.strip(), errors="coerce").to_numpy(dtype=float)
              if size_unit is None else parse_sizes(raw, size_unit))
    for i, (text, v) in enumerate(zip(raw, values)):
        if text.strip() == "" or text.strip().lower() in ("nan", "na", "null", "none"):
            raise DataError(f"{_where(source, i, column)}: empty or NaN value")
        if not np.isfinite(v):
            kind = ("infinite" if np.isinf(v) else "not a number" if size_unit is None
                    else f"not a size ({SIZE_HINT})")
            raise DataError(f"{_where(source, i, column)}: {text.strip()!r} is {kind}")
        if positive and v <= 0:
            raise DataError(f"{_where(source, i, column)}: {what} must be > 0, got {text.strip()}")
    return values


def read_table(path: str | Path) -> pd.DataFrame:
    """The file as text cells (so that row and column of a bad cell can be named).

    CSV and TSV files are split on whichever of comma, semicolon and tab occurs most in the
    header line; in a semicolon-separated file, decimal commas (``0,5``) are read as points.
    ``.xlsx`` files are read from their first sheet with pandas (needs ``openpyxl``).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a CSV file")
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(path)
    try:
        delimiter = _delimiter(path)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                            comment="#", sep=delimiter)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    if delimiter == ";":
        frame = frame.replace(r"^\s*([+-]?\d+),(\d+)\s*$", r"\1.\2", regex=True)
    return frame


def _delimiter(path: Path) -> str:
    """The most frequent of ``DELIMITERS`` in the first line that is not a comment."""
    with path.open(encoding="utf-8") as handle:
        header = next((line for line in handle if line.strip() and not line.startswith("#")), "")
    counts = [header.count(d) for d in DELIMITERS]
    return DELIMITERS[int(np.argmax(counts))]


def _read_xlsx(path: Path) -> pd.DataFrame:
    """The first sheet of an Excel workbook as text cells (empty cells as empty strings)."""
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=str)
    except ImportError:
        raise DataError(f"{path}: reading .xlsx needs openpyxl: pip install "
                        "'scalefit[xlsx]'") from None
    except (ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not a readable .xlsx ({str(err).splitlines()[0]})") from None
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    return frame.fillna("")


def with_size_from_model_names(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str]]:
    """A frame without a size column but with a model-name column (``model``, ``model_name``,
    ``name``, …) gets a ``size`` column of the size tokens in the names (``Qwen3-8B`` → ``8B``),
    and a note saying which column they came from. Any other frame is returned as it is."""
    columns = {normalise_name(c): c for c in frame.columns}
    model = None if set(columns) & set(SIZE_COLUMNS) else _find(columns, MODEL_COLUMNS,
                                                                "model name", source, False)
    if model is None:
        return frame, []
    tokens = size_tokens(frame[model])
    missing = np.flatnonzero(tokens.isna().to_numpy())
    if len(missing):
        i = int(missing[0])
        raise DataError(f"{_where(source, i, model)}: no single size in the model name "
                        f"{frame[model].iloc[i]!r} (expected e.g. Qwen3-8B, pythia-410m) and "
                        "no size column")
    return (frame.assign(size=tokens.to_numpy()),
            [f"sizes read from the model names in column {model!r}"])


def _size_column(columns, source, size_unit):
    raw = _find(columns, tuple(SIZE_COLUMNS), "size", source)
    unit = SIZE_COLUMNS[normalise_name(raw)]
    if unit is None:
        unit = size_unit or "B"
    elif size_unit is not None and size_unit != unit:
        raise DataError(f"{source}: column {raw!r} is in unit {unit} but size_unit={size_unit} "
                        f"was requested; rename the column or drop size_unit={size_unit}")
    if unit not in UNIT_FACTORS:
        raise DataError(f"{source}: unknown size unit {unit!r}; use one of "
                        f"{', '.join(UNIT_FACTORS)}")
    return raw, unit


def _check_duplicates(keys: pd.DataFrame, source: str, other_columns: list[str]):
    dup = keys.duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())
        first = keys.iloc[rows[0]]
        same = rows[(keys.iloc[rows] == first).all(axis=1).to_numpy()]
        desc = ", ".join(f"{c} = {first[c]}" for c in keys.columns)
        hint = (f"; group them with by=COLUMN (candidate columns: {', '.join(other_columns)})"
                if other_columns else "")
        raise DataError(f"{source}, rows {', '.join(str(r + 1) for r in same)} (lines "
                        f"{', '.join(str(r + 2) for r in same)}), column {keys.columns[0]!r}: "
                        f"duplicate {desc}{hint}")


def gains_from_accuracies(frame: pd.DataFrame, treatment: str, baseline: str,
                          source: str = "<memory>") -> pd.DataFrame:
    """Gain of ``treatment`` over ``baseline`` per (size, benchmark) from an accuracy table.

    gain = acc_T − acc_B in percentage points, and

        se = 100 · sqrt(p_T (1 − p_T) / n + p_B (1 − p_B) / n)

    with p the accuracies as fractions and n the benchmark's number of problems. This treats the
    problems as a sample from a population of problems and the two methods as independent. It is
    an upper bound on each accuracy's sampling SE when every problem is answered several times
    (avg@k): Var = (Var_i(p_i) + E[p_i(1 − p_i)]/k) / n ≤ p(1 − p)/n. Pairing (both methods on the
    same problems) would make the true SE of the difference smaller still, but needs per-problem
    results that published tables do not give: the SE is conservative.
    """
    columns = {normalise_name(c): c for c in frame.columns}
    method = _find(columns, METHOD_COLUMNS, "method", source)
    size_raw = _find(columns, tuple(SIZE_COLUMNS), "size", source)
    bench = _find(columns, BENCHMARK_COLUMNS, "benchmark", source)
    acc = _find(columns, tuple(ACCURACY_COLUMNS), "accuracy", source)
    n_col = _find(columns, N_PROBLEMS_COLUMNS, "number of problems", source)
    scale = ACCURACY_COLUMNS[normalise_name(acc)]
    accuracy = _numbers(frame, acc, source) * scale
    n = _numbers(frame, n_col, source, positive=True, what="number of problems")
    for i, a in enumerate(accuracy):
        if not 0.0 <= a <= 100.0:
            raise DataError(f"{_where(source, i, acc)}: accuracy {a:g}% is outside 0-100")
    methods = frame[method].str.strip()
    for name in (treatment, baseline):
        if name not in set(methods):
            raise DataError(f"{source}, column {method!r}: no method {name!r}; the table has "
                            f"{', '.join(dict.fromkeys(methods))}")
    work = pd.DataFrame({"method": methods, "size": frame[size_raw].str.strip(),
                         "benchmark": frame[bench].str.strip(), "acc": accuracy, "n": n})
    _check_duplicates(work[["method", "size", "benchmark"]], source, [])
    both = pd.merge(work[work["method"] == treatment], work[work["method"] == baseline],
                    on=["size", "benchmark"], suffixes=("_t", "_b"), how="inner")
    if both.empty:
        raise DataError(f"{source}: {treatment!r} and {baseline!r} share no (size, benchmark)")
    p_t, p_b = both["acc_t"] / 100.0, both["acc_b"] / 100.0
    se = 100.0 * np.sqrt(p_t * (1 - p_t) / both["n_t"] + p_b * (1 - p_b) / both["n_b"])
    out = pd.DataFrame({size_raw: both["size"],
                        "gain": (both["acc_t"] - both["acc_b"]).to_numpy(),
                        "se": se.to_numpy(),
                        "benchmark": both["benchmark"],
                        f"accuracy_{treatment}": both["acc_t"].to_numpy(),
                        f"accuracy_{baseline}": both["acc_b"].to_numpy(),
                        "n_problems": both["n_t"].to_numpy()})
    # A binomial SE is 0 at accuracy 0 or 100 on both sides; floor it at one problem's worth.
    floor = 100.0 / out["n_problems"]
    out["se"] = np.maximum(out["se"], floor)
    return out.astype(str)


def is_accuracy_table(frame: pd.DataFrame) -> bool:
    names = {normalise_name(c) for c in frame.columns}
    return bool(names & set(METHOD_COLUMNS)) and bool(names & set(ACCURACY_COLUMNS))


def _in_percentage_points(gain: np.ndarray, se: np.ndarray, gain_unit: str | None,
                          gain_column: str, source: str):
    """Gains and SEs in pp, and a note if they were converted. ``gain_unit`` None: refuse a
    table that looks like fractions (every |gain| ≤ 1 and every se ≤ 1) unless the gain
    column's name says pp (``gain_pp``, ``delta_pp``, …)."""
    if gain_unit == "fraction":
        return 100.0 * gain, 100.0 * se, ["gains and SEs given as fractions, multiplied by 100 "
                                          "to percentage points"]
    if gain_unit not in (None, "pp"):
        raise DataError(f"{source}: unknown gain unit {gain_unit!r}; use one of "
                        f"{', '.join(GAIN_UNITS)}")
    named_pp = normalise_name(gain_column).endswith("_pp")
    if gain_unit is None and not named_pp and np.all(np.abs(gain) <= 1) and np.all(se <= 1):
        raise DataError(f"{source}: every |gain| ≤ 1 and every se ≤ 1: these look like "
                        "fractions (0.012 for 1.2 pp); give gain_unit=fraction to multiply "
                        "them by 100, or gain_unit=pp if they are percentage points")
    return gain, se, []


def gain_table_from_frame(frame: pd.DataFrame, source: str = "<memory>", *,
                          size_unit: str | None = None, by: tuple[str, ...] = (),
                          gain_unit: str | None = None) -> GainTable:
    """Validate a frame of text cells and build a ``GainTable`` (see the module docstring).

    ``gain_unit`` is ``"pp"``, ``"fraction"`` (gains and SEs are multiplied by 100) or None
    (percentage points, but a table whose every |gain| and se is ≤ 1 is refused as ambiguous)."""
    columns = {normalise_name(c): c for c in frame.columns}
    size_raw, unit = _size_column(columns, source, size_unit)
    kind = next((k for k, names in VALUE_KINDS.items() if any(n in columns for n in names)), None)
    if _find(columns, GAIN_COLUMNS, "gain", source, required=False) is not None or kind is None:
        gain_raw, bounds, kind = _find(columns, GAIN_COLUMNS, "gain", source), None, "gain"
    else:  # a curve of accuracies or losses rather than gains: its own possible range
        gain_raw = _find(columns, VALUE_KINDS[kind], kind, source)
        bounds = VALUE_RANGES[kind]
    se_raw = _find(columns, SE_COLUMNS, "standard error", source)
    bench_raw = _find(columns, BENCHMARK_COLUMNS, "benchmark", source, required=False)

    size = _numbers(frame, size_raw, source, positive=True, what="size", size_unit=unit)
    gain = _numbers(frame, gain_raw, source)
    se = _numbers(frame, se_raw, source, positive=True, what="standard error")
    notes = []
    if kind != "loss":  # a loss has no percentage points to check
        gain, se, notes = _in_percentage_points(gain, se, gain_unit, gain_raw, source)
    if bounds is not None:
        notes.append(f"values are {kind} (column {gain_raw!r}): possible range "
                     f"[{bounds[0]:g}, {bounds[1]:g}]")
    if unit == "count":
        size, unit = size / UNIT_FACTORS["B"], "B"
        notes.append(f"sizes converted from parameter counts ({size_raw!r}) to billions")

    used = {size_raw, gain_raw, se_raw, bench_raw}
    extra = frame[[c for c in frame.columns if c not in used]].copy()
    for col in extra.columns:  # numeric extras as numbers, text stays text
        converted = pd.to_numeric(extra[col], errors="coerce")
        if converted.notna().all():
            extra[col] = converted
    benchmark = None if bench_raw is None else frame[bench_raw].str.strip().to_numpy(dtype=object)

    by_raw = []
    for name in by:
        if normalise_name(name) in ("benchmark", "task", "dataset") and bench_raw is not None:
            continue
        hit = columns.get(normalise_name(name))
        if hit is None or hit in used:
            raise DataError(f"{source}: no column {name!r} to group by; columns are "
                            f"{', '.join(map(repr, frame.columns))}")
        by_raw.append(hit)
    keys = pd.DataFrame({size_raw: size})
    if benchmark is not None:
        keys[bench_raw] = benchmark
    for col in by_raw:
        keys[col] = frame[col].to_numpy()
    _check_duplicates(keys, source, [c for c in extra.columns if c not in by_raw])
    return GainTable(size, gain, se, unit, benchmark, extra, source, notes, bounds, kind=kind)


def default_sizes(table: GainTable) -> list[float]:
    """The paper's 14, 70 and 405 B for tables in billions; else 2x, 10x and 100x the largest size."""
    if table.size_unit == "B":
        return [14.0, 70.0, 405.0]
    top = float(table.size.max())
    return [2 * top, 10 * top, 100 * top]


def text_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """An in-memory frame as the text cells ``read_table`` gives (missing values as "")."""
    return frame.astype(object).where(frame.notna(), "").astype(str).reset_index(drop=True)


def load_gain_table(path: str | Path | pd.DataFrame, *, size_unit: str | None = None,
                    treatment: str | None = None, baseline: str | None = None,
                    by: tuple[str, ...] = (), gain_unit: str | None = None,
                    bounds: tuple[float, float] | None = None,
                    benchmark: str | None = None) -> GainTable:
    """Read and validate a gain table (or an accuracy table, turned into gains) from a file or
    a pandas DataFrame of the same columns: the one loader behind ``sf.load`` and every command.

    The file is a CSV/TSV (comma, semicolon or tab) or an ``.xlsx`` workbook (``read_table``).
    ``size_unit`` gives the unit of a size column whose name does not carry one (default B);
    sizes may carry a suffix (``7B``, ``350M``), and a table without a size column may give
    them in a model-name column (``Qwen3-8B``). For accuracy tables the gain is ``treatment``
    (default ``OPSD``) minus ``baseline`` (default ``SFT``). ``by`` names extra columns whose
    levels are fitted separately (duplicate sizes are allowed across their levels).
    ``gain_unit``: see ``gain_table_from_frame``. ``bounds`` is the possible range of the values
    (a value outside it is an error naming its row); ``benchmark`` keeps one benchmark
    (``"mean"`` pools them). A column of the baseline's accuracy (``BASELINE_COLUMNS``, or the
    ``baseline`` arm of an accuracy table) narrows a gain's range (``GainTable.value_range``).
    Raises ``DataError`` with a one-line message on bad input.
    """
    if isinstance(path, pd.DataFrame):
        source, frame = "<DataFrame>", text_cells(path)
    else:
        source, frame = str(path), read_table(path)
    frame, notes = with_size_from_model_names(frame, source)
    if is_accuracy_table(frame):
        if gain_unit == "fraction":
            raise DataError(f"{source}: gain_unit=fraction is for gain tables; an accuracy "
                            "table's unit is in its accuracy column's name (accuracy_pct, "
                            "accuracy_frac)")
        treatment, baseline, gain_unit = treatment or "OPSD", baseline or "SFT", "pp"
        frame = gains_from_accuracies(frame, treatment, baseline, source)
        notes.append(f"gains = {treatment} − {baseline} accuracy (pp); SE from binomial "
                     "accuracies and problem counts")
    elif treatment or baseline:
        raise DataError(f"{source}: treatment=METHOD and baseline=METHOD need an accuracy "
                        "table (columns method and accuracy); this is already a gain table")
    table = gain_table_from_frame(frame, source, size_unit=size_unit, by=tuple(by),
                                  gain_unit=gain_unit)
    table.notes[:0] = notes
    known = [f"accuracy_{baseline}"] if baseline is not None else []
    table.baseline_column = next((c for c in known + list(BASELINE_COLUMNS)
                                  if c in table.extra), None)
    if bounds is not None:
        table = with_bounds(table, bounds)
    return table if benchmark is None else table.select(benchmark)


def with_bounds(table: GainTable, bounds: tuple[float, float]) -> GainTable:
    """``table`` with the possible range ``bounds``; a value outside it is an error naming the
    first such row."""
    lo, hi = bounds
    outside = (table.value < lo) | (table.value > hi)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataError(f"{table.source}, row {row + 1}: {table.kind} {table.value[row]:g} is "
                        f"outside the range bounds={lo:g},{hi:g}")
    return replace(table, bounds=(float(lo), float(hi)))
