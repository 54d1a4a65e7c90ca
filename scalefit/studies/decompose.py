"""The three-component gain decomposition of seed 000 (eq. 10-13, Table 2, Figure 3), and why
five points cannot pin it down.

    Δ(N) = α N^β                       distribution match   (eq. 11, 0 ≤ β ≤ 1)
         + γ (1 − exp(−N / N_char))    dark knowledge       (eq. 12)
         + δ ln(1 + η N)               regularisation       (eq. 13)

Six parameters θ = (α, β, γ, N_char, δ, η), amplitudes α, γ, δ ≥ 0 (each mechanism adds to the
gain; the paper's plots stack them), N_char and η within four decades of the observed sizes.

Fitting (``fit_decomposition``). Weighted least squares with the table's SEs (chi² as eq. 6). The
model is linear in the amplitudes, so for fixed nonlinear parameters φ = (β, N_char, η) the
optimal non-negative amplitudes are an exact small NNLS problem (all subsets of the three
columns, vectorised); chi² is profiled on a grid over φ, and the best grid points plus random
starts are polished jointly on all six parameters with bounded trust-region least squares.

Identifiability. With n = 5 points and k = 6 parameters the model has n − k < 0 degrees of
freedom; the whitened Jacobian has rank ≤ 5, so at least one direction of θ leaves every fitted
value unchanged. The result shows what that means for the quantity anyone reads off Table 2 —
each component's *share* of the gain at a size beyond the data (default 70 B):

- ``profile``: the profile chi² of each component's share at that size (minimum chi² subject to
  share = s, s on a grid in [0, 1]); flat profiles (Δchi² < 3.84 over most of [0, 1]) mean the
  data cannot tell a 0% share from a 100% one;
- ``posterior``: emcee samples (differential-evolution moves, which follow the posterior's ridge
  better than the default stretch move) of θ under a uniform prior on each component's value at the largest
  observed size (0 to twice the largest gain), on β ∈ [0, 1] and on ln N_char and ln η within
  their bounds; the shares' 95% intervals, next to the same intervals under the prior alone.
  Where posterior and prior intervals agree, the data say nothing about the shares;
- ``alternatives``: distinct fits of essentially equal chi² with very different shares.

``paper_check`` confronts the paper's reported parameters (β = 0.95, N_char = 11.5, δ = 3.08,
η = 0.83) and its Table 2 with the data and with each other (docs/analyses.md).
"""

from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from scalefit.core.average import size_key
from scalefit.core.fit import weighted_least_squares
from scalefit.data import GainTable
from scalefit.errors import ScalefitError

PARAMS = ("alpha", "beta", "gamma", "N_char", "delta", "eta")
COMPONENTS = ("distribution_match", "dark_knowledge", "regularization")
COMPONENT_LABELS = {"distribution_match": "distribution match (α N^β)",
                    "dark_knowledge": "dark knowledge (γ (1 − e^(−N/N_char)))",
                    "regularization": "regularisation (δ ln(1 + η N))"}
TABLE2_SIZES = (0.5, 1.0, 8.0, 70.0, 405.0)
CHI2_95 = 3.841458820694124  # chi²(1) 95% quantile: profile-likelihood interval threshold

# The scaling paper (seed 000), section 3.4 and Table 2 (sizes in B, components in pp).
PAPER_PARAMS = {"beta": 0.95, "N_char": 11.5, "delta": 3.08, "eta": 0.83}
PAPER_TABLE2 = pd.DataFrame({
    "size": [0.5, 1.0, 8.0, 70.0, 405.0],
    "distribution_match": [0.16, 0.23, 1.47, 10.92, 56.53],
    "dark_knowledge": [0.00, 0.01, 0.06, 0.10, 0.10],
    "regularization": [0.91, 1.36, 3.39, 5.21, 6.44],
    "total": [1.08, 1.60, 4.93, 16.23, 63.07]})


# --- the model ----------------------------------------------------------------------------------

def _basis(beta, n_char, eta, x):
    """Component values at unit amplitude, (..., 3, n), for nonlinear parameters (...,)."""
    beta, n_char, eta = (np.asarray(v, float)[..., None] for v in (beta, n_char, eta))
    x = np.asarray(x, float)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.stack([x**beta, -np.expm1(-x / n_char), np.log1p(eta * x)], axis=-2)


def components(theta, sizes) -> np.ndarray:
    """The three components at ``sizes``: (..., 3, m) for parameters ``theta`` (..., 6)."""
    t = np.asarray(theta, float)
    amp = t[..., [0, 2, 4]]
    return amp[..., :, None] * _basis(t[..., 1], t[..., 3], t[..., 5],
                                      np.atleast_1d(np.asarray(sizes, float)))


