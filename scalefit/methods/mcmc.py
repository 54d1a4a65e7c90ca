"""Bayesian posteriors of each law by MCMC, and a model-averaged posterior predictive.

The scaling paper weights laws by AIC (eq. 7) and sizes intervals by the delta method
(eq. 9) and a parametric bootstrap (section 2.5). This module gives the Bayesian counterpart:

Likelihood
    y_i ~ Normal(f(N_i; θ), σ_i) independently, σ_i the table's standard errors taken as absolute
    (as in the fits, eq. 6): log L = −chi²/2 − Σ ln(σ_i √(2π)).
Priors (``prior_box``)
    Independent uniforms. A parameter with finite bounds in the law's registry (power b, saturating
    N0, sigmoid b and c) is uniform on those bounds. A parameter the registry leaves unbounded
    (every amplitude a, the linear laws' coefficients) gets a proper, data-scaled range: the
    weighted-least-squares estimate ± max(``prior_width`` × its standard error, 10 × max_i(|y_i| +
    σ_i)), ``prior_width`` = 20 by default. For the linear laws the likelihood outside that box is
    below e⁻²⁰⁰ of its peak, so the posterior is the Gaussian N(θ̂, (JᵀJ)⁻¹) to sampling precision
    and its mean is the WLS estimate; for the nonlinear laws the box is where the prior matters
    (the sigmoid's amplitude grows without limit as its midpoint c moves past the data, a ridge
    that only c's bound closes).
Sampler (``sample_law``)
    emcee's ensemble sampler, one per law: ``n_walkers`` walkers started in a small box around
    the WLS fit; differential-evolution moves with 20% snooker moves (``ensemble_sampler``); a
    vectorised log-probability (``vectorize=True``); unbounded parameters sampled as
    z = asinh(θ / s0) with the Jacobian in the density (the prior stays uniform in θ; this only
    straightens the sigmoid's ridge for the sampler); the first ``n_burn`` steps (default a
    quarter of ``n_steps``) discarded, and a run whose diagnostics fail extended by doubling up
    to ``max_steps``. The pointwise log-likelihood (for LOO) is recomputed from the stored draws.
    Seeded per law from (``seed``, law name): the same ``seed`` reproduces every draw.
Convergence (``LawPosterior.problems``)
    arviz's rank-normalised split R-hat and bulk and tail effective sample sizes per parameter,
    treating each walker as a chain (as ``arviz.from_emcee`` does; walkers of an ensemble are not
    independent, so this is a necessary rather than sufficient check). A law converges when every
    parameter has R-hat ≤ 1.01 and bulk and tail ESS ≥ 400 (Vehtari et al. 2021); otherwise the
    result names the law and parameter and suggests the number of steps to run.
Predictions
    The posterior of each law's curve f(N; θ) at the requested sizes (the expected gain, without a
    new measurement's noise, comparable with the bootstrap and the delta method): mean and central
    95% interval. The model average is the mixture Σ_m w_m p_m(f(N) | y) with weights from
    ``weights``: "aic" (default), "aicc" or "bic" information-criterion weights of the WLS fits
    (eq. 7); "stacking" (Yao et al. 2018) or "pseudo-bma" (Bayesian-bootstrap pseudo-BMA+) from
    arviz's PSIS-LOO. With five points every point is influential, leave-one-out drops 20% of the
    data, and Pareto k is often above 0.7 (then PSIS-LOO is unreliable and a note says so); LOO
    also measures interpolation, not extrapolation. Read LOO weights as a sensitivity check.
"""

from __future__ import annotations

import math
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.core.average import AveragedFit, akaike_weights, fit_laws, size_key
from scalefit.core.fit import FitResult
from scalefit.core.laws import Law, get_law
from scalefit.data import GainTable
from scalefit.errors import ScalefitError
from scalefit.io import atomic_path, atomic_write_csv, atomic_write_json
from scalefit.progress import progress

WEIGHTS = ("aic", "aicc", "bic", "stacking", "pseudo-bma")
RHAT_MAX = 1.01
ESS_MIN = 400.0


