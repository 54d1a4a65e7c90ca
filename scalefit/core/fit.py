"""Weighted least squares of the laws to gain tables (the scaling paper, eq. 6): one fit type.

chi² = Σ ((y_i − f(N_i; θ)) / σ_i)² with σ_i the table's standard errors taken as absolute (not
rescaled by the residual variance). The parameter covariance is (JᵀJ)⁻¹ with J the Jacobian of the
whitened residuals at the optimum; predictions carry a delta-method standard deviation
sqrt(g Σ gᵀ), g = ∂f/∂θ (the "within-model" term of eq. 9).

One engine fits one law to ``R`` data vectors at once, and a single table is the batch of one:
``fit_law_batch(law, sizes, Y, se)`` returns a ``BatchFit`` (arrays with a leading replicate
axis); ``fit_law(law, sizes, gains, se)`` is ``fit_law_batch(..., gains[None], se).result(0)``, a
``FitResult`` for that one row. The bootstrap, the synthetic validation and the design refit
through the same engine as ``scalefit fit``.

``fit_law_batch(law, sizes, Y, se)``
Refits one law to ``R`` data vectors at once (rows of ``Y``, shape ``(R, n)``), vectorised
across replicates: no optimiser call per replicate. It is the engine of the bootstrap, the
synthetic validation (many simulated tables) and the next-experiment design (simulate a new
point, refit every law), and works for any law in ``scalefit.core.laws.LAWS`` and any table:

- *Linear laws* (logarithmic, sqrt-log): exact closed-form weighted least squares, one
  pseudo-inverse for all replicates.
- *Laws of the form a · g(N; φ)* with an unbounded amplitude ``a`` and one to three bounded
  nonlinear parameters φ (power, saturating, sigmoid; detected numerically, so a new law of
  this form is picked up): variable projection. For every point of a dense grid over φ (161
  points in 1-D, 31² in 2-D, geometric where a range spans decades) the optimal ``a`` and the
  profiled chi² are closed-form, so chi² on the whole grid for all replicates is one matrix
  product. The ``n_candidates`` lowest grid-local minima of each replicate, and the warm
  start, are polished (those starting within ``margin`` chi² of the replicate's best start)
  by a batched, bound-constrained Levenberg–Marquardt with ``a`` eliminated (Kaufman's
  variable-projection Jacobian, built from the law's analytic Jacobian), batched k×k solves
  and an active set at the bounds. The lowest chi² wins. The grid makes the refit global:
  on the paper table it finds an optimum at least as low as scipy's multi-start fit on every
  replicate.
- *Any other law*: the same batched Levenberg–Marquardt (without elimination) from the warm
  start and the law's own starting points.

A candidate has converged when its Gauss–Newton decrement (the chi² reduction a full
Gauss–Newton step would still bring: the squared distance to the optimum in standard-deviation
units) is at most ``tol`` · (1 + chi²), default ``tol`` = 1e-12 (parameters within 1e-6 SD of
the optimum; most replicates end near 1e-20), or when the residual is orthogonal to every
free column of the Jacobian to 1e-10 (MINPACK's ``gtol`` test, for optima at the edge of
floating-point resolution). A replicate whose best candidate has not converged is refitted
with scipy's ``least_squares`` from the candidates, then from the law's own starts, and
flagged ``retried``; if that fails too it is flagged in ``converged`` and counted, never
dropped silently.

``scipy_fit`` is the reference the engine is checked against and falls back on: scipy's bounded
trust-region ``least_squares`` from each of the law's starting points, keeping the lowest chi².

A fit that fails (no start converges) or cannot be attempted (fewer points than parameters) is
returned with ``status`` "failed" or "skipped" and a message — never raised.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from scalefit.core.laws import PAPER_LAWS, Law, get_law
from scalefit.errors import ScalefitError
from scalefit.progress import progress

OK, FAILED, SKIPPED = "ok", "failed", "skipped"

# Grid points per nonlinear parameter for variable projection, by number of such parameters.
_GRID_POINTS = {1: 161, 2: 31, 3: 13}


def information_criteria(chi2, k, n):
    """AIC, AICc and BIC with chi² in place of −2 ln L (the scaling paper, eq. 6).

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
    """One law fitted to one table: row ``r`` of a ``BatchFit`` (``BatchFit.result(r)``). Sizes
    are in the table's unit (``size_unit``)."""

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
    retried: bool = False  # the batched engine did not converge and scipy's fit was used

    @property
    def spec(self) -> Law:
        return get_law(self.law)

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



