"""Fit the pooled constants of ``damped_trend`` (φ, λ, τ0, ν0), leave-one-corpus-out.

Corpora (read from ../shared/data/external, never copied): ObsScaling accuracies (MMLU, ARC-C,
HellaSwag; fit ≤ 8B), the 92 learning curves, the chain-of-thought gains; and an auxiliary
pool used for fitting only, never scored: the same ObsScaling families on their other
benchmarks (Winograd, TruthfulQA, GSM8K, HumanEval) and on the BIG-bench emergent tasks
(n = 1000 items assumed where the table gives none). For each fold (a scored corpus left out,
and "all" = the shipped constants) the grid search is:

1. φ ∈ {0, 0.1, …, 1}, λ ∈ {0, 0.25, 0.5, 1} minimise Σ_corpus log(median |error|) (the
   learning curves' errors in % of the truth), with τ fixed (the point does not depend on it);
2. at that (φ, λ), for each transform (logit: accuracies and gains; log: losses) τ0 (24
   log-spaced values, 0.01-0.5) and ν0 ∈ {5, 20, ∞} minimise Σ log(mean 95% interval score)
   over the fold's corpora forecast in that transform (τ is in z units, which differ between
   transforms); a transform with no such corpus in the fold takes the pooled fit of all of
   them (column ``log_prior_from``).

Each corpus counts once, whatever its number of curves. Writes benchmarks/damped_constants.csv
(one row per fold); ``scalefit.methods.damped`` ships the "all" row, and the calibration
benchmark scores every corpus with the constants of the fold that left it out.

    python benchmarks/fit_damped_constants.py        # about 30 s on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.core.bounds import ACCURACY_RANGE, from_z, transform_name
from scalefit.data import GainTable
from scalefit.io import atomic_write_csv
from scalefit.methods.damped import damped_forecast, model_range
from scalefit.studies.curves import (BENCHMARK_ITEMS, DEFAULT_EXTERNAL, RELATIVE_ERRORS, Curve,
                                     external_curves)

SCORED = ("obsscaling", "learning", "cot")
PHI_GRID = np.round(np.arange(0.0, 1.01, 0.1), 2)
LAM_GRID = (0.0, 0.25, 0.5, 1.0)
TAU_GRID = np.round(np.logspace(-2, np.log10(0.5), 24), 4)
NU_GRID = (5.0, 20.0, np.inf)
OUT = Path(__file__).with_name("damped_constants.csv")
AUX_ITEMS = 1000


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
            train = GainTable(size[small][order], 100 * ps, se, "B", bounds=ACCURACY_RANGE)
            curves.append(Curve(f"{family} / {bench}", train, size[large], 100 * p[large]))
    return curves


def forecasts(curves, phi, lam, tau0, nu0, level=0.95):
    """(truth, point, lo, hi) concatenated over curves for the given constants."""
    out = []
    for c in curves:
        t = c.train
        model = model_range(t)
        priors = ((transform_name(model), tau0, nu0),)
        loc, scale, df, _ = damped_forecast(t.size, t.gain, t.se, c.test_size, model,
                                            phi, lam, priors)
        q = stats.t.ppf(0.5 + level / 2, df)
        values = [from_z(v, *model) for v in (loc, loc - q * scale, loc + q * scale)]
        out.append(np.vstack([c.test_value] + [np.clip(v, *t.value_range) for v in values]))
    return np.hstack(out)


def point_score(curves, relative, phi, lam) -> float:
    y, m, _, _ = forecasts(curves, phi, lam, 0.1, np.inf)
    err = np.abs(m - y) / (np.abs(y) / 100 if relative else 1.0)
    return float(np.median(err))


def interval_score(curves, relative, phi, lam, tau0, nu0) -> float:
    y, _, lo, hi = forecasts(curves, phi, lam, tau0, nu0)
    score = (hi - lo) + 40 * np.maximum(lo - y, 0) + 40 * np.maximum(y - hi, 0)
    return float(np.mean(score / (np.abs(y) / 100 if relative else 1.0)))


def fit_folds(corpora: dict[str, list[Curve]]) -> pd.DataFrame:
    """The constants of every fold (module docstring): one row per left-out corpus and "all"."""
    relative = {k: RELATIVE_ERRORS.get(k, False) for k in corpora}
    kind = {k: transform_name(model_range(v[0].train)) for k, v in corpora.items()}
    points = {(phi, lam, k): point_score(v, relative[k], phi, lam)
              for phi, lam in itertools.product(PHI_GRID, LAM_GRID) if not (phi == 0 and lam > 0)
              for k, v in corpora.items()}
    folds = {f"without {k}": [c for c in corpora if c != k] for k in SCORED}
    folds["all"] = list(corpora)
    rows, cache = [], {}

    def prior(pl, train):
        for tau0, nu0 in itertools.product(TAU_GRID, NU_GRID):
            for k in train:
                if (pl, tau0, nu0, k) not in cache:
                    cache[(pl, tau0, nu0, k)] = interval_score(corpora[k], relative[k], *pl,
                                                               tau0, nu0)
        return min(itertools.product(TAU_GRID, NU_GRID),
                   key=lambda tn: sum(np.log(cache[(pl, *tn, k)]) for k in train))

    for fold, train in folds.items():
        pl = min({(p, lam) for p, lam, _ in points},
                 key=lambda key: sum(np.log(points[key + (k,)]) for k in train))
        row = {"fold": fold, "fitted_on": ",".join(train), "phi": pl[0], "lam": pl[1]}
        for transform in ("logit", "log"):
            own = [k for k in train if kind[k] == transform]
            row[f"tau0_{transform}"], row[f"nu0_{transform}"] = prior(pl, own or train)
            row[f"{transform}_prior_from"] = ",".join(own or train)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--external", type=Path, default=DEFAULT_EXTERNAL)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not args.external.exists():
        print(f"external data not found at {args.external}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    corpora = {k: external_curves(k, args.external) for k in SCORED}
    corpora["auxiliary"] = auxiliary_curves(args.external)
    table = fit_folds(corpora)
    atomic_write_csv(args.out, table)
    print(table.to_string(index=False))
    print(f"wrote {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
