"""Real scaling curves for backtests: a training table and held-out truths per curve.

Readers for the public data in ``../shared/data/external/`` (never copied into the repository):

- ``obsscaling_curves``: LLM families of the ObsScaling table with at least ``min_train`` sizes
  ≤ ``max_train_size`` B and at least one larger; accuracy (pp) on each benchmark, with binomial
  standard errors 100·sqrt(p(1−p)/n_items) from the benchmark's size (``BENCHMARK_ITEMS``).
- ``learning_curves``: the 92 learning curves of Alabdulmohsin et al. (2022); fit on the rows
  marked ``Training == 1``, score the others. The files give no standard errors: each curve's σ is
  the residual scatter of its best-fitting law with unit weights (so that law has chi²/dof = 1),
  the same σ for every point. Sizes are "seen examples" in millions.
- ``method_gain_curves``: gains of a method over a baseline (chain-of-thought, instruction
  tuning, multitask fine-tuning, prompting techniques), split by ``future_split``.
- ``holdout_curve``: any gain table with its ``k`` largest sizes held out (leave-future-out).

``CORPORA`` names every corpus with what its values are (``kind``), so that scores are reported
per corpus and pooled per kind with equal corpus weight (``scalefit.studies.scoring``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from scalefit.core.bounds import ACCURACY_RANGE, LOSS_RANGE
from scalefit.data import GainTable
from scalefit.errors import ScalefitError

# Items in the evaluation split each ObsScaling accuracy was computed on.
BENCHMARK_ITEMS = {"MMLU": 14042, "ARC-C": 1172, "HellaSwag": 10042, "Winograd": 1267,
                   "TruthfulQA": 817, "GSM8K": 1319, "HumanEval": 164}


@dataclass
class Curve:
    """One backtest case: fit on ``train``, predict ``test_size``, compare with ``test_value``."""

    name: str
    train: GainTable
    test_size: np.ndarray
    test_value: np.ndarray
    group: str = ""
    truth_range: np.ndarray | None = None  # (2, m): the tighter range at each held-out size


def holdout_curve(table: GainTable, k: int, name: str = "") -> Curve:
    """Hold out the ``k`` largest distinct sizes of ``table`` (leave-future-out)."""
    sizes = np.unique(table.size)
    if not 1 <= k < len(sizes):
        from scalefit.errors import ScalefitError

        raise ScalefitError(f"{table.source}: cannot hold out {k} of {len(sizes)} distinct sizes")
    cut = sizes[-k]
    train = table.take(table.size < cut)
    test = table.size >= cut
    return Curve(name or table.source, train, table.size[test], table.value[test])


def obsscaling_curves(path: str | Path, benchmarks=("MMLU", "ARC-C", "HellaSwag"),
                      max_train_size: float = 8.0, min_train: int = 3) -> list[Curve]:
    """One curve per (family, benchmark): fit on sizes ≤ ``max_train_size`` B, predict larger."""
    frame = pd.read_csv(path)
    curves = []
    for family, rows in frame.groupby("Model Family", sort=True):
        size = rows["Model Size (B)"].to_numpy(float)
        small, large = size <= max_train_size, size > max_train_size
        if small.sum() < min_train or not large.any():
            continue
        for bench in benchmarks:
            p = rows[bench].to_numpy(float)
            order = np.argsort(size[small])
            ps = p[small][order]
            se = 100.0 * np.sqrt(ps * (1 - ps) / BENCHMARK_ITEMS[bench])
            train = GainTable(size[small][order], 100.0 * ps, se, "B",
                              source=f"obsscaling:{family}:{bench}", bounds=ACCURACY_RANGE,
                              kind="accuracy")
            curves.append(Curve(f"{family} / {bench}", train, size[large], 100.0 * p[large],
                                group=family))
    return curves


def _residual_sigma(x: np.ndarray, y: np.ndarray) -> float:
    from scalefit.core.average import fit_laws

    fit = fit_laws(GainTable(x, y, np.ones_like(y), "M"))
    ratios = [f.chi2 / (len(x) - f.k) for f in fit.fits.values()
              if f.converged and len(x) > f.k]
    return float(np.sqrt(max(min(ratios), 1e-12)))


def learning_curves(paths) -> list[Curve]:
    """One curve per (domain, task, model) of the given revisiting-benchmark CSV files."""
    frame = pd.concat([pd.read_csv(p) for p in paths]).drop_duplicates()
    curves = []
    for (domain, task, model), rows in frame.groupby(["Domain", "Task", "Model"], sort=True):
        rows = (rows.groupby("Seen Examples", as_index=False)
                .agg(loss=("Loss", "mean"), training=("Training", "max"))
                .sort_values("Seen Examples"))
        train, test = rows[rows.training == 1], rows[rows.training == 0]
        if len(train) < 3 or test.empty:
            continue
        x = train["Seen Examples"].to_numpy(float) / 1e6
        y = train["loss"].to_numpy(float)
        sigma = _residual_sigma(x, y)
        table = GainTable(x, y, np.full_like(y, sigma), "M",
                          source=f"learning:{domain}:{task}:{model}", bounds=LOSS_RANGE,
                           kind="loss")
        curves.append(Curve(f"{domain} / {task} / {model}", table,
                            test["Seen Examples"].to_numpy(float) / 1e6, test["loss"].to_numpy(float),
                            group=domain))
    return curves


# Items per task where a gain table leaves n_problems empty and the benchmark is not in
# ``SPLIT_ITEMS`` (CSQA, StrategyQA, Date, Sports, SayCan, coin flip, last letter, ...): 250, about
# the smallest stated test set (AQuA, 254), so the measurement SE can only be overstated.
FALLBACK_ITEMS = 250
# Items in the evaluation splits the BLOOM/BLOOMZ table names (``dataset:config:split:...``), from
# the datasets' cards: XNLI validation 2490 per language, XCOPA validation 100, XStoryCloze
# validation 1511, XWinograd test per language, ANLI rounds, SuperGLUE, Winogrande XL, StoryCloze
# 2016 validation and HumanEval.
SPLIT_ITEMS = {"xnli": 2490, "xcopa": 100, "xstory_cloze": 1511, "xwinograd:en": 2325,
               "xwinograd:fr": 83, "xwinograd:jp": 959, "xwinograd:pt": 263, "xwinograd:ru": 315,
               "xwinograd:zh": 504, "anli:r1": 1000, "anli:r2": 1000, "anli:r3": 1200,
               "super_glue:cb": 56, "super_glue:copa": 100, "super_glue:rte": 277,
               "winogrande": 1267, "story_cloze": 1871, "HumanEval": 164}


def split_items(benchmark: str) -> float:
    """Items of the split a benchmark name points to (``SPLIT_ITEMS``, most specific key first:
    ``xwinograd:en`` before ``xwinograd``); NaN when unknown."""
    parts = str(benchmark).split(":")
    for k in (2, 1):
        key = ":".join(parts[:k])
        if key in SPLIT_ITEMS:
            return float(SPLIT_ITEMS[key])
    return np.nan


def future_split(size: np.ndarray, max_train_size: float = 8.0, min_small: int = 3,
                 min_train: int = 2) -> np.ndarray | None:
    """Which sizes a gain curve is fitted on (True) when its larger sizes are forecast: every
    size ≤ ``max_train_size`` (B) when there are at least ``min_small`` of them and a larger
    one; otherwise every size but the largest. None when fewer than ``min_train`` distinct sizes
    would remain to fit on."""
    distinct = np.unique(size)
    small = distinct[distinct <= max_train_size]
    if len(small) >= min_small and len(small) < len(distinct):
        train = size <= max_train_size
    else:
        train = size < distinct[-1]
    return train if len(np.unique(size[train])) >= min_train else None


def gain_arms(methods, arms: dict | None) -> dict[str, tuple[str, str]]:
    """``{gain method: (baseline, treatment)}``: ``arms`` as given, or read from names of the
    form ``gain_<treatment>_minus_<baseline>``."""
    if arms is not None:
        return dict(arms)
    out = {}
    for m in methods:
        if str(m).startswith("gain_") and "_minus_" in m:
            treatment, baseline = m[len("gain_"):].split("_minus_", 1)
            out[m] = (baseline, treatment)
    return out


def method_gain_curves(path: str | Path, arms: dict | None = None, corpus: str = "gain",
                       max_train_size: float = 8.0) -> list[Curve]:
    """Gains of a method over a baseline against size (the external ``*_gain_*`` tables): one
    curve per (family, benchmark, gain) split by ``future_split`` (fit on ≤ ``max_train_size`` B
    and forecast the larger sizes, or fit all but the largest size and forecast it). ``arms``
    maps each gain row's ``method`` to its (baseline, treatment) arms (default: read from
    ``gain_<T>_minus_<B>``). The arms' accuracies give the binomial SE of the difference,
    100·sqrt(p₁(1−p₁)/n + p₂(1−p₂)/n), with n from ``n_problems``, else ``split_items``, else
    ``FALLBACK_ITEMS``; and the range of the gain: each training table carries the baseline's
    accuracy (``baseline_column``), so its ``value_range`` is [−a, 100 − a] at the largest
    training size, and ``truth_range`` is the range at each held-out size, known only to the
    scorer."""
    frame = pd.read_csv(path)
    arms = gain_arms(frame["method"].unique(), arms)
    curves = []
    for gain, (baseline, treatment) in arms.items():
        rows_of = frame[frame["method"] == gain]
        for (family, bench), rows in rows_of.groupby(["family", "benchmark"], sort=True):
            rows = rows.sort_values("size_b")
            size = rows["size_b"].to_numpy(float)
            train = future_split(size, max_train_size)
            if train is None:
                continue
            same = frame[(frame["family"] == family) & (frame["benchmark"] == bench)]

            def accuracy(method):
                values = same[same["method"] == method].groupby("size_b")["value"].first()
                return np.array([values.get(s, 50.0) for s in size]) / 100.0  # 50%: widest SE

            p_base, p_treat = accuracy(baseline), accuracy(treatment)
            n = rows["n_problems"].to_numpy(float)
            n = np.where(np.isfinite(n), n, split_items(bench))
            n = np.where(np.isfinite(n), n, FALLBACK_ITEMS)
            se = 100.0 * np.sqrt(np.maximum(p_base * (1 - p_base) + p_treat * (1 - p_treat),
                                            0.01) / n)  # floor: both accuracies at 0 or 100%
            gains = rows["value"].to_numpy(float)
            name = f"{str(family).split(' (')[0]} / {bench}" + (f" / {gain}" if len(arms) > 1
                                                               else "")
            table = GainTable(size[train], gains[train], se[train], "B",
                              source=f"{corpus}:{name}",
                              extra=pd.DataFrame({"accuracy_baseline": 100.0 * p_base[train]}),
                              baseline_column="accuracy_baseline")
            future = ~train
            curves.append(Curve(name, table, size[future], gains[future], group=str(family),
                                truth_range=np.vstack([-100.0 * p_base[future],
                                                       100.0 - 100.0 * p_base[future]])))
    return curves


@dataclass(frozen=True)
class Corpus:
    """One set of real curves: its files in the external folder, what its values are (``kind``,
    as ``GainTable.kind``), and whether its errors are scored in % of the truth (``relative``:
    losses of many scales)."""

    name: str
    kind: str
    files: tuple[str, ...]
    read: Callable[[list[Path]], list[Curve]]
    title: str
    relative: bool = False


def _gains(arms: dict | None, corpus: str):
    return lambda paths: method_gain_curves(paths[0], arms, corpus)


CORPORA = {c.name: c for c in (
    Corpus("obsscaling", "accuracy", ("obsscaling_base_llm_benchmark_eval.csv",),
           lambda paths: obsscaling_curves(paths[0]),
           "ObsScaling base-model accuracies (MMLU, ARC-C, HellaSwag), fit ≤ 8B"),
    Corpus("learning", "loss",
           ("revisiting_benchmark.lang.csv", "revisiting_benchmark.vision.csv"),
           learning_curves, "92 learning curves (Alabdulmohsin et al. 2022)", relative=True),
    Corpus("cot", "gain", ("cot_prompting_gain_wei2022.csv",),
           _gains({"gain_cot_minus_standard": ("standard few-shot prompting",
                                               "chain-of-thought few-shot prompting")}, "cot"),
           "chain-of-thought − standard prompting (Wei et al. 2022)"),
    Corpus("gemma", "gain", ("gemma2_gemma3_pt_vs_it.csv",),
           _gains({"gain_IT_minus_PT": ("pre-trained (PT)", "instruction-tuned (IT)")}, "gemma"),
           "Gemma 2/3 instruction-tuned − pre-trained"),
    Corpus("qwen1.5", "gain", ("qwen1.5_base_vs_chat.csv",), _gains(None, "qwen1.5"),
           "Qwen1.5 chat − base"),
    Corpus("qwen2", "gain", ("qwen2_base_vs_instruct.csv",), _gains(None, "qwen2"),
           "Qwen2 instruct − base"),
    Corpus("bloomz", "gain", ("bloom_vs_bloomz_xmtf.csv",), _gains(None, "bloomz"),
           "BLOOMZ − BLOOM (multitask fine-tuning), 199 correlated curves"),
    Corpus("prompting", "gain", ("obsscaling_prompting_gains.csv",), _gains(None, "prompting"),
           "ObsScaling prompting techniques (CoT, self-consistency), 24 families"),
)}
CURVE_SETS = tuple(CORPORA)
# ../shared/data/external beside a source checkout; SCALEFIT_EXTERNAL overrides it.
DEFAULT_EXTERNAL = Path(os.environ.get("SCALEFIT_EXTERNAL",
                                       Path(__file__).resolve().parents[3]
                                       / "shared" / "data" / "external"))


def external_curves(name: str, external: str | Path) -> list[Curve]:
    """The curves of corpus ``name`` (``CORPORA``), read from the folder ``external``
    (``../shared/data/external`` beside the repository). Each corpus is split as its
    forecasting problem: accuracies fit on ≤ 8B, learning curves on their ``Training == 1`` rows,
    gains by ``future_split``."""
    if name not in CORPORA:
        raise ScalefitError(f"unknown curve set {name!r}; choose from {', '.join(CURVE_SETS)}")
    corpus = CORPORA[name]
    paths = [Path(external) / f for f in corpus.files]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ScalefitError(f"curve set {name!r} needs {missing[0]} (give external=DIR)")
    return corpus.read(paths)
