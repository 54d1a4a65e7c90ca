"""Weighted least squares of one law to one gain table (seed 000, eq. 6).

``fit_law`` minimises chi² = Σ ((y_i − f(N_i; θ)) / σ_i)² with σ_i the table's standard errors
taken as absolute (they are not rescaled by the residual variance), within the law's bounds,
from several starting points. The parameter covariance is (JᵀJ)⁻¹ with J the Jacobian of the
whitened residuals at the optimum; predictions carry a delta-method standard deviation
sqrt(g Σ gᵀ), g = ∂f/∂θ at the requested size (the "within-model" term of eq. 9).

A fit that fails (no start converges, a non-finite optimum) or cannot be attempted (fewer points
than parameters) is returned with ``status`` "failed" or "skipped" and a message — never raised.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from scalefit.laws import LAWS, Law

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


def information_criteria(chi2, k, n):
    """AIC, AICc and BIC with chi² in place of −2 ln L (seed 000, eq. 6).

    With known σ the Gaussian log-likelihood is −chi²/2 plus a constant shared by every law, so
    differences between laws, and hence the weights, are exact. AICc adds the small-sample term
    2k(k+1)/(n−k−1) and is +inf when n ≤ k + 1. Works elementwise on arrays.
    """
    chi2, k, n = np.asarray(chi2, float), np.asarray(k, float), np.asarray(n, float)
    aic = chi2 + 2.0 * k
    dof = n - k - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        aicc = np.where(dof > 0, aic + 2.0 * k * (k + 1.0) / dof, np.inf)
    bic = chi2 + k * np.log(n)
    return {"aic": aic, "aicc": aicc, "bic": bic}


@dataclass
class FitResult:
    """One law fitted to one table. Sizes are in the table's unit (``size_unit``)."""

    law: str
    params: np.ndarray
    cov: np.ndarray
    chi2: float
    n: int
    status: str = OK
    message: str = ""
    at_bound: tuple[str, ...] = ()
    size_unit: str = "B"
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self) -> Law:
        return LAWS[self.law]

    @property
    def k(self) -> int:
        return self.spec.k

    @property
    def converged(self) -> bool:
        return self.status == OK

    @property
    def param_se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def criteria(self) -> dict[str, float]:
        if not self.converged:
            return {"aic": np.nan, "aicc": np.nan, "bic": np.nan}
        return {key: float(v) for key, v in information_criteria(self.chi2, self.k, self.n).items()}

    def predict(self, sizes) -> np.ndarray:
        """The fitted law at ``sizes`` (table unit)."""
        return self.spec.value(self.params, np.atleast_1d(np.asarray(sizes, float)))

    def predict_sd(self, sizes) -> np.ndarray:
        """Delta-method standard deviation of the prediction: sqrt(g Σ gᵀ), g = ∂f/∂θ."""
        g = self.spec.jacobian(self.params, np.atleast_1d(np.asarray(sizes, float)))
        return np.sqrt(np.clip(np.einsum("nk,kl,nl->n", g, self.cov, g), 0.0, None))


def _failed(law: Law, n: int, status: str, message: str, size_unit: str) -> FitResult:
    nan = np.full(law.k, np.nan)
    return FitResult(law.name, nan, np.full((law.k, law.k), np.nan), np.nan, n, status, message,
                     size_unit=size_unit)


def _covariance(jac_w: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(JᵀJ)⁻¹ of the whitened Jacobian; a pseudo-inverse and a note when it is singular."""
    jtj = jac_w.T @ jac_w
    notes = []
    cond = np.linalg.cond(jtj) if np.all(np.isfinite(jtj)) else np.inf
    if cond > 1e12:
        notes.append(f"parameters are nearly unidentifiable (cond(JᵀJ) = {cond:.1e}); "
                     "their standard errors are unreliable")
        return np.linalg.pinv(jtj), notes
    return np.linalg.inv(jtj), notes


def best_least_squares(law: Law, x, y, se, starts, lo, hi):
    """Bounded trust-region least squares of chi² from each start (rows of ``starts``, inside
    the bounds); the converged result with the lowest cost, or None if no start converged."""

    def resid(theta):
        return (y - law.value(theta, x)) / se

    def jac(theta):
        return -law.jacobian(theta, x) / se[:, None]

    best = None
    for x0 in starts:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                r = least_squares(resid, x0, jac=jac, bounds=(lo, hi), method="trf",
                                  x_scale="jac", ftol=1e-12, xtol=1e-12, gtol=1e-12,
                                  max_nfev=2000)
            except (ValueError, np.linalg.LinAlgError):
                continue
        if r.status > 0 and np.isfinite(r.cost) and (best is None or r.cost < best.cost):
            best = r
    return best


def fit_law(law: Law | str, sizes, gains, se, *, size_unit: str = "B") -> FitResult:
    """Fit ``law`` to (sizes, gains ± se) by weighted least squares (seed 000, eq. 6).

    Linear laws (logarithmic, sqrt-log) are solved in closed form; the others by bounded
    trust-region least squares from each of the law's starting points, keeping the lowest chi².
    """
    law = LAWS[law] if isinstance(law, str) else law
    x, y, s = (np.asarray(v, dtype=float) for v in (sizes, gains, se))
    n = len(x)
    if n < law.k:
        return _failed(law, n, SKIPPED,
                       f"{n} point(s) for {law.k} parameters: too few to fit", size_unit)

    if law.linear:
        design = law.jacobian(np.zeros(law.k), x) / s[:, None]
        theta, *_ = np.linalg.lstsq(design, y / s, rcond=None)
        chi2 = float(np.sum(((y - law.value(theta, x)) / s) ** 2))
        cov, notes = _covariance(design)
        return FitResult(law.name, theta, cov, chi2, n, OK, "closed-form weighted least squares",
                         size_unit=size_unit, notes=notes)

    lo, hi = law.bounds(x, y)
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    starts = np.clip(law.starts(x, y, s), lo + 1e-6 * span, hi - 1e-6 * span)

    best = best_least_squares(law, x, y, s, starts, lo, hi)
    if best is None:
        return _failed(law, n, FAILED, f"no start of {len(starts)} converged", size_unit)

    cov, notes = _covariance(best.jac)
    # least_squares can stop on a bound without marking it active; count both as at the bound
    near = np.isclose(best.x, lo, rtol=1e-7, atol=0) | np.isclose(best.x, hi, rtol=1e-7, atol=0)
    at_bound = tuple(p for p, a, b in zip(law.params, best.active_mask, near) if a != 0 or b)
    if at_bound:
        notes.append(f"parameter(s) {', '.join(at_bound)} at a bound: the fit is constrained "
                     "and the delta-method SD understates its uncertainty")
    return FitResult(law.name, best.x, cov, float(2.0 * best.cost), n, OK, best.message,
                     at_bound=at_bound, size_unit=size_unit, notes=notes)