def weighted_least_squares(value, jacobian, x, y, se, x0, lo, hi, max_nfev: int = 2000):
    """Bounded trust-region minimisation of chi² = Σ ((y − f(θ; x)) / se)² (the scaling paper,
    eq. 6) from ``x0`` for any model ``value(θ, x)`` with Jacobian ``jacobian(θ, x)``: scipy's
    ``least_squares`` result, or None when it raises."""

    def resid(theta):
        return (y - value(theta, x)) / se

    def jac(theta):
        return -jacobian(theta, x) / se[:, None]

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return least_squares(resid, x0, jac=jac, bounds=(lo, hi), method="trf",
                                 x_scale="jac", ftol=1e-12, xtol=1e-12, gtol=1e-12,
                                 max_nfev=max_nfev)
        except (ValueError, np.linalg.LinAlgError):
            return None


def best_least_squares(law: Law, x, y, se, starts, lo, hi):
    """``weighted_least_squares`` of ``law`` from each start (rows of ``starts``, inside the
    bounds); the converged result with the lowest cost, or None if no start converged."""
    best = None
    for x0 in starts:
        r = weighted_least_squares(law.value, law.jacobian, x, y, se, x0, lo, hi)
        if r is not None and r.status > 0 and np.isfinite(r.cost) and (
                best is None or r.cost < best.cost):
            best = r
    return best


# --- the batched fit --------------------------------------------------------------------------