def value(theta, sizes) -> np.ndarray:
    """The total gain Δ(N) (eq. 10) at ``sizes``: (..., m)."""
    return components(theta, sizes).sum(axis=-2)


def jacobian(theta, sizes) -> np.ndarray:
    """∂Δ/∂θ at ``sizes``: (m, 6) for one θ."""
    a, b, g, nc, d, e = np.asarray(theta, float)
    x = np.atleast_1d(np.asarray(sizes, float))
    xb = x**b
    ex = np.exp(-x / nc)
    return np.stack([xb, a * xb * np.log(x), -np.expm1(-x / nc), -g * ex * x / nc**2,
                     np.log1p(e * x), d * x / (1.0 + e * x)], axis=-1)


def bounds(sizes) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) for θ: amplitudes ≥ 0, 0 ≤ β ≤ 1, N_char and 1/η within a factor 100 of the
    observed sizes (from far below the data to far above)."""
    x = np.asarray(sizes, float)
    lo = np.array([0.0, 0.0, 0.0, x.min() / 100.0, 0.0, 1.0 / (100.0 * x.max())])
    hi = np.array([np.inf, 1.0, np.inf, 100.0 * x.max(), np.inf, 100.0 / x.min()])
    return lo, hi


# --- exact NNLS for a few columns, vectorised ---------------------------------------------------

def _nnls_small(B: np.ndarray, y: np.ndarray, w: np.ndarray):
    """min_a≥0 Σ w (y − a·B)² for many problems at once.

    ``B`` (P, c, n) columns per problem, ``y`` (n,), ``w`` (n,) = 1/σ². Exact: the optimum of an
    NNLS problem is the unconstrained optimum of its active subset, so every subset is solved and
    the best feasible one kept. Returns amplitudes (P, c) and chi² (P,).
    """
    P, c, n = B.shape
    best_chi2 = np.full(P, float(np.sum(w * y * y)))  # a = 0
    best_a = np.zeros((P, c))
    Bw = B * w
    G = np.einsum("pcn,pdn->pcd", Bw, B)  # Gram matrices
    h = np.einsum("pcn,n->pc", Bw, y)
    for size in range(1, c + 1):
        for subset in itertools.combinations(range(c), size):
            idx = np.array(subset)
            Gs = G[:, idx[:, None], idx[None, :]]
            hs = h[:, idx]
            with np.errstate(all="ignore"):
                if size == 1:
                    a = hs / Gs[:, 0]
                else:
                    det = np.linalg.det(Gs)
                    ok = np.abs(det) > 1e-300
                    a = np.full_like(hs, np.nan)
                    if ok.any():
                        a[ok] = np.linalg.solve(Gs[ok], hs[ok][..., None])[..., 0]
                full = np.zeros((P, c))
                full[:, idx] = a
                chi2 = np.sum(w * (y - np.einsum("pc,pcn->pn", full, B)) ** 2, axis=1)
            good = np.all(np.isfinite(a), axis=1) & np.all(a >= 0, axis=1) & np.isfinite(chi2)
            better = good & (chi2 < best_chi2)
            best_chi2[better] = chi2[better]
            best_a[better] = full[better]
    return best_a, best_chi2


def _phi_grid(sizes, n_beta: int = 26, n_char: int = 25, n_eta: int = 25) -> np.ndarray:
    lo, hi = bounds(sizes)
    beta = np.linspace(0.0, 1.0, n_beta)
    nc = np.geomspace(lo[3], hi[3], n_char)
    eta = np.geomspace(lo[5], hi[5], n_eta)
    return np.stack(np.meshgrid(beta, nc, eta, indexing="ij"), axis=-1).reshape(-1, 3)


def _theta(phi: np.ndarray, amp: np.ndarray) -> np.ndarray:
    return np.stack([amp[..., 0], phi[..., 0], amp[..., 1], phi[..., 1], amp[..., 2],
                     phi[..., 2]], axis=-1)


# --- fitting ------------------------------------------------------------------------------------

@dataclass
class _Fit:
    theta: np.ndarray
    chi2: float


def _polish(x, y, s, theta0, lo, hi) -> _Fit | None:
    span = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(np.abs(theta0), 1.0))
    t0 = np.clip(theta0, lo + 1e-9 * span, hi - 1e-9 * span)
    r = weighted_least_squares(value, jacobian, x, y, s, t0, lo, hi, max_nfev=200)
    if r is None or not np.isfinite(r.cost):
        return None
    return _Fit(r.x, float(2.0 * r.cost))


def _multistart(x, y, s, n_starts: int, seed: int | None):
    """Grid of φ with exact NNLS amplitudes, then the best grid points and random starts
    polished on all six parameters. Returns the sorted list of fits."""
    lo, hi = bounds(x)
    w = 1.0 / s**2
    phi = _phi_grid(x)
    amp, chi2 = _nnls_small(_basis(phi[:, 0], phi[:, 1], phi[:, 2], x), y, w)
    order = np.argsort(chi2)
    rng = np.random.default_rng(seed)
    n_grid = max(1, n_starts // 2)
    starts = list(_theta(phi[order[:n_grid]], amp[order[:n_grid]]))
    # Random starts: φ uniform in (β, ln N_char, ln η), amplitudes by NNLS at that φ.
    m = max(0, n_starts - n_grid)
    rphi = np.column_stack([rng.uniform(0, 1, m),
                            np.exp(rng.uniform(np.log(lo[3]), np.log(hi[3]), m)),
                            np.exp(rng.uniform(np.log(lo[5]), np.log(hi[5]), m))])
    if m:
        ramp, _ = _nnls_small(_basis(rphi[:, 0], rphi[:, 1], rphi[:, 2], x), y, w)
        starts += list(_theta(rphi, ramp))
    fits = [f for f in (_polish(x, y, s, t, lo, hi) for t in starts) if f is not None]
    fits.sort(key=lambda f: f.chi2)
    return fits, len(starts)


def shares(theta, size) -> np.ndarray:
    """Each component's share of the total at one ``size``: (..., 3); NaN where the total is 0."""
    c = components(theta, [size])[..., 0]
    tot = c.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, c / tot, np.nan)


