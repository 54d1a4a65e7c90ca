"""The decomposition of one table: the fit (``fit``) and its identifiability
(``identifiability``) in one call, ``fit_decomposition``, and its result, ``Decomposition``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.core.average import size_key
from scalefit.data import GainTable
from scalefit.errors import ScalefitError
from scalefit.studies.decompose.fit import multistart
from scalefit.studies.decompose.identifiability import (SharePosterior, ShareProfile,
                                                            alternatives, profile_shares,
                                                            sample_posterior)
from scalefit.studies.decompose.model import (COMPONENTS, PARAMS, TABLE2_SIZES, bounds,
                                                  components, jacobian, shares, value)


@dataclass
class Decomposition:
    """The decomposition fitted to one table, its components at ``sizes`` and its identifiability.

    ``params`` (6,) the best fit (names ``PARAMS``), ``chi2``, ``n`` points, ``k`` = 6, and the
    table it was fitted on (``x``, ``y``, ``se``); ``sizes``
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
    x: np.ndarray = field(default=None, repr=False)   # the table the fit was made on
    y: np.ndarray = field(default=None, repr=False)
    se: np.ndarray = field(default=None, repr=False)

    @property
    def k(self) -> int:
        return len(PARAMS)

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
                         "chi2": float(np.sum(((self.y - value(t, self.x)) / self.se) ** 2)),
                         **{f"share_{c}": float(v) for c, v in zip(COMPONENTS, sh)},
                         f"total_at_{size_key(self.share_size)}": float(value(t, [self.share_size])[0])})
        return pd.DataFrame(rows)

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
    x, y, s = table.size, table.value, table.se
    if len(x) < 2:
        raise ScalefitError(f"{table.source}: the decomposition needs at least 2 points")
    fits, n_tried = multistart(x, y, s, n_starts, seed)
    if not fits:
        raise ScalefitError(f"{table.source}: no start of the decomposition fit converged")
    best = fits[0]
    lo, hi = bounds(x)
    k = len(PARAMS)
    J = jacobian(best.theta, x) / s[:, None]
    sv = np.linalg.svd(J, compute_uv=False)
    sv = np.concatenate([sv, np.zeros(k - len(sv))])
    rank = int(np.sum(sv > 1e-8 * sv[0]))
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    at_bound = tuple(p for p, v, a, b, sp in zip(PARAMS, best.theta, lo, hi, span)
                     if v <= a + 1e-6 * sp or v >= b - 1e-6 * sp)
    sizes = np.atleast_1d(np.asarray(sizes, float))
    comp = components(best.theta, sizes)
    observed = np.array([y[np.isclose(x, v)].mean() if np.isclose(x, v).any() else np.nan
                         for v in sizes])
    reasons = []
    if len(x) <= k:
        reasons.append(f"{len(x)} points for {k} parameters: {len(x) - k} degrees of freedom")
    if rank < k:
        reasons.append(f"the whitened Jacobian at the fit has rank {rank} < {k}: some "
                       "combination of parameters changes no fitted value")
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
        alternatives=alternatives(fits, x, y, s, share_size, best.chi2), n_starts=n_tried,
        profile=prof, posterior=post, at_bound=at_bound, notes=notes, x=x, y=y, se=s)
    result.seconds = time.perf_counter() - t0
    return result