def prior_box(law: Law | str, fit: FitResult, sizes, gains, se, prior_width: float = 20.0):
    """The uniform prior's (low, high) per parameter: the law's bounds where finite, else the
    WLS estimate ± max(``prior_width`` × SE, 10 × max(|gain| + se)) (see the module docstring)."""
    law = get_law(law)
    gains, se = np.asarray(gains, float), np.asarray(se, float)
    lo, hi = (np.asarray(v, float).copy() for v in law.bounds(np.asarray(sizes, float), gains))
    floor = 10.0 * float(np.max(np.abs(gains) + se))
    width = np.where(np.isfinite(fit.param_se), prior_width * fit.param_se, 0.0)
    width = np.maximum(width, floor)
    lo = np.where(np.isfinite(lo), lo, fit.params - width)
    hi = np.where(np.isfinite(hi), hi, fit.params + width)
    return lo, hi


def _seeds(seed: int | None, name: str) -> tuple[int, int]:
    """Two 32-bit seeds per law, stable under adding or removing other laws."""
    ss = np.random.SeedSequence([0 if seed is None else int(seed), zlib.crc32(name.encode())])
    a, b = ss.generate_state(2)
    return int(a), int(b)


@dataclass
class LawPosterior:
    """MCMC draws of one law's parameters: ``chain`` (walkers, draws, k) after burn-in and the
    pointwise log-likelihood ``log_lik`` (walkers, draws, n)."""

    law: str
    sizes: np.ndarray
    gains: np.ndarray
    se: np.ndarray
    chain: np.ndarray
    log_lik: np.ndarray
    prior_low: np.ndarray
    prior_high: np.ndarray
    wls: np.ndarray
    acceptance: float
    n_steps: int
    n_burn: int
    seed: int | None
    size_unit: str = "B"
    _diag: dict | None = field(default=None, repr=False)
    _idata: object = field(default=None, repr=False)

    @property
    def spec(self) -> Law:
        return get_law(self.law)

    @property
    def params(self) -> tuple[str, ...]:
        return self.spec.params

    @property
    def n_walkers(self) -> int:
        return self.chain.shape[0]

    @property
    def draws(self) -> np.ndarray:
        """All draws pooled: (walkers × draws, k)."""
        return self.chain.reshape(-1, self.chain.shape[-1])

    def predict(self, sizes) -> np.ndarray:
        """The law's curve at ``sizes`` for every draw: (walkers × draws, len(sizes))."""
        return self.spec.value(self.draws, np.atleast_1d(np.asarray(sizes, float)))

    def to_idata(self, sizes=None):
        """arviz InferenceData: posterior (walkers as chains), log_likelihood, observed and
        constant data, and, with ``sizes``, the posterior of the curve as ``predictions``."""
        import arviz as az

        W, D, _ = self.chain.shape
        kwargs = {}
        if sizes is not None:
            sizes = np.atleast_1d(np.asarray(sizes, float))
            kwargs = dict(predictions={"gain": self.predict(sizes).reshape(W, D, -1)},
                          pred_dims={"gain": ["size"]}, pred_coords={"size": sizes})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return az.from_dict(
                posterior={p: self.chain[:, :, j] for j, p in enumerate(self.params)},
                log_likelihood={"y": self.log_lik},
                observed_data={"y": self.gains},
                constant_data={"size": self.sizes, "se": self.se},
                dims={"y": ["point"], "size": ["point"], "se": ["point"]},
                coords={"point": np.arange(len(self.gains))},
                attrs={"law": self.law, "formula": self.spec.formula,
                       "size_unit": self.size_unit, "n_steps": self.n_steps,
                       "n_burn": self.n_burn, "seed": -1 if self.seed is None else self.seed,
                       "prior": "independent uniforms",
                       "prior_low": self.prior_low.tolist(),
                       "prior_high": self.prior_high.tolist()},
                **kwargs)

    @property
    def idata(self):
        if self._idata is None:
            self._idata = self.to_idata()
        return self._idata

    def diagnostics(self) -> dict[str, dict[str, float]]:
        """R-hat, bulk ESS and tail ESS per parameter (arviz)."""
        if self._diag is None:
            import arviz as az

            post = self.idata.posterior
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rhat = az.rhat(post)
                bulk = az.ess(post, method="bulk")
                tail = az.ess(post, method="tail")
            self._diag = {p: {"rhat": float(rhat[p]), "ess_bulk": float(bulk[p]),
                              "ess_tail": float(tail[p])} for p in self.params}
        return self._diag

    @property
    def rhat_max(self) -> float:
        return max(d["rhat"] for d in self.diagnostics().values())

    @property
    def ess_bulk_min(self) -> float:
        return min(d["ess_bulk"] for d in self.diagnostics().values())

    @property
    def ess_tail_min(self) -> float:
        return min(d["ess_tail"] for d in self.diagnostics().values())

    def problems(self) -> list[str]:
        """One line per parameter that fails R-hat ≤ 1.01 or ESS ≥ 400, with the fix."""
        out = []
        for p, d in self.diagnostics().items():
            bad = []
            if not d["rhat"] <= RHAT_MAX:
                bad.append(f"R-hat {d['rhat']:.3f} > {RHAT_MAX}")
            if not d["ess_bulk"] >= ESS_MIN:
                bad.append(f"bulk ESS {d['ess_bulk']:.0f} < {ESS_MIN:.0f}")
            if not d["ess_tail"] >= ESS_MIN:
                bad.append(f"tail ESS {d['ess_tail']:.0f} < {ESS_MIN:.0f}")
            if bad:
                ess = min(d["ess_bulk"], d["ess_tail"])
                factor = max(2, math.ceil(ESS_MIN / max(ess, 1.0) * 1.5))
                out.append(f"MCMC for law {self.law} has not converged in parameter {p} "
                           f"({', '.join(bad)}): run longer, e.g. {self.n_steps * factor} "
                           "steps per walker")
        return out

    @property
    def converged(self) -> bool:
        return not self.problems()

    def param_summary(self) -> dict[str, dict]:
        draws, diag = self.draws, self.diagnostics()
        out = {}
        for j, p in enumerate(self.params):
            lo, hi = np.quantile(draws[:, j], [0.025, 0.975])
            out[p] = {"mean": float(draws[:, j].mean()), "sd": float(draws[:, j].std(ddof=1)),
                      "ci95": [float(lo), float(hi)], "wls": float(self.wls[j]),
                      "prior": [float(self.prior_low[j]), float(self.prior_high[j])], **diag[p]}
        return out