# --- profile likelihood of a component's share --------------------------------------------------

@dataclass
class ShareProfile:
    """Profile chi² of each component's share of the gain at ``size``.

    ``share`` (S,) the grid; ``chi2`` (3, S) the minimum chi² with component j's share fixed at
    share[s] (other parameters free, within bounds); ``delta_chi2`` = chi2 − the unconstrained
    minimum; ``interval`` {component: (lo, hi)} the shares with Δchi² ≤ 3.84 (95% profile-likelihood
    set, its hull, at the grid's resolution: a set narrower than the grid step is the best grid
    share); ``flat_fraction`` {component: fraction of [0, 1] inside that set}.
    """

    size: float
    share: np.ndarray
    chi2: np.ndarray
    chi2_min: float

    @property
    def delta_chi2(self) -> np.ndarray:
        return self.chi2 - self.chi2_min

    @property
    def interval(self) -> dict[str, tuple[float, float]]:
        out = {}
        for j, name in enumerate(COMPONENTS):
            inside = self.share[self.delta_chi2[j] <= CHI2_95]
            if not inside.size:  # narrower than the grid step: the best grid share
                inside = self.share[[int(np.argmin(self.delta_chi2[j]))]]
            out[name] = (float(inside.min()), float(inside.max()))
        return out

    @property
    def flat_fraction(self) -> dict[str, float]:
        return {name: float(np.mean(self.delta_chi2[j] <= CHI2_95))
                for j, name in enumerate(COMPONENTS)}

    def to_frame(self) -> pd.DataFrame:
        rows = [{"component": name, "share": float(s), "chi2": float(c), "delta_chi2": float(d)}
                for j, name in enumerate(COMPONENTS)
                for s, c, d in zip(self.share, self.chi2[j], self.delta_chi2[j])]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {"size": self.size, "share": self.share.tolist(), "chi2_min": self.chi2_min,
                "chi2": {name: self.chi2[j].tolist() for j, name in enumerate(COMPONENTS)},
                "interval95": {k: list(v) for k, v in self.interval.items()},
                "flat_fraction": self.flat_fraction}