@dataclass
class BatchFit:
    """One law refitted to ``R`` data vectors at ``sizes`` (table unit).

    ``theta`` (R, k), ``chi2`` (R,), ``converged`` (R,) bool, ``cov`` (R, k, k) = (JᵀJ)⁻¹ of the
    whitened Jacobian at each optimum (as ``FitResult.cov``), ``at_bound`` (R, k) bool and
    ``retried`` (R,) bool (refitted by the scipy fallback). Rows that did not converge hold NaN.
    ``status`` is "skipped" (every row NaN) when the table has fewer points than parameters.
    """

    law: str
    sizes: np.ndarray
    theta: np.ndarray
    chi2: np.ndarray
    converged: np.ndarray
    cov: np.ndarray
    at_bound: np.ndarray
    retried: np.ndarray
    status: str = OK
    message: str = ""
    law_spec: Law | None = field(default=None, repr=False)  # when the law is not registered

    @property
    def spec(self) -> Law:
        return self.law_spec if self.law_spec is not None else get_law(self.law)

    @property
    def k(self) -> int:
        return self.spec.k

    @property
    def n(self) -> int:
        return len(self.sizes)

    @property
    def n_replicates(self) -> int:
        return len(self.chi2)

    @property
    def n_failed(self) -> int:
        """Replicates without a converged fit (all of them when the law was skipped)."""
        return int(np.sum(~self.converged))

    @property
    def n_retried(self) -> int:
        return int(np.sum(self.retried))

    def criteria(self) -> dict[str, np.ndarray]:
        """AIC, AICc and BIC per replicate (the scaling paper, eq. 6); NaN where the fit failed."""
        crit = information_criteria(self.chi2, self.k, self.n)
        return {key: np.where(self.converged, v, np.nan) for key, v in crit.items()}

    def predict(self, sizes) -> np.ndarray:
        """The refitted law at ``sizes``: (R, len(sizes)), NaN rows where the fit failed."""
        sizes = np.atleast_1d(np.asarray(sizes, float))
        with np.errstate(all="ignore"):
            out = self.spec.value(self.theta, sizes)
        return np.where(self.converged[:, None], out, np.nan)

    def predict_sd(self, sizes) -> np.ndarray:
        """Delta-method SD per replicate, sqrt(g Σ gᵀ) (the within-model term of eq. 9)."""
        sizes = np.atleast_1d(np.asarray(sizes, float))
        with np.errstate(all="ignore"):
            g = self.spec.jacobian(self.theta, sizes)
            var = np.einsum("rmk,rkl,rml->rm", g, self.cov, g)
        return np.where(self.converged[:, None], np.sqrt(np.clip(var, 0.0, None)), np.nan)

    def result(self, r: int = 0, size_unit: str = "B") -> FitResult:
        """Row ``r`` as a ``FitResult``, with notes on unidentifiable parameters and bounds."""
        law = self.spec
        if self.status == SKIPPED:
            return FitResult(law.name, self.theta[r], self.cov[r], np.nan, self.n, SKIPPED,
                             self.message, size_unit=size_unit)
        if not self.converged[r]:
            return FitResult(law.name, self.theta[r], self.cov[r], np.nan, self.n, FAILED,
                             "no start converged (batched Levenberg-Marquardt, then scipy)",
                             size_unit=size_unit)
        notes = []
        with np.errstate(all="ignore"):
            cond = np.linalg.cond(np.linalg.pinv(self.cov[r]))
        if not np.isfinite(cond) or cond > 1e12:
            notes.append(f"parameters are nearly unidentifiable (cond(JᵀJ) = {cond:.1e}); "
                         "their standard errors are unreliable")
        at_bound = tuple(p for p, b in zip(law.params, self.at_bound[r]) if b)
        if at_bound:
            notes.append(f"parameter(s) {', '.join(at_bound)} at a bound: the fit is constrained "
                         "and the delta-method SD understates its uncertainty")
        return FitResult(law.name, self.theta[r].copy(), self.cov[r].copy(), float(self.chi2[r]),
                         self.n, OK, self.message, at_bound, size_unit, notes,
                         bool(self.retried[r]))

    def to_dict(self) -> dict:
        return {"law": self.law, "status": self.status, "message": self.message,
                "replicates": self.n_replicates, "failed": self.n_failed,
                "retried": self.n_retried}