def ensemble_sampler(n_walkers: int, ndim: int, log_prob, seed: int, moves=None):
    """The one emcee set-up of scalefit (the laws' posteriors here, the decomposition's in
    ``scalefit.studies.decompose``): an ``EnsembleSampler`` over a vectorised ``log_prob`` whose
    random state is seeded by ``seed``, with differential-evolution proposals and 20% snooker
    moves by default (ter Braak & Vrugt 2008), emcee's suggestion for posteriors with ridges and
    several modes: the sigmoid's has both (a power-law-like ridge toward its midpoint bound and an
    early-saturation mode)."""
    import emcee

    if moves is None:
        moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(n_walkers, ndim, log_prob, vectorize=True, moves=moves)
    sampler.random_state = np.random.RandomState(seed).get_state()
    return sampler


def sample_law(law: Law | str, table: GainTable, fit: FitResult | None = None, *,
               n_walkers: int = 32, n_steps: int = 2500, n_burn: int | None = None,
               max_steps: int | None = None, seed: int | None = 0, prior_width: float = 20.0,
               quiet: bool = False, moves=None, reparam: bool = True) -> LawPosterior:
    """Sample one law's posterior with emcee (see the module docstring for model and priors).

    Runs ``n_steps`` steps of ``n_walkers`` walkers and discards the first ``n_burn`` (default a
    quarter of ``n_steps``). If the diagnostics then fail (R-hat > 1.01 or an ESS < 400), the
    chain is extended by doubling until they pass or ``max_steps`` (default 4 × ``n_steps``; set
    it to ``n_steps`` for a fixed length) is reached; the result says which parameter still
    fails. ``fit`` is the law's WLS fit (computed if missing): it anchors the starting ball and
    the prior range of unbounded parameters. Raises ``ScalefitError`` if that fit failed.
    """
    law = get_law(law)
    x, y, s = table.size, table.value, table.se
    if fit is None:
        from scalefit.core.fit import fit_law

        fit = fit_law(law, x, y, s, size_unit=table.size_unit)
    if not fit.converged:
        raise ScalefitError(f"cannot sample law {law.name}: its fit {fit.status} ({fit.message})")
    n_burn = n_steps // 4 if n_burn is None else int(n_burn)
    max_steps = 4 * n_steps if max_steps is None else max(int(max_steps), n_steps)
    if not 0 <= n_burn < n_steps:
        raise ScalefitError(f"burn-in ({n_burn}) must be below the number of steps ({n_steps})")
    k = law.k
    if n_walkers < 2 * k:
        raise ScalefitError(f"emcee needs at least {2 * k} walkers for law {law.name}")
    lo, hi = prior_box(law, fit, x, y, s, prior_width)
    const = -np.log(s) - 0.5 * np.log(2.0 * np.pi)

    def log_lik(theta):  # pointwise, (W, n)
        with np.errstate(all="ignore"):
            return -0.5 * ((y - law.value(theta, x)) / s) ** 2 + const

    # Sampling coordinates: z = asinh(θ / s0) for the parameters the registry leaves unbounded
    # (amplitudes and linear coefficients), z = θ otherwise. The prior stays uniform in θ (the
    # Jacobian s0·cosh z enters the density); the change only helps the sampler, turning the
    # sigmoid's ridge a ∝ e^{b c} into a nearly straight line that the ensemble moves follow.
    raw_lo, raw_hi = (np.asarray(v, float) for v in law.bounds(x, y))
    free = ~(np.isfinite(raw_lo) & np.isfinite(raw_hi)) if reparam else np.zeros(k, bool)
    s0 = float(np.max(np.abs(y) + s))

    def to_theta(z):
        return np.where(free, s0 * np.sinh(z), z)

    def to_z(theta):
        return np.where(free, np.arcsinh(theta / s0), theta)

    def log_prob(z):
        z = np.asarray(z, float)
        theta = to_theta(z)
        inside = np.all((theta >= lo) & (theta <= hi), axis=1)
        with np.errstate(all="ignore"):
            lp = np.sum(log_lik(theta), axis=1) + np.sum(np.where(free, np.log(np.cosh(z)), 0.0),
                                                          axis=1)
        return np.where(inside & np.isfinite(lp), lp, -np.inf)

    init_seed, emcee_seed = _seeds(seed, law.name)
    rng = np.random.default_rng(init_seed)
    span = hi - lo
    half = np.where(np.isfinite(fit.param_se) & (fit.param_se > 0), 0.1 * fit.param_se,
                    1e-3 * (np.abs(fit.params) + 1.0))
    a = np.maximum(fit.params - half, lo + 1e-9 * span)
    b = np.minimum(fit.params + half, hi - 1e-9 * span)
    state = to_z(a + (b - a) * rng.random((n_walkers, k)))
    sampler = ensemble_sampler(n_walkers, k, log_prob, emcee_seed, moves)

    def run(steps, start):
        last = start
        for last in progress(sampler.sample(start, iterations=steps, store=True), total=steps,
                             desc=f"mcmc {law.name}", quiet=quiet, unit="step"):
            pass
        return last

    def posterior():
        chain = to_theta(np.swapaxes(sampler.get_chain(discard=n_burn), 0, 1))  # (W, D, k)
        # The pointwise log-likelihood (for LOO) of the stored draws, in one vectorised call
        # rather than carried through the sampler as blobs.
        ll = log_lik(chain.reshape(-1, k)).reshape(chain.shape[:2] + (len(x),))
        return LawPosterior(law.name, x, y, s, chain, ll, lo, hi, np.asarray(fit.params, float),
                            float(np.mean(sampler.acceptance_fraction)), sampler.iteration,
                            n_burn, seed, table.size_unit)

    state = run(n_steps, state)
    post = posterior()
    while not post.converged and sampler.iteration < max_steps:
        state = run(min(sampler.iteration, max_steps - sampler.iteration), state)
        post = posterior()
    return post