def _constrained_chi2(phi, j, s, x, size, y, w):
    """min chi² over non-negative amplitudes with component j's share at ``size`` equal to s,
    for nonlinear parameters phi (P, 3). Returns (P,) chi² and amplitudes (P, 3)."""
    Bx = _basis(phi[:, 0], phi[:, 1], phi[:, 2], x)  # (P, 3, n)
    c = _basis(phi[:, 0], phi[:, 1], phi[:, 2], [size])[..., 0]  # (P, 3)
    others = [i for i in range(3) if i != j]
    P = len(phi)
    amp = np.zeros((P, 3))
    if s >= 1.0:
        a, chi2 = _nnls_small(Bx[:, [j]], y, w)
        amp[:, j] = a[:, 0]
        chi2 = np.where(a[:, 0] > 0, chi2, np.inf)  # share undefined for a zero total
        return chi2, amp
    if s <= 0.0:
        a, chi2 = _nnls_small(Bx[:, others], y, w)
        amp[:, others] = a
        chi2 = np.where(a.sum(axis=1) > 0, chi2, np.inf)
        return chi2, amp
    ratio = s / (1.0 - s)
    with np.errstate(all="ignore"):
        cols = np.stack([Bx[:, i] + ratio * (c[:, i] / c[:, j])[:, None] * Bx[:, j]
                         for i in others], axis=1)
    a, chi2 = _nnls_small(cols, y, w)
    amp[:, others] = a
    with np.errstate(all="ignore"):
        amp[:, j] = ratio * np.sum(a * c[:, others], axis=1) / c[:, j]
    chi2 = np.where((a.sum(axis=1) > 0) & np.isfinite(chi2) & np.isfinite(amp[:, j]), chi2,
                    np.inf)
    return chi2, amp


def profile_shares(table: GainTable, size: float = 70.0, n_grid: int = 21, chi2_min=None,
                   refine: bool = True) -> ShareProfile:
    """The profile chi² of each component's share at ``size`` (see ``ShareProfile``).

    For each share value the nonlinear parameters are scanned on a grid (amplitudes exact by
    constrained NNLS) and the best grid point is refined by Nelder–Mead in (β, ln N_char, ln η).
    """
    x, y, s = table.size, table.gain, table.se
    w = 1.0 / s**2
    lo, hi = bounds(x)
    phi = _phi_grid(x, 21, 17, 17)
    grid = np.linspace(0.0, 1.0, n_grid)
    out = np.full((3, n_grid), np.inf)
    for j in range(3):
        for k, sh in enumerate(grid):
            chi2, _ = _constrained_chi2(phi, j, sh, x, size, y, w)
            best = int(np.argmin(chi2))
            out[j, k] = chi2[best]
            if refine and np.isfinite(chi2[best]):
                def objective(u):
                    p = np.array([[np.clip(u[0], 0.0, 1.0),
                                   np.exp(np.clip(u[1], np.log(lo[3]), np.log(hi[3]))),
                                   np.exp(np.clip(u[2], np.log(lo[5]), np.log(hi[5])))]])
                    return float(_constrained_chi2(p, j, sh, x, size, y, w)[0][0])

                u0 = np.array([phi[best, 0], np.log(phi[best, 1]), np.log(phi[best, 2])])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = optimize.minimize(objective, u0, method="Nelder-Mead",
                                          options={"xatol": 1e-3, "fatol": 1e-4, "maxfev": 200})
                out[j, k] = min(out[j, k], float(r.fun))
    if chi2_min is None:
        chi2_min = float(np.min(out))
    return ShareProfile(float(size), grid, out, float(min(chi2_min, np.min(out))))


# --- posterior sampling -------------------------------------------------------------------------

@dataclass
class SharePosterior:
    """emcee samples of the decomposition and the component shares they imply.

    ``theta`` (D, 6) thinned posterior draws; ``sizes`` (m,); ``shares`` (D, 3, m) and ``total``
    (D, m) at ``sizes``; ``prior_shares`` (D', 3, m) the same under the prior alone; ``tau`` the
    integrated autocorrelation time per parameter (steps), ``n_steps``, ``n_walkers``,
    ``acceptance``; ``converged`` when the chain is at least 50 τ long.
    """

    theta: np.ndarray
    sizes: np.ndarray
    shares: np.ndarray
    total: np.ndarray
    prior_shares: np.ndarray
    tau: np.ndarray
    n_steps: int
    n_walkers: int
    acceptance: float
    prior: dict
    seed: int | None

    @property
    def converged(self) -> bool:
        return bool(np.all(np.isfinite(self.tau)) and self.n_steps >= 50 * np.max(self.tau))

    def interval(self, level: float = 0.95, prior: bool = False) -> np.ndarray:
        """(2, 3, m) central interval of each component's share at each size."""
        d = self.prior_shares if prior else self.shares
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanquantile(d, [0.5 - level / 2, 0.5 + level / 2], axis=0)

    def total_interval(self, level: float = 0.95) -> np.ndarray:
        """(3, m): posterior 2.5%, 50% and 97.5% (for ``level`` 0.95) of the total gain."""
        return np.nanquantile(self.total, [0.5 - level / 2, 0.5, 0.5 + level / 2], axis=0)

    def median(self) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(self.shares, axis=0)

    def to_frame(self) -> pd.DataFrame:
        """One row per (component, size): posterior median and 95% interval of the share, and the
        prior's 95% interval."""
        med, post, pri = self.median(), self.interval(), self.interval(prior=True)
        return pd.DataFrame([{"component": name, "size": float(s), "median": med[j, k],
                              "lo95": post[0, j, k], "hi95": post[1, j, k],
                              "prior_lo95": pri[0, j, k], "prior_hi95": pri[1, j, k]}
                             for j, name in enumerate(COMPONENTS)
                             for k, s in enumerate(self.sizes)])

    def to_dict(self) -> dict:
        f = self.to_frame()
        return {"n_walkers": self.n_walkers, "n_steps": self.n_steps, "draws": len(self.theta),
                "acceptance": self.acceptance, "tau": dict(zip(PARAMS, map(float, self.tau))),
                "converged": self.converged, "prior": self.prior, "seed": self.seed,
                "total": {size_key(sz): {"median": float(q[1]), "ci95": [float(q[0]), float(q[2])]}
                          for sz, q in zip(self.sizes, self.total_interval().T)},
                "shares": {name: {size_key(r.size): {"median": r.median, "ci95": [r.lo95, r.hi95],
                                                     "prior_ci95": [r.prior_lo95, r.prior_hi95]}
                                  for r in f[f.component == name].itertuples()}
                           for name in COMPONENTS}}


