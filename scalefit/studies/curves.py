"""Real scaling curves for backtests: a training table and held-out truths per curve.

Readers for the public data in ``../shared/data/external/`` (never copied into the repository):

- ``obsscaling_curves``: LLM families of the ObsScaling table with at least ``min_train`` sizes
  ≤ ``max_train_size`` B and at least one larger; accuracy (pp) on each benchmark, with binomial
  standard errors 100·sqrt(p(1−p)/n_items) from the benchmark's size (``BENCHMARK_ITEMS``).
- ``learning_curves``: the 92 learning curves of Alabdulmohsin et al. (2022); fit on the rows
  marked ``Training == 1``, score the others. The files give no standard errors: each curve's σ is
  the residual scatter of its best-fitting law with unit weights (so that law has chi²/dof = 1),
  the same σ for every point. Sizes are "seen examples" in millions.
- ``holdout_curve``: any gain table with its ``k`` largest sizes held out (leave-future-out).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
    return Curve(name or table.source, train, table.size[test], table.gain[test])


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
                              source=f"obsscaling:{family}:{bench}", bounds=ACCURACY_RANGE)
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
                          source=f"learning:{domain}:{task}:{model}", bounds=LOSS_RANGE)
        curves.append(Curve(f"{domain} / {task} / {model}", table,
                            test["Seen Examples"].to_numpy(float) / 1e6, test["loss"].to_numpy(float),
                            group=domain))
    return curves


# Items per task where the chain-of-thought table leaves n_problems empty (CSQA, StrategyQA, Date,
# Sports, SayCan, coin flip, last letter): 250, about its smallest stated test set (AQuA, 254),
# so the measurement SE can only be overstated.
FALLBACK_ITEMS = 250


def method_gain_curves(path: str | Path, gain: str, baseline: str, treatment: str,
                       max_train_size: float = 8.0, min_train: int = 2) -> list[Curve]:
    """Gains of a method over a baseline against size (the external ``*_gain_*`` tables): one
    curve per (family, benchmark) with ≥ ``min_train`` sizes ≤ ``max_train_size`` B and a larger
    one. Rows ``gain`` are the gains (pp); ``baseline``/``treatment`` rows give the two
    accuracies, hence the binomial SE of the difference, 100·sqrt(p₁(1−p₁)/n + p₂(1−p₂)/n), and
    the range of the gain: each training table carries the baseline's accuracy
    (``baseline_column``), so its ``value_range`` is [−a, 100 − a] at the largest training size,
    and ``truth_range`` is the range at each held-out size, known only to the scorer."""
    frame = pd.read_csv(path)
    curves = []
    for (family, bench), rows in frame[frame["method"] == gain].groupby(["family", "benchmark"],
                                                                        sort=True):
        rows = rows.sort_values("size_b")
        size = rows["size_b"].to_numpy(float)
        small, large = size <= max_train_size, size > max_train_size
        if small.sum() < min_train or not large.any():
            continue
        same = frame[(frame["family"] == family) & (frame["benchmark"] == bench)]

        def accuracy(method):
            values = same[same["method"] == method].set_index("size_b")["value"]
            return np.array([values.get(s, 50.0) for s in size]) / 100.0  # 50%: the widest SE

        p_base, p_treat = accuracy(baseline), accuracy(treatment)
        n = rows["n_problems"].to_numpy(float)
        n = np.where(np.isfinite(n), n, FALLBACK_ITEMS)
        se = 100.0 * np.sqrt(np.maximum(p_base * (1 - p_base) + p_treat * (1 - p_treat),
                                        0.01) / n)  # floor: both accuracies at 0 or 100%
        gains = rows["value"].to_numpy(float)
        name = f"{str(family).split(' (')[0]} / {bench}"
        train = GainTable(size[small], gains[small], se[small], "B", source=f"gain:{name}",
                          extra=pd.DataFrame({"accuracy_baseline": 100.0 * p_base[small]}),
                          baseline_column="accuracy_baseline")
        curves.append(Curve(name, train, size[large], gains[large], group=str(family),
                            truth_range=np.vstack([-100.0 * p_base[large],
                                                   100.0 - 100.0 * p_base[large]])))
    return curves


CURVE_SETS = ("obsscaling", "learning", "cot", "gemma")
# What the values of each curve set are: the skill of the learning curves (losses of many
# scales) is computed on errors in % of the truth, the others in the data's units.
RELATIVE_ERRORS = {"obsscaling": False, "learning": True, "cot": False, "gemma": False}
# ../shared/data/external beside a source checkout; SCALEFIT_EXTERNAL overrides it.
DEFAULT_EXTERNAL = Path(os.environ.get("SCALEFIT_EXTERNAL",
                                       Path(__file__).resolve().parents[3]
                                       / "shared" / "data" / "external"))
def external_curves(name: str, external: str | Path) -> list[Curve]:
    """The real-data curve sets of the calibration backtest, read from the folder ``external``
    (``../shared/data/external`` beside the repository): ``"obsscaling"`` (accuracies of LLM
    families, fit on ≤ 8B), ``"learning"`` (the 92 learning curves, fit on ``Training == 1``),
    ``"cot"`` (chain-of-thought − standard prompting, Wei et al. 2022, fit on ≤ 8B) or
    ``"gemma"`` (Gemma instruction-tuned − pre-trained, where a benchmark has two sizes ≤ 8B)."""
    external = Path(external)
    files = {"obsscaling": ["obsscaling_base_llm_benchmark_eval.csv"],
             "learning": ["revisiting_benchmark.lang.csv", "revisiting_benchmark.vision.csv"],
             "cot": ["cot_prompting_gain_wei2022.csv"], "gemma": ["gemma2_gemma3_pt_vs_it.csv"]}
    if name not in files:
        raise ScalefitError(f"unknown curve set {name!r}; choose from {', '.join(CURVE_SETS)}")
    paths = [external / f for f in files[name]]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ScalefitError(f"curve set {name!r} needs {missing[0]} (pass --external DIR)")
    if name == "obsscaling":
        return obsscaling_curves(paths[0])
    if name == "learning":
        return learning_curves(paths)
    if name == "cot":
        return method_gain_curves(paths[0], "gain_cot_minus_standard",
                                  "standard few-shot prompting",
                                  "chain-of-thought few-shot prompting")
    return method_gain_curves(paths[0], "gain_IT_minus_PT", "pre-trained (PT)",
                              "instruction-tuned (IT)")