def _weighted_quantiles(values: list[np.ndarray], weights, qs) -> np.ndarray:
    """Quantiles of the mixture Σ w_m · (empirical distribution of values[m])."""
    v = np.concatenate(values)
    w = np.concatenate([np.full(len(vals), wm / len(vals)) for vals, wm in zip(values, weights)])
    order = np.argsort(v)
    v, w = v[order], w[order]
    cdf = np.cumsum(w) - 0.5 * w
    cdf /= w.sum()
    return np.interp(qs, cdf, v)


@dataclass
class MCMCResult:
    """Posteriors of every law and their model-averaged posterior predictive at ``sizes``."""

    sizes: np.ndarray
    posteriors: dict[str, LawPosterior]
    weights: dict[str, float]
    weights_method: str
    loo: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    size_unit: str = "B"
    seed: int | None = 0

    def law_predictions(self, name: str) -> list[dict]:
        pred = self.posteriors[name].predict(self.sizes)
        lo, hi = np.quantile(pred, [0.025, 0.975], axis=0)
        return [{"mean": float(pred[:, j].mean()), "sd": float(pred[:, j].std(ddof=1)),
                 "ci95": [float(lo[j]), float(hi[j])]} for j in range(len(self.sizes))]

    def average_predictions(self) -> list[dict]:
        """The mixture Σ w_m p_m at each size: mean Σ w_m E_m and mixture quantiles."""
        names = [n for n in self.posteriors if self.weights.get(n, 0.0) > 0]
        w = np.array([self.weights[n] for n in names])
        w = w / w.sum()
        preds = [self.posteriors[n].predict(self.sizes) for n in names]
        out = []
        for j in range(len(self.sizes)):
            cols = [p[:, j] for p in preds]
            means = np.array([c.mean() for c in cols])
            second = np.array([np.mean(c**2) for c in cols])
            mean = float(np.sum(w * means))
            var = float(np.sum(w * second) - mean**2)
            lo, hi = _weighted_quantiles(cols, w, [0.025, 0.975])
            out.append({"mean": mean, "sd": math.sqrt(max(var, 0.0)),
                        "ci95": [float(lo), float(hi)]})
        return out

    def problems(self) -> list[str]:
        return [line for post in self.posteriors.values() for line in post.problems()]

    def to_dict(self) -> dict:
        """``{"laws": {NAME: {"rhat_max", "ess_bulk_min", "ess_tail_min", "predictions": {SIZE:
        {"mean", "ci95"}}, ...}}, "average": {SIZE: {"mean", "ci95"}}, ...}``."""
        keys = [size_key(s) for s in self.sizes]
        laws = {}
        for name, post in self.posteriors.items():
            laws[name] = {
                "rhat_max": post.rhat_max, "ess_bulk_min": post.ess_bulk_min,
                "ess_tail_min": post.ess_tail_min, "converged": post.converged,
                "predictions": dict(zip(keys, self.law_predictions(name))),
                "params": post.param_summary(), "acceptance": post.acceptance,
                "weight": self.weights.get(name, 0.0), "loo": self.loo.get(name, {}),
                "steps": post.n_steps,
                "problems": post.problems(),
            }
        first = next(iter(self.posteriors.values()))
        return {
            "laws": laws,
            "average": dict(zip(keys, self.average_predictions())),
            "weights": dict(self.weights),
            "weights_method": self.weights_method,
            "walkers": first.n_walkers, "burn": first.n_burn,
            "seed": self.seed, "prior": "uniform on the law's bounds; unbounded parameters: "
                                        "WLS ± max(20 SE, 10 max(|y|+se))",
            "size_unit": self.size_unit,
            "notes": list(self.notes),
        }

    def summary_frame(self) -> pd.DataFrame:
        """One row per (law, parameter): posterior summary, diagnostics, prior range, WLS value."""
        rows = []
        for name, post in self.posteriors.items():
            for p, d in post.param_summary().items():
                rows.append({"law": name, "parameter": p, "mean": d["mean"], "sd": d["sd"],
                             "ci_low": d["ci95"][0], "ci_high": d["ci95"][1], "wls": d["wls"],
                             "rhat": d["rhat"], "ess_bulk": d["ess_bulk"],
                             "ess_tail": d["ess_tail"], "prior_low": d["prior"][0],
                             "prior_high": d["prior"][1]})
        return pd.DataFrame(rows)

    def predictions_frame(self) -> pd.DataFrame:
        rows = []
        for name in list(self.posteriors) + ["average"]:
            preds = (self.average_predictions() if name == "average"
                     else self.law_predictions(name))
            for size, d in zip(self.sizes, preds):
                rows.append({"model": name, "size": size, "mean": d["mean"], "sd": d["sd"],
                             "ci_low": d["ci95"][0], "ci_high": d["ci95"][1],
                             "weight": 1.0 if name == "average" else self.weights.get(name, 0.0)})
        return pd.DataFrame(rows)

    def save(self, directory: str | Path) -> list[Path]:
        """Write ``mcmc_<law>.nc`` (arviz InferenceData, NetCDF), ``mcmc_summary.csv``,
        ``mcmc_predictions.csv`` and ``mcmc.json`` into ``directory``, each atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, post in self.posteriors.items():
            path = directory / f"mcmc_{name}.nc"
            with atomic_path(path) as tmp:
                post.to_idata(self.sizes).to_netcdf(str(tmp))
            written.append(path)
        for fname, frame in (("mcmc_summary.csv", self.summary_frame()),
                             ("mcmc_predictions.csv", self.predictions_frame())):
            atomic_write_csv(directory / fname, frame)
            written.append(directory / fname)
        atomic_write_json(directory / "mcmc.json", self.to_dict())
        written.append(directory / "mcmc.json")
        return written


def _loo(posteriors: dict[str, LawPosterior]) -> tuple[dict[str, dict], list[str]]:
    """PSIS-LOO per law (arviz), with a note for every law with Pareto k > 0.7."""
    import arviz as az

    out, notes = {}, []
    for name, post in posteriors.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = az.loo(post.idata, pointwise=True)
        kmax = float(np.max(res.pareto_k.values))
        out[name] = {"elpd_loo": float(res.elpd_loo), "se": float(res.se),
                     "p_loo": float(res.p_loo), "pareto_k_max": kmax}
        if kmax > 0.7:
            notes.append(f"PSIS-LOO for law {name}: Pareto k max {kmax:.2f} > 0.7, its LOO "
                         "estimate (and LOO-based weights) are unreliable with so few points")
    return out, notes


def loo_weights(posteriors: dict[str, LawPosterior], method: str = "stacking",
                seed: int | None = 0) -> dict[str, float]:
    """Stacking or Bayesian-bootstrap pseudo-BMA weights from arviz's ``compare`` (PSIS-LOO)."""
    import arviz as az

    if len(posteriors) == 1:
        return {next(iter(posteriors)): 1.0}
    arviz_method = {"stacking": "stacking", "pseudo-bma": "BB-pseudo-BMA"}[method]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare({n: p.idata for n, p in posteriors.items()}, ic="loo",
                           method=arviz_method, seed=seed)
    return {n: float(table.loc[n, "weight"]) for n in posteriors}