def _prior_box(table: GainTable) -> dict:
    lo, hi = bounds(table.size)
    vmax = float(2.0 * np.max(table.gain + 2.0 * table.se))
    return {"component_at_max_size": [0.0, vmax], "beta": [0.0, 1.0],
            "ln_N_char": [float(np.log(lo[3])), float(np.log(hi[3]))],
            "ln_eta": [float(np.log(lo[5])), float(np.log(hi[5]))],
            "reference_size": float(np.max(table.size))}


def _u_to_theta(u: np.ndarray, ref: float) -> np.ndarray:
    """Sampling coordinates (v_DM, β, v_DK, ln N_char, v_Reg, ln η), v = component at ``ref``,
    to θ."""
    beta, nc, eta = u[..., 1], np.exp(u[..., 3]), np.exp(u[..., 5])
    b = _basis(beta, nc, eta, [ref])[..., 0]  # (..., 3)
    with np.errstate(all="ignore"):
        amp = u[..., [0, 2, 4]] / b
    return np.stack([amp[..., 0], beta, amp[..., 1], nc, amp[..., 2], eta], axis=-1)


def sample_posterior(table: GainTable, sizes=TABLE2_SIZES, *, n_walkers: int = 32,
                     n_steps: int = 12000, seed: int | None = 0, start=None,
                     n_draws: int = 4000) -> SharePosterior:
    """emcee posterior of the decomposition under the prior of ``_prior_box`` (module docstring).

    Walkers start around ``start`` (θ of a good fit; default: a fresh fit) and the first half of
    the chain is discarded. ``n_draws`` thinned draws are kept for the shares.
    """
    import emcee

    box = _prior_box(table)
    ref = box["reference_size"]
    lo_u = np.array([0.0, 0.0, 0.0, box["ln_N_char"][0], 0.0, box["ln_eta"][0]])
    hi_u = np.array([box["component_at_max_size"][1], 1.0, box["component_at_max_size"][1],
                     box["ln_N_char"][1], box["component_at_max_size"][1], box["ln_eta"][1]])
    x, y, s = table.size, table.gain, table.se

    def log_prob(u):
        inside = np.all((u >= lo_u) & (u <= hi_u), axis=1)
        out = np.full(len(u), -np.inf)
        if inside.any():
            with np.errstate(all="ignore"):
                pred = value(_u_to_theta(u[inside], ref), x)
            lp = -0.5 * np.sum(((y - pred) / s) ** 2, axis=1)
            out[inside] = np.where(np.isfinite(lp), lp, -np.inf)
        return out

    rng = np.random.default_rng(seed)
    if start is None:
        fits, _ = _multistart(x, y, s, 40, seed)
        start = fits[0].theta
    comp = components(start, [ref])[:, 0]
    u0 = np.array([comp[0], start[1], comp[1], np.log(start[3]), comp[2], np.log(start[5])])
    span = hi_u - lo_u
    p0 = np.clip(u0 + 1e-3 * span * rng.standard_normal((n_walkers, 6)), lo_u + 1e-9 * span,
                 hi_u - 1e-9 * span)
    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(n_walkers, 6, log_prob, vectorize=True, moves=moves)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    sampler.run_mcmc(p0, n_steps, progress=False)
    burn = n_steps // 2
    tau = sampler.get_autocorr_time(discard=burn, quiet=True, tol=0)
    chain = sampler.get_chain(discard=burn, flat=True)
    keep = chain[np.linspace(0, len(chain) - 1, min(n_draws, len(chain))).astype(int)]
    theta = _u_to_theta(keep, ref)
    sizes = np.atleast_1d(np.asarray(sizes, float))
    comp = components(theta, sizes)
    tot = comp.sum(axis=1)
    with np.errstate(all="ignore"):
        sh = np.where(tot[:, None, :] > 0, comp / tot[:, None, :], np.nan)
    prior_u = rng.uniform(lo_u, hi_u, (len(keep), 6))
    pcomp = components(_u_to_theta(prior_u, ref), sizes)
    ptot = pcomp.sum(axis=1)
    with np.errstate(all="ignore"):
        psh = np.where(ptot[:, None, :] > 0, pcomp / ptot[:, None, :], np.nan)
    return SharePosterior(theta, sizes, sh, tot, psh, np.asarray(tau, float), n_steps, n_walkers,
                          float(np.mean(sampler.acceptance_fraction)), box, seed)


