"""Why five points cannot pin the decomposition down, and what that means for its shares.

With n = 5 points and k = 6 parameters the model has n − k < 0 degrees of freedom; the whitened
Jacobian has rank ≤ 5, so at least one direction of θ leaves every fitted value unchanged. What
that means for the quantity anyone reads off Table 2 — each component's *share* of the gain at a
size beyond the data (default 70 B):

- ``profile_shares``: the profile chi² of each component's share at that size (minimum chi²
  subject to share = s, s on a grid in [0, 1]); flat profiles (Δchi² < 3.84 over most of
  [0, 1]) mean the data cannot tell a 0% share from a 100% one;
- ``sample_posterior``: emcee samples (differential-evolution moves, which follow the
  posterior's ridge better than the default stretch move) of θ under a uniform prior on each
  component's value at the largest observed size (0 to twice the largest gain), on β ∈ [0, 1]
  and on ln N_char and ln η within their bounds; the shares' 95% intervals, next to the same
  intervals under the prior alone. Where posterior and prior intervals agree, the data say
  nothing about the shares;
- ``alternatives``: distinct fits of essentially equal chi² with very different shares.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from scalefit.core.average import size_key
from scalefit.data import GainTable
from scalefit.studies.decompose.fit import multistart, nnls_small, shape_grid
from scalefit.studies.decompose.model import (AMPLITUDES, COMPONENTS, INDEX, PARAMS,
                                                  TABLE2_SIZES, assemble, basis, bounds,
                                                  components, param, shares, value)

CHI2_95 = 3.841458820694124  # chi²(1) 95% quantile: profile-likelihood interval threshold


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


def constrained_chi2(phi, j, s, x, size, y, w):
    """min chi² over non-negative amplitudes with component j's share at ``size`` equal to s,
    for nonlinear parameters phi (P, 3). Returns (P,) chi² and amplitudes (P, 3)."""
    Bx = basis(phi[:, 0], phi[:, 1], phi[:, 2], x)  # (P, 3, n)
    c = basis(phi[:, 0], phi[:, 1], phi[:, 2], [size])[..., 0]  # (P, 3)
    others = [i for i in range(3) if i != j]
    P = len(phi)
    amp = np.zeros((P, 3))
    if s >= 1.0:
        a, chi2 = nnls_small(Bx[:, [j]], y, w)
        amp[:, j] = a[:, 0]
        chi2 = np.where(a[:, 0] > 0, chi2, np.inf)  # share undefined for a zero total
        return chi2, amp
    if s <= 0.0:
        a, chi2 = nnls_small(Bx[:, others], y, w)
        amp[:, others] = a
        chi2 = np.where(a.sum(axis=1) > 0, chi2, np.inf)
        return chi2, amp
    ratio = s / (1.0 - s)
    with np.errstate(all="ignore"):
        cols = np.stack([Bx[:, i] + ratio * (c[:, i] / c[:, j])[:, None] * Bx[:, j]
                         for i in others], axis=1)
    a, chi2 = nnls_small(cols, y, w)
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
    x, y, s = table.size, table.value, table.se
    w = 1.0 / s**2
    lo, hi = bounds(x)
    nc, eta = INDEX["N_char"], INDEX["eta"]
    phi = shape_grid(x, 21, 17, 17)
    grid = np.linspace(0.0, 1.0, n_grid)
    out = np.full((3, n_grid), np.inf)
    for j in range(3):
        for k, sh in enumerate(grid):
            chi2, _ = constrained_chi2(phi, j, sh, x, size, y, w)
            best = int(np.argmin(chi2))
            out[j, k] = chi2[best]
            if refine and np.isfinite(chi2[best]):
                def objective(u):
                    p = np.array([[np.clip(u[0], 0.0, 1.0),
                                   np.exp(np.clip(u[1], np.log(lo[nc]), np.log(hi[nc]))),
                                   np.exp(np.clip(u[2], np.log(lo[eta]), np.log(hi[eta])))]])
                    return float(constrained_chi2(p, j, sh, x, size, y, w)[0][0])

                u0 = np.array([phi[best, 0], np.log(phi[best, 1]), np.log(phi[best, 2])])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = optimize.minimize(objective, u0, method="Nelder-Mead",
                                          options={"xatol": 1e-3, "fatol": 1e-4, "maxfev": 200})
                out[j, k] = min(out[j, k], float(r.fun))
    if chi2_min is None:
        chi2_min = float(np.min(out))
    return ShareProfile(float(size), grid, out, float(min(chi2_min, np.min(out))))


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


def prior_box(table: GainTable) -> dict:
    """The posterior's uniform prior: each component's value at the largest observed size in
    [0, twice the largest gain + 2 SE], β in [0, 1], ln N_char and ln η within their bounds."""
    lo, hi = bounds(table.size)
    nc, eta = INDEX["N_char"], INDEX["eta"]
    vmax = float(2.0 * np.max(table.value + 2.0 * table.se))
    return {"component_at_max_size": [0.0, vmax], "beta": [0.0, 1.0],
            "ln_N_char": [float(np.log(lo[nc])), float(np.log(hi[nc]))],
            "ln_eta": [float(np.log(lo[eta])), float(np.log(hi[eta]))],
            "reference_size": float(np.max(table.size))}


def u_to_theta(u: np.ndarray, ref: float) -> np.ndarray:
    """Sampling coordinates u, laid out as θ with each amplitude replaced by its component's
    value at ``ref`` and N_char, η by their logarithms, to θ."""
    phi = np.stack([param(u, "beta"), np.exp(param(u, "N_char")), np.exp(param(u, "eta"))],
                   axis=-1)
    at_ref = np.stack([param(u, p) for p in AMPLITUDES], axis=-1)
    with np.errstate(all="ignore"):
        amp = at_ref / basis(phi[..., 0], phi[..., 1], phi[..., 2], [ref])[..., 0]
    return assemble(phi, amp)


def theta_to_u(theta: np.ndarray, ref: float) -> np.ndarray:
    """The inverse of ``u_to_theta``."""
    at_ref = components(theta, [ref])[..., 0]
    phi = np.stack([param(theta, "beta"), np.log(param(theta, "N_char")),
                    np.log(param(theta, "eta"))], axis=-1)
    return assemble(phi, at_ref)


def sample_posterior(table: GainTable, sizes=TABLE2_SIZES, *, n_walkers: int = 32,
                     n_steps: int = 12000, seed: int | None = 0, start=None,
                     n_draws: int = 4000) -> SharePosterior:
    """emcee posterior of the decomposition under the prior of ``_prior_box`` (module docstring).

    Walkers start around ``start`` (θ of a good fit; default: a fresh fit) and the first half of
    the chain is discarded. ``n_draws`` thinned draws are kept for the shares.
    """
    from scalefit.methods.mcmc import ensemble_sampler

    box = prior_box(table)
    ref = box["reference_size"]
    vmax = box["component_at_max_size"][1]
    lo_u = assemble([box["beta"][0], box["ln_N_char"][0], box["ln_eta"][0]], [0.0, 0.0, 0.0])
    hi_u = assemble([box["beta"][1], box["ln_N_char"][1], box["ln_eta"][1]], [vmax, vmax, vmax])
    x, y, s = table.size, table.value, table.se

    def log_prob(u):
        inside = np.all((u >= lo_u) & (u <= hi_u), axis=1)
        out = np.full(len(u), -np.inf)
        if inside.any():
            with np.errstate(all="ignore"):
                pred = value(u_to_theta(u[inside], ref), x)
            lp = -0.5 * np.sum(((y - pred) / s) ** 2, axis=1)
            out[inside] = np.where(np.isfinite(lp), lp, -np.inf)
        return out

    rng = np.random.default_rng(seed)
    if start is None:
        fits, _ = multistart(x, y, s, 40, seed)
        start = fits[0].theta
    u0 = theta_to_u(start, ref)
    span = hi_u - lo_u
    p0 = np.clip(u0 + 1e-3 * span * rng.standard_normal((n_walkers, 6)), lo_u + 1e-9 * span,
                 hi_u - 1e-9 * span)
    sampler = ensemble_sampler(n_walkers, 6, log_prob, int(rng.integers(2**31)))
    sampler.run_mcmc(p0, n_steps, progress=False)
    burn = n_steps // 2
    tau = sampler.get_autocorr_time(discard=burn, quiet=True, tol=0)
    chain = sampler.get_chain(discard=burn, flat=True)
    keep = chain[np.linspace(0, len(chain) - 1, min(n_draws, len(chain))).astype(int)]
    theta = u_to_theta(keep, ref)
    sizes = np.atleast_1d(np.asarray(sizes, float))
    comp = components(theta, sizes)
    tot = comp.sum(axis=1)
    with np.errstate(all="ignore"):
        sh = np.where(tot[:, None, :] > 0, comp / tot[:, None, :], np.nan)
    prior_u = rng.uniform(lo_u, hi_u, (len(keep), 6))
    pcomp = components(u_to_theta(prior_u, ref), sizes)
    ptot = pcomp.sum(axis=1)
    with np.errstate(all="ignore"):
        psh = np.where(ptot[:, None, :] > 0, pcomp / ptot[:, None, :], np.nan)
    return SharePosterior(theta, sizes, sh, tot, psh, np.asarray(tau, float), n_steps, n_walkers,
                          float(np.mean(sampler.acceptance_fraction)), box, seed)


def alternatives(fits, x, y, s, share_size, best_chi2, n_keep=4):
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