def mcmc(table: GainTable, sizes, *, laws=None, weights: str = "aic",
         fit: AveragedFit | None = None, n_walkers: int = 32, n_steps: int = 2500,
         n_burn: int | None = None, max_steps: int | None = None, seed: int | None = 0,
         prior_width: float = 20.0, quiet: bool = False, moves=None) -> MCMCResult:
    """Sample every law (default: every law whose WLS fit converged) and average them.

    ``weights``: "aic", "aicc", "bic" (information-criterion weights of the WLS fits, eq. 7),
    "stacking" or "pseudo-bma" (from PSIS-LOO). Laws whose fit failed or was skipped are left out
    with a note. Each law's chain is seeded from (``seed``, law name).
    """
    if weights not in WEIGHTS:
        raise ScalefitError(f"unknown MCMC weights {weights!r}; choose from {', '.join(WEIGHTS)}")
    fit = fit if fit is not None else fit_laws(table, laws=laws)
    names = list(fit.fits) if laws is None else list(laws)
    notes = []
    posteriors = {}
    for name in names:
        f = fit.fits.get(name)
        if f is None or not f.converged:
            notes.append(f"law {name} not sampled: its fit "
                         f"{'is missing' if f is None else f.status}")
            continue
        posteriors[name] = sample_law(name, table, f, n_walkers=n_walkers, n_steps=n_steps,
                                      n_burn=n_burn, max_steps=max_steps, seed=seed,
                                      prior_width=prior_width, quiet=quiet, moves=moves)
    if not posteriors:
        raise ScalefitError(f"{table.source}: no law could be sampled")
    loo, loo_notes = _loo(posteriors)
    if weights in ("aic", "aicc", "bic"):
        scores = [fit.fits[n].criteria[weights] for n in posteriors]
        w = dict(zip(posteriors, map(float, akaike_weights(scores))))
    else:
        w = loo_weights(posteriors, weights, seed)
        notes += loo_notes
    notes += [line for post in posteriors.values() for line in post.problems()]
    return MCMCResult(np.atleast_1d(np.asarray(sizes, float)), posteriors, w, weights, loo,
                      notes, table.size_unit, seed)