# --- the result ---------------------------------------------------------------------------------

@dataclass
class Decomposition:
    """The decomposition fitted to one table, its components at ``sizes`` and its identifiability.

    ``params`` (6,) the best fit (names ``PARAMS``), ``chi2``, ``n`` points, ``k`` = 6; ``sizes``
    (m,), ``components`` (3, m) in pp (rows ``COMPONENTS``), ``total`` (m,); ``observed`` (m,) the
    table's gain where a size was measured (NaN elsewhere). ``identifiable`` is False when the
    data cannot determine the parameters (n < k, rank-deficient Jacobian, or flat share
    profiles); ``reasons`` says why. ``jacobian_singular_values`` (6,) of the whitened Jacobian at
    the fit (zeros: directions the data cannot see). ``alternatives`` (A, 6): other fits within
    Δchi² ≤ 1 whose shares at ``share_size`` differ most; ``profile``, ``posterior`` see
    ``ShareProfile`` and ``SharePosterior`` (None when not computed).
    """

    params: np.ndarray
    chi2: float
    n: int
    sizes: np.ndarray
    components: np.ndarray
    total: np.ndarray
    observed: np.ndarray
    size_unit: str
    share_size: float
    identifiable: bool
    reasons: list[str]
    jacobian_singular_values: np.ndarray
    alternatives: np.ndarray
    n_starts: int
    profile: ShareProfile | None = None
    posterior: SharePosterior | None = None
    at_bound: tuple[str, ...] = ()
    seconds: float = np.nan
    notes: list[str] = field(default_factory=list)

    k: int = 6

    @property
    def shares(self) -> np.ndarray:
        """(3, m) each component's share of the total at ``sizes``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.components / self.total

    def to_frame(self) -> pd.DataFrame:
        """Table 2: one row per size with each component, the total, the observed gain and the
        shares."""
        frame = pd.DataFrame({"size": self.sizes})
        for j, name in enumerate(COMPONENTS):
            frame[name] = self.components[j]
        frame["total"] = self.total
        frame["observed"] = self.observed
        for j, name in enumerate(COMPONENTS):
            frame[f"share_{name}"] = self.shares[j]
        return frame

    def alternatives_frame(self) -> pd.DataFrame:
        """The alternative fits: parameters, chi² and shares at ``share_size``."""
        rows = []
        for t in self.alternatives:
            sh = shares(t, self.share_size)
            rows.append({**dict(zip(PARAMS, map(float, t))),
                         "chi2": float(np.sum(((self._y - value(t, self._x)) / self._s) ** 2)),
                         **{f"share_{c}": float(v) for c, v in zip(COMPONENTS, sh)},
                         f"total_at_{size_key(self.share_size)}": float(value(t, [self.share_size])[0])})
        return pd.DataFrame(rows)

    _x: np.ndarray = field(default=None, repr=False)
    _y: np.ndarray = field(default=None, repr=False)
    _s: np.ndarray = field(default=None, repr=False)

    def curve(self, sizes) -> np.ndarray:
        """Components of the best fit at any ``sizes``: (3, m) — Figure 3's stacked areas."""
        return components(self.params, sizes)

    def to_dict(self) -> dict:
        return {
            "params": dict(zip(PARAMS, map(float, self.params))), "chi2": self.chi2, "n": self.n,
            "k": self.k, "dof": self.n - self.k, "size_unit": self.size_unit,
            "identifiable": self.identifiable, "reasons": list(self.reasons),
            "at_bound": list(self.at_bound),
            "jacobian_singular_values": self.jacobian_singular_values.tolist(),
            "components": {size_key(s): {**{c: float(self.components[j, i])
                                            for j, c in enumerate(COMPONENTS)},
                                         "total": float(self.total[i]),
                                         "observed": (None if not np.isfinite(self.observed[i])
                                                      else float(self.observed[i]))}
                           for i, s in enumerate(self.sizes)},
            "share_size": self.share_size,
            "alternatives": self.alternatives_frame().to_dict("records"),
            "profile": None if self.profile is None else self.profile.to_dict(),
            "posterior": None if self.posterior is None else self.posterior.to_dict(),
            "n_starts": self.n_starts, "seconds": self.seconds, "notes": list(self.notes),
        }


