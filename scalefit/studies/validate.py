"""Synthetic validation of the extrapolation methods (the scaling paper, section 2.3 and Figure 4).

For each ground-truth *regime* (by default the power, logarithmic, saturating and sigmoid laws,
each calibrated to the observed table: the law's own WLS fit to it), simulate ``n_replicates``
tables at the observed sizes ≤ ``max_train_size`` with Gaussian noise at the observed standard
errors, fit them with every method, predict ``eval_sizes`` (default 14, 32, 70 B) and score the
predictions against the regime's noise-free curve:

- **MAPE**: 100 · mean over replicates (and sizes) of |prediction − truth| / |truth|;
- **coverage**: the fraction of replicates whose central interval at ``level`` (default 0.9545,
  the paper's "2σ": mean ± 2 SD for the normal methods, the 2.275–97.725 percentiles for the
  bootstrap) contains the truth.

Methods are names of ``scalefit.methods.METHODS`` (or callables ``(table, sizes) -> predictive``).
A method with a ``batch`` form (the laws, ``average`` — the paper's recipe —, ``aicc``, ``bic``,
``bootstrap``) is computed vectorised across replicates on one ``ReplicateBatch`` whose refits
(``scalefit.core.fit.fit_law_batch``) every method shares; every other method is called once per
replicate. The ``bootstrap`` method resamples each simulated table
``n_boot`` times (noise at the SEs around the simulated gains, the paper's scheme), refits every
law per resample and takes the mean and percentile interval of the model average.

Reproducibility: replicate r of regime g draws all its random numbers (its data noise, then its
bootstrap noise) from ``scalefit.executor.replicate_rng(seed, stream_key(g), r)``; chunks of
replicates run in parallel through any ``concurrent.futures.Executor`` (``make_executor``), and
the result does not depend on the number of workers or the chunk size (up to floating-point
rounding in rare ill-conditioned refits).
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.core.average import size_key
from scalefit.core.fit import fit_law
from scalefit.core.laws import PAPER_LAWS, get_law
from scalefit.data import GainTable
from scalefit.errors import ScalefitError
from scalefit.executor import chunk_ranges, describe_executor, replicate_rng, run_jobs, stream_key
from scalefit.methods import ReplicateBatch, labelled_methods, method_list
from scalefit.studies.scoring import TWO_SIGMA

REGIMES = ("power", "logarithmic", "saturating", "sigmoid")
VALIDATION_METHODS = tuple(PAPER_LAWS) + ("average", "bootstrap")
EVAL_SIZES = (14.0, 32.0, 70.0)


@dataclass
class Regime:
    """A ground truth: ``law`` with parameters ``params`` (the table's unit)."""

    name: str
    law: str
    params: np.ndarray

    def value(self, sizes) -> np.ndarray:
        return get_law(self.law).value(np.asarray(self.params, float),
                                    np.atleast_1d(np.asarray(sizes, float)))

    def to_dict(self) -> dict:
        return {"law": self.law, "formula": get_law(self.law).formula,
                "params": dict(zip(get_law(self.law).params, map(float, self.params)))}


def calibrate_regimes(table: GainTable, regimes=REGIMES) -> dict[str, Regime]:
    """Each regime law fitted to ``table`` (all its rows): the truth it is simulated from."""
    out = {}
    for name in (get_law(r).name for r in regimes):
        fit = fit_law(name, table.size, table.value, table.se, size_unit=table.size_unit)
        if not fit.converged:
            raise ScalefitError(f"{table.source}: cannot calibrate the {name} regime "
                                f"({fit.status}: {fit.message})")
        out[name] = Regime(name, name, fit.params)
    return out


def _validate_chunk(regime: Regime, sizes, se, eval_sizes, start: int, stop: int, seed,
                    methods, n_boot: int, level: float, size_unit: str):
    """Replicates ``start:stop`` of one regime (one job of the executor): mean, lo, hi
    (r, M, m) per method and the AIC weights (r, L) of the paper's laws."""
    sizes, se, eval_sizes = (np.asarray(v, float) for v in (sizes, se, eval_sizes))
    truth = regime.value(sizes)
    rngs = [replicate_rng(seed, stream_key(regime.name), rep) for rep in range(start, stop)]
    Y = truth + np.stack([rng.standard_normal(len(sizes)) for rng in rngs]) * se
    batch = ReplicateBatch(sizes, Y, se, truth, eval_sizes, level, rngs, n_boot)
    labelled = labelled_methods(methods)
    out = {key: np.full((len(Y), len(labelled), len(eval_sizes)), np.nan)
           for key in ("mean", "lo", "hi")}
    for i, method in enumerate(labelled.values()):
        if getattr(method, "batch", None) is not None:  # vectorised across replicates
            out["mean"][:, i], out["lo"][:, i], out["hi"][:, i] = method.batch(batch)
            continue
        for row in range(len(Y)):
            table = GainTable(sizes, Y[row], se, size_unit, source=f"synthetic:{regime.name}")
            try:
                pred = method(table, eval_sizes)
                lo, hi = pred.interval(level)
            except ScalefitError:
                continue
            out["mean"][row, i], out["lo"][row, i], out["hi"][row, i] = pred.mean, lo, hi
    return out["mean"], out["lo"], out["hi"], batch.average("aic").weights


@dataclass
class ValidationResult:
    """Predictions of every method on every synthetic replicate of every regime.

    Arrays: ``truth`` (G, m) the regimes' noise-free values at ``sizes``; ``mean``, ``lo``,
    ``hi`` (G, R, M, m) each method's prediction and central ``level`` interval per replicate
    (NaN where a fit failed); ``weights`` (G, R, L) the AIC weights of the paper's laws ``laws`` per
    replicate. ``regimes``, ``methods``, ``sizes`` (eval sizes), ``train_sizes``, ``train_se``,
    ``regime_params`` ({regime: Regime}) and the settings describe the study.
    """

    regimes: tuple[str, ...]
    methods: tuple[str, ...]
    sizes: np.ndarray
    train_sizes: np.ndarray
    train_se: np.ndarray
    truth: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    weights: np.ndarray
    laws: tuple[str, ...]
    regime_params: dict[str, Regime]
    level: float = TWO_SIGMA
    seed: int | None = 0
    n_boot: int = 0
    size_unit: str = "B"
    seconds: float = np.nan
    workers: str = "inline"
    notes: list[str] = field(default_factory=list)

    @property
    def n_replicates(self) -> int:
        return self.mean.shape[1]

    @property
    def ape(self) -> np.ndarray:
        """100 |prediction − truth| / |truth|, (G, R, M, m)."""
        return 100.0 * np.abs(self.mean - self.truth[:, None, None, :]) / np.abs(
            self.truth[:, None, None, :])

    @property
    def covered(self) -> np.ndarray:
        """Whether the interval contains the truth, (G, R, M, m); False where a fit failed."""
        t = self.truth[:, None, None, :]
        return (self.lo <= t) & (t <= self.hi)

    @property
    def failed(self) -> np.ndarray:
        """Replicates without a prediction per (regime, method): (G, M)."""
        return np.sum(~np.all(np.isfinite(self.mean), axis=-1), axis=1)

    def _reduce(self, values: np.ndarray, per_size: bool, fn) -> np.ndarray:
        ok = np.isfinite(self.mean)
        v = np.where(ok, values, np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
            if per_size:
                return fn(v, axis=1)  # (G, M, m)
            G, R, M, m = v.shape
            return fn(v.transpose(0, 2, 1, 3).reshape(G, M, R * m), axis=2)  # (G, M)

    def mape(self, per_size: bool = False) -> np.ndarray:
        """Mean APE (%) over replicates (and sizes): (G, M), or (G, M, m) with ``per_size``."""
        return self._reduce(self.ape, per_size, np.nanmean)

    def median_ape(self, per_size: bool = False) -> np.ndarray:
        return self._reduce(self.ape, per_size, np.nanmedian)

    def coverage(self, per_size: bool = False) -> np.ndarray:
        """Observed coverage of the ``level`` interval: (G, M), or (G, M, m)."""
        return self._reduce(self.covered.astype(float), per_size, np.nanmean)

    def bias(self, per_size: bool = True) -> np.ndarray:
        """Mean (prediction − truth) in pp: (G, M, m), or averaged over sizes (G, M)."""
        return self._reduce(self.mean - self.truth[:, None, None, :], per_size, np.nanmean)

    def heatmap(self, metric: str = "mape", size: float | None = None) -> pd.DataFrame:
        """Figure 4's panel: regimes (rows) × methods (columns) of ``metric`` ("mape",
        "median_ape", "coverage", "bias"), averaged over sizes or at one ``size``."""
        fn = {"mape": self.mape, "median_ape": self.median_ape, "coverage": self.coverage,
              "bias": self.bias}[metric]
        if size is None:
            values = fn(per_size=False)
        else:
            j = int(np.flatnonzero(np.isclose(self.sizes, size))[0])
            values = fn(per_size=True)[:, :, j]
        return pd.DataFrame(values, index=pd.Index(self.regimes, name="truth"),
                            columns=pd.Index(self.methods, name="method"))

    def mean_weights(self) -> pd.DataFrame:
        """Mean AIC weight of each law (columns) per regime (rows)."""
        with np.errstate(invalid="ignore"):
            w = np.nanmean(self.weights, axis=1)
        return pd.DataFrame(w, index=pd.Index(self.regimes, name="truth"),
                            columns=pd.Index(self.laws, name="law"))

    def to_frame(self) -> pd.DataFrame:
        """Long form, one row per (regime, method, size) plus size "all" (averaged): MAPE, median
        APE, bias (pp), coverage and its binomial SE, replicates used, failed, truth."""
        rows = []
        mape, mdape, cov, bias = (self.mape(True), self.median_ape(True), self.coverage(True),
                                  self.bias(True))
        mape_all, mdape_all, cov_all, bias_all = (self.mape(), self.median_ape(), self.coverage(),
                                                  self.bias(False))
        n_ok = np.sum(np.isfinite(self.mean), axis=1)  # (G, M, m)
        for g, regime in enumerate(self.regimes):
            for i, method in enumerate(self.methods):
                for j, size in enumerate(list(self.sizes) + ["all"]):
                    per = j < len(self.sizes)
                    n = int(n_ok[g, i, j]) if per else int(n_ok[g, i].sum())
                    c = cov[g, i, j] if per else cov_all[g, i]
                    rows.append({
                        "regime": regime, "method": method, "size": size_key(size) if per else
                        "all", "truth": float(self.truth[g, j]) if per else np.nan,
                        "mape": mape[g, i, j] if per else mape_all[g, i],
                        "median_ape": mdape[g, i, j] if per else mdape_all[g, i],
                        "bias": bias[g, i, j] if per else bias_all[g, i],
                        "coverage": c,
                        "coverage_se": float(np.sqrt(self.level * (1 - self.level) / n)) if n else
                        np.nan,
                        "n": n, "failed": int(self.failed[g, i])})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """JSON: settings, regimes, and ``{"mape"|"coverage"|"median_ape"|"bias": {regime:
        {method: {SIZE: value, "all": value}}}}`` plus mean weights and failures."""
        def nested(per, overall):
            return {r: {m: {**{size_key(s): float(per[g, i, j]) for j, s in enumerate(self.sizes)},
                            "all": float(overall[g, i])}
                        for i, m in enumerate(self.methods)}
                    for g, r in enumerate(self.regimes)}

        return {
            "regimes": {r: {**self.regime_params[r].to_dict(),
                            "truth": {size_key(s): float(v) for s, v in zip(self.sizes,
                                                                           self.truth[g])}}
                        for g, r in enumerate(self.regimes)},
            "methods": list(self.methods), "sizes": [float(s) for s in self.sizes],
            "train_sizes": self.train_sizes.tolist(), "train_se": self.train_se.tolist(),
            "size_unit": self.size_unit, "level": self.level, "replicates": self.n_replicates,
            "n_boot": self.n_boot, "seed": self.seed, "seconds": self.seconds,
            "workers": self.workers, "notes": list(self.notes),
            "mape": nested(self.mape(True), self.mape()),
            "median_ape": nested(self.median_ape(True), self.median_ape()),
            "coverage": nested(self.coverage(True), self.coverage()),
            "bias": nested(self.bias(True), self.bias(False)),
            "failed": {r: {m: int(self.failed[g, i]) for i, m in enumerate(self.methods)}
                       for g, r in enumerate(self.regimes)},
            "mean_weights": {r: {law: float(w) for law, w in row.items()}
                             for r, row in self.mean_weights().iterrows()},
        }


def validate(table: GainTable, *, regimes=REGIMES, methods=VALIDATION_METHODS,
             eval_sizes=EVAL_SIZES, max_train_size: float | None = 8.0, n_replicates: int = 200,
             seed: int | None = 0, n_boot: int = 200, level: float = TWO_SIGMA,
             executor: Executor | None = None, chunk: int = 25,
             quiet: bool = False) -> ValidationResult:
    """The synthetic validation of the scaling paper, section 2.3 (see the module docstring).

    ``regimes``: law names (calibrated to ``table`` by ``calibrate_regimes``) or a ``{name:
    Regime}`` mapping. ``max_train_size``: fit on the table's sizes up to this (table unit; None:
    all). ``executor``: where chunks of ``chunk`` replicates run (default: this process).
    """
    t0 = time.perf_counter()
    if n_replicates < 1:
        raise ScalefitError(f"n_replicates must be >= 1, got {n_replicates}")
    regs = dict(regimes) if isinstance(regimes, dict) else calibrate_regimes(table, regimes)
    names = tuple(labelled_methods(methods))
    given = method_list(methods)
    train = table if max_train_size is None else table.take(table.size <= max_train_size)
    if len(train) < 2:
        raise ScalefitError(f"{table.source}: {len(train)} point(s) ≤ {max_train_size:g} "
                            f"{table.size_unit} to fit; need at least 2")
    sizes, se = train.size, train.se
    eval_sizes = np.atleast_1d(np.asarray(eval_sizes, float))
    if "bootstrap" in names and n_boot < 2:
        raise ScalefitError("the bootstrap method needs n_boot >= 2 resamples")
    jobs, weights = [], []
    for g in regs.values():
        for start, stop in chunk_ranges(n_replicates, chunk):
            jobs.append((g, sizes, se, eval_sizes, start, stop, seed, given, n_boot, level,
                         table.size_unit))
            weights.append(stop - start)
    results = run_jobs(_validate_chunk, jobs, executor=executor, desc="validate", quiet=quiet,
                       unit="replicate", weights=weights)
    G, R = len(regs), n_replicates
    stacked = [np.concatenate([res[k] for res in results]).reshape((G, R) + results[0][k].shape[1:])
               for k in range(4)]
    truth = np.stack([g.value(eval_sizes) for g in regs.values()])
    notes = [f"fits on {len(sizes)} sizes ({', '.join(f'{s:g}' for s in sizes)} "
             f"{table.size_unit}) with the observed SEs; truths calibrated to {table.source}"]
    workers = describe_executor(executor)
    return ValidationResult(
        regimes=tuple(regs), methods=names, sizes=eval_sizes, train_sizes=sizes, train_se=se,
        truth=truth, mean=stacked[0], lo=stacked[1], hi=stacked[2], weights=stacked[3],
        laws=tuple(PAPER_LAWS), regime_params=regs, level=level, seed=seed,
        n_boot=n_boot if "bootstrap" in names else 0, size_unit=table.size_unit,
        seconds=time.perf_counter() - t0, workers=workers, notes=notes)
