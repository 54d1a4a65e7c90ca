"""Fit the constants of ``damped_trend`` per kind of quantity, leave-one-corpus-out.

Corpora (read from ../shared/data/external, never copied; ``scalefit.studies.curves.CORPORA``):
accuracies (ObsScaling, fit ≤ 8B), losses (the 92 learning curves) and gains of a method over a
baseline (chain-of-thought, Gemma IT − PT, Qwen1.5 chat − base, Qwen2 instruct − base, BLOOMZ −
BLOOM, ObsScaling's prompting techniques); and an auxiliary pool of accuracies used for fitting
only, never scored: the same ObsScaling families on their other benchmarks (Winograd,
TruthfulQA, GSM8K, HumanEval) and on the BIG-bench emergent tasks (n = 1000 items assumed where
the table gives none).

For each kind and each fold (one scored corpus of that kind left out, and "all" = the shipped
constants) the grid search is, each corpus weighing the same:

1. φ0 (prior slope multiplier), σφ (its prior SD: 0, 0.2, 0.5, 1), λ (damping) minimise
   Σ_corpus log(median |error|) (the learning curves' errors in % of the truth), with (τ0, ν0)
   at the kind's current values, over the fold's corpora of the kind's trend group
   (``TREND_GROUPS``: accuracies and losses together, gains alone);
2. at that (φ0, σφ, λ), over the fold's corpora of the kind itself, the sharpest intervals
   subject to calibration (Gneiting, Balabdaoui & Raftery 2007): for each ν0 ∈ {2, 3, 5, 10,
   20, ∞} the smallest τ0 (24 log-spaced values, 0.01-0.5) whose 95% intervals cover at least
   95% of the held-out points, pooled with every corpus weighing the same; of these, the
   (τ0, ν0) with the lowest pooled mean 95% interval score. (The corpora disagree on how wide an interval should be: the chain-of-thought gains
   jump, instruction-tuning gains stay. Asking for the nominal coverage on their pool keeps the
   intervals honest; minimising the interval score alone chose intervals too narrow for the
   corpus left out.)
3. steps 1 and 2 once more from the new (τ0, ν0).

A fold with no corpus of its kind for the interval (the losses without the learning curves:
there is one loss corpus) takes the accuracy kind's "all" τ0 and ν0. Writes
benchmarks/damped_constants.csv (one row per kind and fold); ``scalefit.methods.damped.KIND_PRIORS`` ships the "all" rows, and the
calibration benchmark scores every corpus with the constants of the fold that left it out.

    python benchmarks/fit_damped_constants.py        # about 10 min on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.core.bounds import ACCURACY_RANGE, from_z
from scalefit.data import GainTable
from scalefit.io import atomic_write_csv
from scalefit.methods.damped import (KIND_PRIORS, TrendPrior, damped_forecast, model_range,
                                     prior_scale)
from scalefit.studies.curves import BENCHMARK_ITEMS, CORPORA, DEFAULT_EXTERNAL, Curve, external_curves
from scalefit.studies.scoring import interval_score

PHI_GRID = np.round(np.arange(0.0, 1.01, 0.1), 2)
PHI_SD_GRID = (0.0, 0.2, 0.5, 1.0)
LAM_GRID = (0.0, 0.25, 0.5, 1.0)
TAU_GRID = np.round(np.logspace(-2, np.log10(0.5), 24), 4)
NU_GRID = (2.0, 3.0, 5.0, 10.0, 20.0, np.inf)
OUT = Path(__file__).with_name("damped_constants.csv")
AUX_ITEMS = 1000
KINDS = ("accuracy", "loss", "gain")  # loss falls back on accuracy, so accuracy comes first
# Whose corpora fit a kind's trend constants: accuracies and losses measure one model's
# capability, whose trend continues; a gain is a difference of two models, whose mostly does not.
TREND_GROUPS = {"accuracy": ("accuracy", "loss"), "loss": ("accuracy", "loss"), "gain": ("gain",)}
LEVEL = 0.95


def auxiliary_curves(external: Path) -> list[Curve]:
    """The fitting-only pool (module docstring): accuracies in pp, binomial SEs."""
    base = pd.read_csv(external / "obsscaling_base_llm_benchmark_eval.csv")
    emergent = pd.read_csv(external / "obsscaling_base_llm_emergent_capability_eval.csv")
    tasks = [c for c in emergent.columns if c != "Model" and not c.endswith("bleu")]
    frame = base.merge(emergent, on="Model", how="left")
    benches = ["Winograd", "TruthfulQA", "GSM8K", "HumanEval"] + tasks
    curves = []
    for family, rows in frame.groupby("Model Family", sort=True):
        size = rows["Model Size (B)"].to_numpy(float)
        for bench in benches:
            p = rows[bench].to_numpy(float)
            small, large = np.isfinite(p) & (size <= 8), np.isfinite(p) & (size > 8)
            if small.sum() < 3 or not large.any():
                continue
            order = np.argsort(size[small])
            ps, n = p[small][order], BENCHMARK_ITEMS.get(bench, AUX_ITEMS)
            se = 100 * np.sqrt(np.maximum(ps * (1 - ps), 0.25 / n) / n)
            train = GainTable(size[small][order], 100 * ps, se, "B", bounds=ACCURACY_RANGE,
                              kind="accuracy")
            curves.append(Curve(f"{family} / {bench}", train, size[large], 100 * p[large]))
    return curves


CORPUS_DATA: dict[str, list[Curve]] = {}


def _load(external: Path) -> None:
    """Every corpus once per process (the pool's initializer)."""
    CORPUS_DATA.update({k: external_curves(k, external) for k in CORPORA})
    CORPUS_DATA["auxiliary"] = auxiliary_curves(external)


def forecasts(curves, prior: TrendPrior, level: float = 0.95) -> np.ndarray:
    """(truth, point, lo, hi) concatenated over curves for one prior."""
    out = []
    for c in curves:
        t = c.train
        model = model_range(t)
        f = damped_forecast(t.size, t.value, t.se, c.test_size, model, prior,
                            prior_scale(t.kind, model))
        q = stats.t.ppf(0.5 + level / 2, f.df)
        values = [from_z(v, *model) for v in (f.z_location, f.z_location - q * f.z_scale,
                                               f.z_location + q * f.z_scale)]
        out.append(np.vstack([c.test_value] + [np.clip(v, *t.value_range) for v in values]))
    return np.hstack(out)


def corpus_scores(args) -> tuple[float, float, float]:
    """(median |error|, mean 95% interval score, coverage of the 95% interval) of one prior on
    one corpus (errors in % of the truth for the relative corpora)."""
    name, prior = args
    y, m, lo, hi = forecasts(CORPUS_DATA[name], prior)
    scale = np.abs(y) / 100 if name in CORPORA and CORPORA[name].relative else 1.0
    return (float(np.median(np.abs(m - y) / scale)),
            float(np.mean(interval_score(lo, hi, y, 0.95) / scale)),
            float(np.mean((y >= lo) & (y <= hi))))


def kind_of(name: str) -> str:
    return CORPORA[name].kind if name in CORPORA else "accuracy"


SCORES: dict = {}


def grid_scores(pool, names, priors) -> dict:
    """``{(name, prior): corpus_scores}`` for every pair (computed once, in the pool)."""
    jobs = [(n, p) for n in names for p in priors if (n, p) not in SCORES]
    SCORES.update(zip(jobs, pool.map(corpus_scores, jobs, chunksize=8)))
    return SCORES


def fit_fold(pool, point: list[str], interval: list[str], start: TrendPrior,
             fallback: TrendPrior | None = None) -> TrendPrior:
    """The prior of one kind and fold (module docstring, steps 1-3): the trend's constants on
    the ``point`` corpora, the interval's on the ``interval`` corpora (none: ``fallback``'s)."""
    fitted = start
    for _ in range(2):
        candidates = [TrendPrior(phi, sd, lam, fitted.tau0, fitted.nu0)
                      for phi, sd, lam in itertools.product(PHI_GRID, PHI_SD_GRID, LAM_GRID)]
        points = grid_scores(pool, point, candidates)
        best = min(candidates, key=lambda p: sum(np.log(points[(n, p)][0]) for n in point))
        if not interval:
            return TrendPrior(best.phi, best.phi_sd, best.lam, fallback.tau0, fallback.nu0)
        intervals = [TrendPrior(best.phi, best.phi_sd, best.lam, tau, nu)
                     for tau, nu in itertools.product(TAU_GRID, NU_GRID)]
        scores = grid_scores(pool, interval, intervals)

        def pooled(p, k):  # every corpus weighs the same
            return np.mean([scores[(n, p)][k] for n in interval])

        calibrated = [min((p for p in intervals if p.nu0 == nu and pooled(p, 2) >= LEVEL),
                          key=lambda p: p.tau0, default=None) for nu in NU_GRID]
        calibrated = [p for p in calibrated if p is not None] or intervals
        fitted = min(calibrated, key=lambda p: pooled(p, 1))
    return fitted


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--external", type=Path, default=DEFAULT_EXTERNAL)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not args.external.exists():
        print(f"external data not found at {args.external}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    names = list(CORPORA) + ["auxiliary"]
    rows = []
    with ProcessPoolExecutor(args.workers, initializer=_load, initargs=(args.external,)) as pool:
        for kind in KINDS:
            scored = [n for n in CORPORA if kind_of(n) == kind]
            for left_out in [None, *scored]:
                point = [n for n in names if kind_of(n) in TREND_GROUPS[kind] and n != left_out]
                interval = [n for n in names if kind_of(n) == kind and n != left_out]
                fallback = next((TrendPrior(r["phi"], r["phi_sd"], r["lam"], r["tau0"], r["nu0"])
                                 for r in rows if r["kind"] == "accuracy" and r["fold"] == "all"),
                                None)
                prior = fit_fold(pool, point, interval, KIND_PRIORS[kind], fallback)
                rows.append({"kind": kind, "fold": "all" if left_out is None
                             else f"without {left_out}", "trend_from": ",".join(point),
                             "interval_from": ",".join(interval) or "accuracy (all)",
                             "phi": prior.phi, "phi_sd": prior.phi_sd, "lam": prior.lam,
                             "tau0": prior.tau0, "nu0": prior.nu0})
            print(f"{kind}: {time.perf_counter() - t0:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    atomic_write_csv(args.out, table)
    print(table.to_string(index=False))
    print(f"wrote {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