def _alternatives(fits, x, y, s, share_size, best_chi2, n_keep=4):
    """Fits within Δchi² ≤ 1 of the best, chosen to spread the shares at ``share_size``."""
    near = [f.theta for f in fits if f.chi2 <= best_chi2 + 1.0]
    if not near:
        return np.zeros((0, 6))
    sh = np.array([shares(t, share_size) for t in near])
    chosen = [int(np.nanargmin(sh[:, 0]))] if np.isfinite(sh[:, 0]).any() else [0]
    for j in range(3):
        for pick in (np.nanargmax, np.nanargmin):
            if np.isfinite(sh[:, j]).any():
                i = int(pick(sh[:, j]))
                if i not in chosen:
                    chosen.append(i)
    return np.array([near[i] for i in chosen[:n_keep + 2]])


def fit_decomposition(table: GainTable, sizes=TABLE2_SIZES, *, share_size: float = 70.0,
                      n_starts: int = 24, seed: int | None = 0, profile: bool = True,
                      posterior: bool = True, mcmc_steps: int = 12000,
                      mcmc_walkers: int = 32) -> Decomposition:
    """Fit eq. 10-13 to ``table`` and diagnose its identifiability (module docstring).

    ``sizes`` (table unit) are where the components are reported (Table 2: 0.5, 1, 8, 70, 405);
    ``share_size`` is where the shares are profiled. ``profile`` and ``posterior`` can be turned
    off for speed. Seeded: the same ``seed`` gives the same result.
    """
    t0 = time.perf_counter()
    x, y, s = table.size, table.gain, table.se
    if len(x) < 2:
        raise ScalefitError(f"{table.source}: the decomposition needs at least 2 points")
    fits, n_tried = _multistart(x, y, s, n_starts, seed)
    if not fits:
        raise ScalefitError(f"{table.source}: no start of the decomposition fit converged")
    best = fits[0]
    lo, hi = bounds(x)
    J = jacobian(best.theta, x) / s[:, None]
    sv = np.linalg.svd(J, compute_uv=False)
    sv = np.concatenate([sv, np.zeros(6 - len(sv))])
    rank = int(np.sum(sv > 1e-8 * sv[0]))
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    at_bound = tuple(p for p, v, a, b, sp in zip(PARAMS, best.theta, lo, hi, span)
                     if v <= a + 1e-6 * sp or v >= b - 1e-6 * sp)
    sizes = np.atleast_1d(np.asarray(sizes, float))
    comp = components(best.theta, sizes)
    observed = np.array([y[np.isclose(x, v)].mean() if np.isclose(x, v).any() else np.nan
                         for v in sizes])
    reasons = []
    if len(x) <= 6:
        reasons.append(f"{len(x)} points for 6 parameters: {len(x) - 6} degrees of freedom")
    if rank < 6:
        reasons.append(f"the whitened Jacobian at the fit has rank {rank} < 6: some combination "
                       "of parameters changes no fitted value")
    prof = profile_shares(table, share_size, chi2_min=best.chi2) if profile else None
    if prof is not None:
        flat = {c: f for c, f in prof.flat_fraction.items() if f >= 0.5}
        if flat:
            reasons.append("flat share profiles at "
                           f"{share_size:g} {table.size_unit}: " + ", ".join(
                               f"{c} share anywhere in [{prof.interval[c][0]:.2f}, "
                               f"{prof.interval[c][1]:.2f}] within Δchi² ≤ 3.84"
                               for c in flat))
    post = None
    if posterior:
        post = sample_posterior(table, sizes, n_walkers=mcmc_walkers, n_steps=mcmc_steps,
                                seed=seed, start=best.theta)
    notes = []
    if at_bound:
        notes.append(f"parameter(s) {', '.join(at_bound)} at a bound")
    if post is not None and not post.converged:
        notes.append(f"MCMC not converged: chain {post.n_steps} steps < 50 × max τ "
                     f"({np.max(post.tau):.0f}); the share intervals are indicative")
    result = Decomposition(
        params=best.theta, chi2=best.chi2, n=len(x), sizes=sizes, components=comp,
        total=comp.sum(axis=0), observed=observed,
        size_unit=table.size_unit, share_size=float(share_size), identifiable=not reasons,
        reasons=reasons, jacobian_singular_values=sv,
        alternatives=_alternatives(fits, x, y, s, share_size, best.chi2), n_starts=n_tried,
        profile=prof, posterior=post, at_bound=at_bound, notes=notes)
    result._x, result._y, result._s = x, y, s
    result.seconds = time.perf_counter() - t0
    return result


