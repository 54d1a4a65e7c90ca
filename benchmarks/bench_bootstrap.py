"""Batched parametric bootstrap against a plain loop of scipy refits of the same replicates.

On the bundled paper table (seed 000, Table 1 inputs with SEs 0.4/0.3/0.4/0.5/0.6 pp), draw R
parametric resamples (Gaussian noise scaled by each SE around the observed gains, section 2.5)
and refit all five laws to every resample twice in the same run:

- batched: ``scalefit.methods.bootstrap.bootstrap_replicates`` (closed-form WLS for the linear laws,
  variable projection on a grid + batched Levenberg–Marquardt for the others), including the
  per-replicate weights and model average;
- plain loop: one ``scalefit.core.fit.scipy_fit`` call per (replicate, law), i.e. scipy's
  ``least_squares`` (trf, analytic Jacobian) from the law's starting points for the nonlinear
  laws and ``lstsq`` for the linear ones, then the same weights and average.

It prints the speed ratio, the largest relative disagreement of the per-replicate predictions
where both converge, the wall time of R replicates × 5 laws, the 70B model-averaged mean and 95%
interval across seeds (Monte Carlo error), the "fitted" resampling scheme, and how the interval
moves when the nonlinear laws' bounds are widened.

    python benchmarks/bench_bootstrap.py                  # R = 1000, 10 seeds (about a minute)
    python benchmarks/bench_bootstrap.py --replicates 200 --seeds 3      # quicker
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from scalefit.core.average import akaike_weights, average_batch, fit_laws
from scalefit.core.fit import fit_law_batch, information_criteria, scipy_fit
from scalefit.core.laws import LAWS
from scalefit.data import load_gain_table
from scalefit.methods.bootstrap import bootstrap, bootstrap_replicates

ROOT = Path(__file__).resolve().parents[1]
SIZES = np.array([14.0, 70.0, 405.0])


def plain_loop(table, Y, names):
    """One scipy refit per (replicate, law): predictions (R, L, m), chi² (R, L), converged."""
    R = len(Y)
    preds = np.full((R, len(names), len(SIZES)), np.nan)
    chi2 = np.full((R, len(names)), np.nan)
    for r in range(R):
        for i, name in enumerate(names):
            res = scipy_fit(name, table.size, Y[r], table.se)
            if res is not None:
                preds[r, i] = LAWS[name].value(res[0], SIZES)
                chi2[r, i] = res[1]
    k = np.array([LAWS[n].k for n in names])
    w = akaike_weights(information_criteria(chi2, k, len(table))["aic"], axis=1)
    avg = np.einsum("rl,rlm->rm", w, np.nan_to_num(preds))
    return preds, chi2, avg


def timed(fn, repeat):
    """Best wall time and best CPU time (this process) of ``repeat`` runs, and the last result.
    CPU time is the fairer number when other jobs share the cores."""
    best, best_cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, out


def summary(values):
    lo, hi = np.quantile(values, [0.025, 0.975])
    return float(np.mean(values)), float(lo), float(hi)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", default=str(ROOT / "data" / "opsd_scaling_paper.csv"))
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=10, help="seeds for the Monte Carlo error")
    p.add_argument("--repeat", type=int, default=5, help="timing repeats of the batched run")
    p.add_argument("--skip-loop", action="store_true", help="do not run the scipy loop")
    args = p.parse_args(argv)

    table = load_gain_table(args.table)
    fit = fit_laws(table)
    names = list(fit.fits)
    R = args.replicates
    rng = np.random.default_rng(0)
    Y = table.value + rng.standard_normal((R, len(table))) * table.se
    print(f"{args.table}: {len(table)} points; {R} replicates (seed 0) x {len(names)} laws; "
          f"sizes {', '.join(f'{s:g}' for s in SIZES)} B")

    t_batch, c_batch, boot = timed(
        lambda: bootstrap_replicates(table, Y, SIZES, fit=fit, quiet=True), args.repeat)
    per_law = {}
    for name in names:
        t, _, bf = timed(lambda: fit_law_batch(name, table.size, Y, table.se,
                                               fit.fits[name].params, y_ref=table.value), 3)
        per_law[name] = (t, bf)
    print(f"\nbatched: {t_batch:.3f} s wall, {c_batch:.3f} s CPU for {R} replicates x "
          f"{len(names)} laws, weights and average (best of {args.repeat})")
    for name, (t, bf) in per_law.items():
        print(f"  {name:12s} {1e3 * t:7.1f} ms  {bf.message}; failed {bf.n_failed}, "
              f"scipy fallback {bf.n_retried}, at a bound {int(bf.at_bound.any(axis=1).sum())}")

    if not args.skip_loop:
        t0, c0 = time.perf_counter(), time.process_time()
        ref_pred, ref_chi2, ref_avg = plain_loop(table, Y, names)
        t_loop, c_loop = time.perf_counter() - t0, time.process_time() - c0
        both = boot.converged & np.isfinite(ref_chi2)
        rel = np.abs(boot.predictions - ref_pred) / np.maximum(np.abs(ref_pred), 1e-12)
        rel = np.where(both[..., None], rel, 0.0)
        worst = rel.max(axis=(0, 2))
        avg_rel = np.nanmax(np.abs(boot.average - ref_avg) / np.abs(ref_avg))
        dchi2 = np.where(both, boot.chi2 - ref_chi2, 0.0)
        print(f"\nplain loop of scipy refits (scalefit.core.fit.scipy_fit): {t_loop:.1f} s wall, "
              f"{c_loop:.1f} s CPU")
        print(f"speed ratio: {t_loop / t_batch:.0f}x wall, {c_loop / c_batch:.0f}x CPU")
        print("largest relative disagreement of per-replicate predictions where both converge:")
        for i, name in enumerate(names):
            print(f"  {name:12s} {worst[i]:.1e}  (both converged {int(both[:, i].sum())}/{R}; "
                  f"scipy failed {int((~np.isfinite(ref_chi2[:, i])).sum())}; "
                  f"batched chi2 lower by up to {max(0.0, -dchi2[:, i].min()):.1e}, "
                  f"higher by up to {max(0.0, dchi2[:, i].max()):.1e})")
        print(f"  overall {worst.max():.1e}; model average {avg_rel:.1e}")
        print(f"70B averaged, same replicates: batched {summary(boot.average[:, 1])[0]:.2f} "
              f"[{summary(boot.average[:, 1])[1]:.2f}, {summary(boot.average[:, 1])[2]:.2f}], "
              f"scipy loop {summary(ref_avg[:, 1])[0]:.2f} [{summary(ref_avg[:, 1])[1]:.2f}, "
              f"{summary(ref_avg[:, 1])[2]:.2f}]")

    print(f"\n70B model-averaged bootstrap, {R} replicates per seed "
          "(paper: 19.8 [10.5, 32.6]; independent scipy loop: 19.9 [10.3, 34.1])")
    rows = []
    for seed in range(args.seeds):
        res = bootstrap(table, [70.0], R, seed=seed, fit=fit, quiet=True)
        rows.append(summary(res.average[:, 0]))
        print(f"  seed {seed}: {rows[-1][0]:.2f} [{rows[-1][1]:.2f}, {rows[-1][2]:.2f}]  "
              f"failed {res.failed}")
    rows = np.array(rows)
    if len(rows) > 1:
        sd = rows.std(axis=0, ddof=1)
        print(f"  across {len(rows)} seeds: mean {rows[:, 0].mean():.2f} (SD {sd[0]:.2f}), "
              f"lower {rows[:, 1].mean():.2f} (SD {sd[1]:.2f}), upper {rows[:, 2].mean():.2f} "
              f"(SD {sd[2]:.2f})")
    big = bootstrap(table, [70.0], 20000, seed=12345, fit=fit, quiet=True)
    m, lo, hi = summary(big.average[:, 0])
    print(f"  20000 replicates (seed 12345): {m:.2f} [{lo:.2f}, {hi:.2f}]")
    fitted = bootstrap(table, [70.0], 20000, seed=12345, fit=fit, quiet=True, scheme="fitted")
    m, lo, hi = summary(fitted.average[:, 0])
    print(f"  scheme 'fitted' (around the model-averaged curve), 20000 replicates: "
          f"{m:.2f} [{lo:.2f}, {hi:.2f}]")

    print("\nbounds: share of the 20000 replicates whose refit ends at a bound, and the 70B "
          "interval with the nonlinear laws' bounds widened")
    Yb = table.value + np.random.default_rng(12345).standard_normal((20000, len(table))) * table.se
    for name in ("power", "saturating", "sigmoid"):
        bf = fit_law_batch(name, table.size, Yb, table.se, y_ref=table.value)
        share = bf.at_bound.mean(axis=0)
        print(f"  {name:10s} " + ", ".join(f"{p} {100 * s:.1f}%"
                                           for p, s in zip(LAWS[name].params, share)))
    x = table.size
    wide = {
        "power": lambda x, y: (np.array([-np.inf, -8.0]), np.array([np.inf, 8.0])),
        "saturating": lambda x, y: (np.array([-np.inf, x.min() / 1e4]),
                                    np.array([np.inf, x.max() * 1e4])),
        "sigmoid": lambda x, y: (np.array([-np.inf, -20.0, np.log(x).min() - 10.0]),
                                 np.array([np.inf, 20.0, np.log(x).max() + 10.0])),
    }
    fits = {}
    for name in names:
        law = replace(LAWS[name], bounds=wide[name]) if name in wide else LAWS[name]
        fits[name] = fit_law_batch(law, x, Yb, table.se, y_ref=table.value)
    avg = average_batch(fits, [70.0], "aic", within=False)
    m, lo, hi = summary(avg.mean[np.isfinite(avg.mean[:, 0]), 0])
    print(f"  widened (power b in [-8, 8]; N0 in [min/1e4, max*1e4]; sigmoid |b| <= 20, "
          f"c within e^10 of the data): {m:.2f} [{lo:.2f}, {hi:.2f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