def _amplitude_form(law: Law, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Whether ``law`` is a · g(N; φ) with ``a`` (parameter 0) unbounded and φ in finite bounds.

    Checked numerically (value linear and homogeneous in ``a`` at a few φ inside the bounds), so a
    new law of this form gets variable projection without saying so.
    """
    if law.linear or law.k - 1 not in _GRID_POINTS or np.isfinite(lo[0]) or np.isfinite(hi[0]):
        return False
    if not (np.all(np.isfinite(lo[1:])) and np.all(np.isfinite(hi[1:]))):
        return False
    probes = lo[1:] + np.array([[0.21], [0.5], [0.83]]) * (hi[1:] - lo[1:])
    with np.errstate(all="ignore"):
        one = law.value(np.column_stack([np.ones(3), probes]), x)
        three = law.value(np.column_stack([np.full(3, 3.0), probes]), x)
        zero = law.value(np.column_stack([np.zeros(3), probes]), x)
    return bool(np.all(np.isfinite(one)) and np.allclose(three, 3.0 * one, rtol=1e-12, atol=0)
                and np.all(zero == 0.0))


def _axis_grid(lo: float, hi: float, m: int) -> np.ndarray:
    """Grid over one bounded nonlinear parameter: geometric when the range spans decades."""
    if lo > 0 and hi / lo > 20:
        return np.geomspace(lo, hi, m)
    if lo == 0 and hi > 0:
        return np.concatenate([[0.0], np.geomspace(hi * 1e-3, hi, m - 1)])
    if lo < 0 < hi:  # both signs: 0 and geometric in |φ| on either side
        pos = (m - 1) // 2
        return np.concatenate([-np.geomspace(-lo * 1e-3, -lo, m - 1 - pos)[::-1], [0.0],
                               np.geomspace(hi * 1e-3, hi, pos)])
    return np.linspace(lo, hi, m)


def _grid_candidates(law: Law, x: np.ndarray, Y: np.ndarray, iw: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray, n_keep: int) -> np.ndarray:
    """Variable projection on a grid: the ``n_keep`` best grid-local minima per replicate.

    For fixed φ the optimal amplitude is a = Σ w g y / Σ w g² and chi² = Σ w y² − (Σ w g y)² / Σ w g²,
    so chi² over the grid for every replicate is a matrix product. Returns (R, n_keep, k); rows of
    NaN where a replicate has fewer grid-local minima.
    """
    d = law.k - 1
    m = _GRID_POINTS[d]
    axes = [_axis_grid(lo[j + 1], hi[j + 1], m) for j in range(d)]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)  # (P, d)
    with np.errstate(all="ignore"):
        G = law.value(np.column_stack([np.ones(len(mesh)), mesh]), x)  # (P, n), a = 1
    w = iw**2  # (R, n)
    with np.errstate(all="ignore"):
        num = (Y * w) @ G.T if _shared(iw) else np.einsum("rn,pn->rp", Y * w, G)
        den = (G**2) @ w[0] if _shared(iw) else np.einsum("pn,rn->rp", G**2, w)
        chi2 = np.sum(w * Y**2, axis=1, keepdims=True) - num**2 / den
    chi2[~np.isfinite(chi2) | ~(np.broadcast_to(den, chi2.shape) > 0)] = np.inf
    R = len(Y)
    cube = chi2.reshape((R,) + (m,) * d)
    local = np.isfinite(cube)
    for ax in range(1, d + 1):  # no lower neighbour along any grid axis
        head = [slice(None)] * (d + 1)
        tail = [slice(None)] * (d + 1)
        head[ax], tail[ax] = slice(0, m - 1), slice(1, m)
        head, tail = tuple(head), tuple(tail)
        local[tail] &= cube[tail] <= cube[head]
        local[head] &= cube[head] <= cube[tail]
    score = np.where(local.reshape(R, -1), chi2, np.inf)
    rows = np.arange(R)
    idx = np.empty((R, n_keep), dtype=int)
    chosen = np.empty((R, n_keep))
    for j in range(n_keep):  # the n_keep lowest local minima, best first
        idx[:, j] = np.argmin(score, axis=1)
        chosen[:, j] = score[rows, idx[:, j]]
        score[rows, idx[:, j]] = np.inf
    with np.errstate(all="ignore"):  # rows without n_keep minima are masked below
        a = np.take_along_axis(num, idx, axis=1) / (den[idx] if _shared(iw)
                                                     else np.take_along_axis(den, idx, axis=1))
    theta = np.concatenate([a[..., None], mesh[idx]], axis=-1)
    return np.where(np.isfinite(chosen)[..., None], theta, np.nan)


def _shared(iw: np.ndarray) -> bool:
    """True when every replicate has the same weights (broadcast row)."""
    return iw.shape[0] == 1


def _solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched solve of small k×k systems; a pseudo-inverse for the singular ones."""
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.einsum("mkl,ml->mk", np.linalg.pinv(A), b)


def _project_amplitude(law, x, Y, iw, theta):
    """Set the amplitude (parameter 0) of each row to its weighted least-squares optimum given
    the other parameters: a = Σ w g y / Σ w g², g = f(N; 1, φ) (variable projection)."""
    unit = theta.copy()
    unit[:, 0] = 1.0
    with np.errstate(all="ignore"):
        g = law.value(unit, x) * iw
        a = np.sum(g * Y * iw, axis=-1) / np.sum(g * g, axis=-1)
    theta[:, 0] = a
    return theta


def _gn_terms(law, x, Y, iw, theta, lo, hi, project):
    """Whitened residuals' chi², the free-parameter gradient Jᵀr and Gauss–Newton matrix JᵀJ.

    With ``project`` the amplitude is eliminated (Kaufman's variable-projection Jacobian: the
    other columns with their component along ∂f/∂a removed) and its row and column are zero.
    Parameters at a bound whose descent direction points outside are held fixed (active set).
    """
    with np.errstate(all="ignore"):
        r = (Y - law.value(theta, x)) * iw
        J = law.jacobian(theta, x) * iw[..., None]
        if project:
            g0 = J[:, :, :1]
            coef = (np.swapaxes(J, 1, 2) @ g0)[..., 0] / np.sum(g0[..., 0] ** 2, axis=1)[:, None]
            J = J - g0 * coef[:, None, :]
            J[:, :, 0] = 0.0
    chi2 = np.sum(r**2, axis=-1)
    col = np.sqrt(np.sum(J**2, axis=1))  # (M, k) column norms
    Jt = np.swapaxes(J, 1, 2)
    g = (Jt @ r[..., None])[..., 0]  # −½ ∂chi²/∂θ
    H = Jt @ J
    fixed = ((theta <= lo) & (g < 0)) | ((theta >= hi) & (g > 0))
    if project:
        fixed[:, 0] = True
    free = ~fixed
    g = np.where(free, g, 0.0)
    H = np.where(free[:, :, None] & free[:, None, :], H, 0.0)
    diag = np.einsum("mkk->mk", H)
    scale = np.where(free, np.maximum(diag, 1e-30 + 1e-14 * diag.max(axis=1, keepdims=True)),
                     1.0)
    base = H + (~free)[:, :, None] * np.eye(theta.shape[1])  # fixed: identity row, zero gradient
    with np.errstate(all="ignore"):
        gn = _solve(base + 1e-13 * scale[:, :, None] * np.eye(theta.shape[1]), g)
        dec = np.sum(g * gn, axis=1)  # Gauss–Newton decrement: chi² a full step would remove
        # MINPACK's gtol test: the largest cosine between the residual and a free column of J.
        cos = np.max(np.where(free, np.abs(g) / (col * np.sqrt(chi2)[:, None] + 1e-300), 0.0),
                     axis=1)
    return chi2, g, base, scale, gn, dec, cos


def _lm(law: Law, x, Y, iw, theta, lo, hi, *, tol: float, max_iter: int, project: bool = False,
        gtol: float = 1e-10):
    """Batched bound-constrained Levenberg–Marquardt; every row is its own problem.

    Near the optimum (decrement < 1e-10) it takes plain Gauss–Newton steps, accepted within
    chi²'s rounding, down to the floating-point floor; a rejected one sends the row back to
    damped steps. Returns theta (M, k), chi² (M,), the final Gauss–Newton decrement (M,) and the
    converged flag (decrement ≤ tol · (1 + chi²), or the ``gtol`` cosine test).
    """
    M, k = theta.shape
    eye = np.eye(k)
    theta = np.clip(theta, lo, hi)
    if project:
        theta = _project_amplitude(law, x, Y, iw, theta)
    lam = np.full(M, 1e-3)
    allow_polish = np.ones(M, bool)
    done = ~np.all(np.isfinite(theta), axis=1)
    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        th = theta[act]
        Ya, iwa = Y[act], (iw[act] if iw.shape[0] == M else iw)
        c0, g, base, scale, gn, dec, cos = _gn_terms(law, x, Ya, iwa, th, lo, hi, project)
        polish = allow_polish[act] & np.isfinite(dec) & (dec < 1e-10 * (1.0 + c0))
        with np.errstate(all="ignore"):
            damped = _solve(base + lam[act, None, None] * scale[:, :, None] * eye, g)
            step = np.where(polish[:, None], gn, damped)
            new = np.clip(th + step, lo, hi)
            if project:
                new = _project_amplitude(law, x, Ya, iwa, new)
            c1 = np.sum(((Ya - law.value(new, x)) * iwa) ** 2, axis=-1)
        slack = np.where(polish, 1e-12 * (1.0 + c0), 0.0)
        better = np.isfinite(c1) & (c1 <= c0 + slack) & np.all(np.isfinite(new), axis=1)
        theta[act[better]] = new[better]
        # A rejected Gauss–Newton polish step means the quadratic model is not yet good enough:
        # go back to damped steps for that row (keeping its damping) instead of stopping.
        stalled = polish & ~better
        allow_polish[act[stalled]] = False
        lam[act] = np.where(better, np.maximum(lam[act] / 10.0, 1e-15),
                            np.where(stalled, lam[act], lam[act] * 10.0))
        converged = (np.isfinite(dec) & (dec <= tol * (1.0 + c0))) | (cos <= gtol)
        done[act] = (~np.isfinite(c0) | (dec <= 1e-2 * tol * (1.0 + c0)) | (lam[act] > 1e16)
                     | (stalled & converged))
    chi2, *_, dec, cos = _gn_terms(law, x, Y, iw, theta, lo, hi, project)
    ok = (np.isfinite(chi2) & np.isfinite(dec) & ((dec <= tol * (1.0 + chi2)) | (cos <= gtol))
          & np.all(np.isfinite(theta), axis=1))
    return theta, chi2, dec, ok


def _covariance(law: Law, x, iw, theta) -> np.ndarray:
    """(JᵀJ)⁻¹ per row of the whitened Jacobian; a pseudo-inverse where it is near-singular
    (condition number > 1e12)."""
    with np.errstate(all="ignore"):
        J = law.jacobian(theta, x) * iw[..., None]
        H = np.swapaxes(J, 1, 2) @ J
    cov = np.full_like(H, np.nan)
    good = np.all(np.isfinite(H), axis=(1, 2))
    if good.any():
        Hg = H[good]
        cond = np.linalg.cond(Hg)
        inv = np.empty_like(Hg)
        regular = cond <= 1e12
        if regular.any():
            inv[regular] = np.linalg.inv(Hg[regular])
        if (~regular).any():
            inv[~regular] = np.linalg.pinv(Hg[~regular])
        cov[good] = inv
    return cov


def scipy_fit(law: Law | str, sizes, gains, se, starts=None):
    """The reference fit: scipy's bounded trust-region least squares of chi² from each start
    (default: the law's own starting points) and then from the law's starts, keeping the lowest
    chi². Returns (theta, chi², cov, at_bound (k,) bool) or None when no start converged."""
    law = get_law(law)
    x, y, se = (np.asarray(v, dtype=float) for v in (sizes, gains, se))
    lo, hi = (np.asarray(v, float) for v in law.bounds(x, y))
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    tries = [] if starts is None else [np.asarray(starts, float).reshape(-1, law.k)]
    tries.append(law.starts(x, y, se))
    for st in tries:
        best = best_least_squares(law, x, y, se, np.clip(st, lo + 1e-9 * span, hi - 1e-9 * span),
                                  lo, hi)
        if best is not None:
            break
    else:
        return None
    cov = _covariance(law, x, (1.0 / se)[None], best.x[None])[0]
    # least_squares can stop on a bound without marking it active; count both as at the bound
    near = np.isclose(best.x, lo, rtol=1e-7, atol=0) | np.isclose(best.x, hi, rtol=1e-7, atol=0)
    return best.x, 2.0 * best.cost, cov, (best.active_mask != 0) | near


def fit_law_batch(law: Law | str, sizes, Y, se, start=None, *, y_ref=None, retry: bool = True,
                  n_candidates: int = 3, margin: float = 1.0, tol: float = 1e-12, max_iter: int = 200,
                  chunk: int = 2048) -> BatchFit:
    """Refit ``law`` to every row of ``Y`` (R, n) at ``sizes`` (n,) with SEs ``se``.

    ``se`` is (n,) (shared) or (R, n). ``start`` is an optional warm start, (k,) or (R, k) (for
    example the original fit's parameters); it is polished alongside the grid candidates. The
    law's bounds (and, for laws without the amplitude form, its starting points) are computed once
    from ``y_ref`` (default: the mean of the rows); the registered laws' bounds depend on the sizes
    only. ``retry`` refits non-converged rows with ``scipy_fit`` (scipy, several
    starts). Rows are processed ``chunk`` at a time to bound memory. See the module docstring for
    the method and the convergence criterion ``tol``.
    """
    law = get_law(law)
    x = np.asarray(sizes, dtype=float)
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    R, n = Y.shape
    if n != len(x):
        raise ScalefitError(f"Y has {n} columns but there are {len(x)} sizes")
    se = np.asarray(se, dtype=float)
    iw_all = 1.0 / np.broadcast_to(se, (R, n)) if se.ndim == 2 else (1.0 / se)[None, :]
    k = law.k
    nan_theta = np.full((R, k), np.nan)
    empty = dict(theta=nan_theta, chi2=np.full(R, np.nan), converged=np.zeros(R, bool),
                 cov=np.full((R, k, k), np.nan), at_bound=np.zeros((R, k), bool),
                 retried=np.zeros(R, bool))
    if n < k:
        return BatchFit(law.name, x, status=SKIPPED,
                        message=f"{n} point(s) for {k} parameters: too few to fit", law_spec=law,
                        **empty)
    out = {key: np.array(v, copy=True) for key, v in empty.items()}
    y_ref = Y.mean(axis=0) if y_ref is None else np.asarray(y_ref, float)
    se_ref = 1.0 / (iw_all[0] if _shared(iw_all) else iw_all.mean(axis=0))

    if law.linear:
        method = "closed-form weighted least squares"
        X = law.jacobian(np.zeros(k), x)  # (n, k): the design does not depend on θ
        if _shared(iw_all):
            theta = (Y * iw_all) @ np.linalg.pinv(X * iw_all[0][:, None]).T
        else:
            theta = np.einsum("rkn,rn->rk", np.linalg.pinv(X[None] * iw_all[..., None]),
                              Y * iw_all)
        with np.errstate(all="ignore"):
            chi2 = np.sum(((Y - law.value(theta, x)) * iw_all) ** 2, axis=1)
        out.update(theta=theta, chi2=chi2,
                   converged=np.isfinite(chi2) & np.all(np.isfinite(theta), axis=1),
                   cov=_covariance(law, x, np.broadcast_to(iw_all, (R, n)), theta))
    else:
        lo, hi = (np.asarray(v, float) for v in law.bounds(x, y_ref))
        projected = _amplitude_form(law, x, lo, hi)
        method = ("variable projection on a grid + batched Levenberg-Marquardt" if projected
                  else "batched Levenberg-Marquardt from the law's starts")
        span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
        fixed_starts = [] if projected else [np.clip(law.starts(x, y_ref, se_ref),
                                                     lo + 1e-6 * span, hi - 1e-6 * span)]
        warm = None if start is None else np.broadcast_to(np.asarray(start, float), (R, k))
        retry_starts: dict[int, np.ndarray] = {}
        for s0 in range(0, R, chunk):
            rows = slice(s0, min(R, s0 + chunk))
            Yc = Y[rows]
            iwc = iw_all if _shared(iw_all) else iw_all[rows]
            m = len(Yc)
            cands = []
            if projected:
                cands.append(_grid_candidates(law, x, Yc, np.broadcast_to(iwc, (m, n))
                                              if not _shared(iwc) else iwc, lo, hi, n_candidates))
            for st in fixed_starts:
                cands.append(np.broadcast_to(st, (m,) + st.shape))
            if warm is not None:
                cands.append(warm[rows][:, None, :])
            cand = np.concatenate(cands, axis=1)  # (m, S, k)
            S = cand.shape[1]
            flat = cand.reshape(m * S, k).copy()
            rep = np.repeat(np.arange(m), S)
            valid = np.all(np.isfinite(flat), axis=1)
            # Polish only candidates within ``margin`` of each replicate's best starting chi²:
            # a basin whose start is worse by more than that is very unlikely to hold the optimum.
            with np.errstate(all="ignore"):
                flat = np.clip(flat, lo, hi)
                iw_flat = iwc if _shared(iwc) else iwc[rep]
                if projected:
                    flat = _project_amplitude(law, x, Yc[rep], iw_flat, flat)
                c_init = np.sum(((Yc[rep] - law.value(flat, x)) * iw_flat) ** 2, axis=1)
            c_init = np.where(valid & np.isfinite(c_init), c_init, np.inf).reshape(m, S)
            valid &= (c_init <= c_init.min(axis=1, keepdims=True) + margin).reshape(-1)
            theta = np.full((m * S, k), np.nan)
            chi2 = np.full(m * S, np.inf)
            ok = np.zeros(m * S, bool)
            if valid.any():
                iw_rows = iwc if _shared(iwc) else iwc[rep[valid]]
                th, c2, _, good = _lm(law, x, Yc[rep[valid]], iw_rows, flat[valid].copy(), lo, hi,
                                      tol=tol, max_iter=max_iter, project=projected)
                theta[valid], chi2[valid], ok[valid] = th, c2, good
            # The lowest chi² over all candidates; if that candidate has not converged, the row
            # is not converged (a worse converged local minimum is not taken instead).
            score = np.where(np.isfinite(chi2), chi2, np.inf).reshape(m, S)
            best = np.argmin(score, axis=1)
            conv = np.isfinite(score[np.arange(m), best]) & ok.reshape(m, S)[np.arange(m), best]
            th_all = theta.reshape(m, S, k)
            for r in np.flatnonzero(~conv):  # keep the candidates for the scipy retry
                retry_starts[s0 + r] = th_all[r][np.all(np.isfinite(th_all[r]), axis=1)]
            th_best = th_all[np.arange(m), best]
            th_best[~conv] = np.nan
            out["theta"][rows] = th_best
            out["chi2"][rows] = np.where(conv, score[np.arange(m), best], np.nan)
            out["converged"][rows] = conv
            with np.errstate(all="ignore"):
                out["at_bound"][rows] = conv[:, None] & (
                    (th_best <= lo + 1e-10 * span) | (th_best >= hi - 1e-10 * span))
            out["cov"][rows] = _covariance(law, x, np.broadcast_to(iwc, (m, n)), th_best)

    if retry and not law.linear:
        for r in np.flatnonzero(~out["converged"]):
            if not np.all(np.isfinite(Y[r])):
                continue
            se_r = 1.0 / (iw_all[0] if _shared(iw_all) else iw_all[r])
            res = scipy_fit(law, x, Y[r], se_r, retry_starts.get(r, np.empty((0, k))))
            if res is not None:
                out["theta"][r], out["chi2"][r], out["cov"][r], out["at_bound"][r] = res
                out["converged"][r], out["retried"][r] = True, True
    out["theta"][~out["converged"]] = np.nan
    out["chi2"][~out["converged"]] = np.nan
    return BatchFit(law.name, x, status=OK, message=method, law_spec=law, **out)


def fit_laws_batch(sizes, Y, se, *, laws=None, starts: dict | None = None, y_ref=None,
                   retry: bool = True, quiet: bool = True, desc: str = "refit") -> dict[str, BatchFit]:
    """``fit_law_batch`` for each law (default the paper's five, ``PAPER_LAWS``) on the same
    replicates.

    ``starts`` maps a law name to its warm start (e.g. ``{name: fit.params}``).
    """
    names = [get_law(n).name for n in (PAPER_LAWS if laws is None else laws)]
    starts = starts or {}
    fits = {}
    for name in progress(names, desc=desc, quiet=quiet, unit="law"):
        s = starts.get(name)
        if s is not None and not np.all(np.isfinite(s)):
            s = None
        fits[name] = fit_law_batch(name, sizes, Y, se, s, y_ref=y_ref, retry=retry)
    return fits



def fit_law(law: Law | str, sizes, gains, se, *, size_unit: str = "B") -> FitResult:
    """Fit ``law`` to one table (sizes, gains ± se) by weighted least squares (the scaling paper,
    eq. 6): the batch of one, ``fit_law_batch(law, sizes, gains[None], se).result(0)``."""
    gains = np.asarray(gains, dtype=float)
    return fit_law_batch(law, sizes, gains[None, :], se).result(0, size_unit)