# --- the paper's numbers ------------------------------------------------------------------------

def paper_check(table: GainTable) -> dict:
    """Confront the paper's decomposition (section 3.4, Table 2) with ``table`` and itself.

    Returns a dict of frames and numbers: ``table2`` (the paper's rows next to eq. 11-13 evaluated
    with its stated β, N_char, δ, η and the α, γ each row implies), ``implied`` (α, γ, η per row),
    ``column_fits`` (the (α, β) and (δ, η) that best reproduce Table 2's columns), and chi² of
    (a) Table 2's totals against the observed gains, (b) the stated β, N_char, δ, η with the best
    non-negative α, γ, (c) the same with δ free as well, (d) our best fit.
    """
    P = PAPER_PARAMS
    t2 = PAPER_TABLE2.copy()
    N = t2["size"].to_numpy()
    implied = pd.DataFrame({
        "size": N,
        "alpha_implied": t2["distribution_match"] / N ** P["beta"],
        "gamma_implied": t2["dark_knowledge"] / -np.expm1(-N / P["N_char"]),
        "eta_implied_with_delta": (np.exp(t2["regularization"] / P["delta"]) - 1.0) / N,
        "regularization_stated": P["delta"] * np.log1p(P["eta"] * N),
    })
    t2["row_sum"] = t2[list(COMPONENTS)].sum(axis=1)
    x, y, s = table.size, table.gain, table.se
    w = 1.0 / s**2
    obs = pd.DataFrame({"size": x, "observed": y, "se": s})
    both = t2.merge(obs, on="size")
    chi2_table2 = float(np.sum(((both["observed"] - both["total"]) / both["se"]) ** 2))

    Bx = _basis(P["beta"], P["N_char"], P["eta"], x)  # (3, n)
    fixed_reg = P["delta"] * Bx[2]
    a2, chi2_b = _nnls_small(Bx[None, :2], y - fixed_reg, w)
    a3, chi2_c = _nnls_small(Bx[None], y, w)
    theta_b = np.array([a2[0, 0], P["beta"], a2[0, 1], P["N_char"], P["delta"], P["eta"]])
    theta_c = np.array([a3[0, 0], P["beta"], a3[0, 1], P["N_char"], a3[0, 2], P["eta"]])

    dm = optimize.curve_fit(lambda n, a, b: a * n**b, N, t2["distribution_match"], p0=[0.2, 0.9])[0]
    reg = optimize.curve_fit(lambda n, d, e: d * np.log1p(e * n), N, t2["regularization"],
                             p0=[1.0, 1.0])[0]
    reg_resid = t2["regularization"] - reg[0] * np.log1p(reg[1] * N)
    dm_resid = t2["distribution_match"] - dm[0] * N ** dm[1]

    fits, _ = _multistart(x, y, s, 24, 0)
    return {
        "stated": dict(P),
        "table2": t2,
        "implied": implied,
        "chi2_table2_totals": chi2_table2,
        "table2_vs_observed": both[["size", "total", "observed", "se"]],
        "chi2_stated_params_best_alpha_gamma": float(chi2_b[0]),
        "theta_stated_best_alpha_gamma": dict(zip(PARAMS, map(float, theta_b))),
        "components_stated_best_alpha_gamma": components(theta_b, TABLE2_SIZES),
        "chi2_stated_shape_free_amplitudes": float(chi2_c[0]),
        "theta_stated_shape_free_amplitudes": dict(zip(PARAMS, map(float, theta_c))),
        "column_fit_distribution_match": {"alpha": float(dm[0]), "beta": float(dm[1]),
                                          "max_abs_residual": float(np.max(np.abs(dm_resid)))},
        "column_fit_regularization": {"delta": float(reg[0]), "eta": float(reg[1]),
                                      "max_abs_residual": float(np.max(np.abs(reg_resid)))},
        "chi2_best_fit": float(fits[0].chi2),
        "theta_best_fit": dict(zip(PARAMS, map(float, fits[0].theta))),
    }
