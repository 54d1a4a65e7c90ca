"""Fitting the decomposition: weighted least squares with the table's SEs (chi² as eq. 6).

The model is linear in the amplitudes, so for fixed shapes φ = (β, N_char, η) the optimal
non-negative amplitudes are an exact small NNLS problem (``nnls_small``: all subsets of the three
columns, vectorised over many φ); chi² is profiled on a grid over φ, and the best grid points
plus random starts are polished jointly on all six parameters with bounded trust-region least
squares (``multistart``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from scalefit.core.fit import weighted_least_squares
from scalefit.studies.decompose.model import INDEX, assemble, basis, bounds, jacobian, value


def nnls_small(B: np.ndarray, y: np.ndarray, w: np.ndarray):
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


def shape_grid(sizes, n_beta: int = 26, n_char: int = 25, n_eta: int = 25) -> np.ndarray:
    """φ = (β, N_char, η) on a grid over their bounds (log-spaced for N_char and η): (P, 3)."""
    lo, hi = bounds(sizes)
    beta = np.linspace(0.0, 1.0, n_beta)
    nc = np.geomspace(lo[INDEX["N_char"]], hi[INDEX["N_char"]], n_char)
    eta = np.geomspace(lo[INDEX["eta"]], hi[INDEX["eta"]], n_eta)
    return np.stack(np.meshgrid(beta, nc, eta, indexing="ij"), axis=-1).reshape(-1, 3)


@dataclass
class Fit:
    theta: np.ndarray
    chi2: float


def polish(x, y, s, theta0, lo, hi) -> Fit | None:
    """Bounded trust-region least squares on all six parameters from ``theta0``."""
    span = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(np.abs(theta0), 1.0))
    t0 = np.clip(theta0, lo + 1e-9 * span, hi - 1e-9 * span)
    r = weighted_least_squares(value, jacobian, x, y, s, t0, lo, hi, max_nfev=200)
    if r is None or not np.isfinite(r.cost):
        return None
    return Fit(r.x, float(2.0 * r.cost))


def multistart(x, y, s, n_starts: int, seed: int | None):
    """Grid of φ with exact NNLS amplitudes, then the best grid points and random starts
    polished on all six parameters. Returns the fits sorted by chi² and the number of starts."""
    lo, hi = bounds(x)
    w = 1.0 / s**2
    phi = shape_grid(x)
    amp, chi2 = nnls_small(basis(phi[:, 0], phi[:, 1], phi[:, 2], x), y, w)
    order = np.argsort(chi2)
    rng = np.random.default_rng(seed)
    n_grid = max(1, n_starts // 2)
    starts = list(assemble(phi[order[:n_grid]], amp[order[:n_grid]]))
    # Random starts: φ uniform in (β, ln N_char, ln η), amplitudes by NNLS at that φ.
    m = max(0, n_starts - n_grid)
    nc, eta = INDEX["N_char"], INDEX["eta"]
    rphi = np.column_stack([rng.uniform(0, 1, m),
                            np.exp(rng.uniform(np.log(lo[nc]), np.log(hi[nc]), m)),
                            np.exp(rng.uniform(np.log(lo[eta]), np.log(hi[eta]), m))])
    if m:
        ramp, _ = nnls_small(basis(rphi[:, 0], rphi[:, 1], rphi[:, 2], x), y, w)
        starts += list(assemble(rphi, ramp))
    fits = [f for f in (polish(x, y, s, t, lo, hi) for t in starts) if f is not None]
    fits.sort(key=lambda f: f.chi2)
    return fits, len(starts)
