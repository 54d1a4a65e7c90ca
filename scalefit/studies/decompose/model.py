"""The decomposition's model (eq. 10-13) as a ``Law`` with named parameters.

    Δ(N) = α N^β                       distribution match   (eq. 11, 0 ≤ β ≤ 1)
         + γ (1 − exp(−N / N_char))    dark knowledge       (eq. 12)
         + δ ln(1 + η N)               regularisation       (eq. 13)

Six parameters θ = (α, β, γ, N_char, δ, η): an amplitude per component (α, γ, δ ≥ 0: each
mechanism adds to the gain; the paper's plots stack them) and its shape (β, N_char, η; N_char and
η within four decades of the observed sizes). ``DECOMPOSITION`` is the same kind of object as the
scaling laws of ``scalefit.core.laws`` (value, Jacobian, bounds, starts), evaluated and polished
by the same least-squares engine. It is not in their registry ``LAWS``: its fit is an exact
non-negative least-squares problem in the amplitudes (``fit``), and as a forecast of its own it
would only add a six-parameter curve to every five-point table.
"""

from __future__ import annotations

import numpy as np

from scalefit.core.laws import Law

PARAMS = ("alpha", "beta", "gamma", "N_char", "delta", "eta")
COMPONENTS = ("distribution_match", "dark_knowledge", "regularization")
AMPLITUDES = ("alpha", "gamma", "delta")   # one per component, in ``COMPONENTS`` order
SHAPES = ("beta", "N_char", "eta")         # the nonlinear parameters φ, in the same order
TABLE2_SIZES = (0.5, 1.0, 8.0, 70.0, 405.0)
INDEX = {name: i for i, name in enumerate(PARAMS)}


def param(theta, name: str) -> np.ndarray:
    """Parameter ``name`` of ``theta`` (..., 6): (...)."""
    return np.asarray(theta, float)[..., INDEX[name]]


def assemble(phi, amplitudes) -> np.ndarray:
    """θ (..., 6) from shapes φ (..., 3) in ``SHAPES`` order and amplitudes (..., 3)."""
    phi, amplitudes = np.asarray(phi, float), np.asarray(amplitudes, float)
    theta = np.empty(phi.shape[:-1] + (len(PARAMS),))
    theta[..., [INDEX[p] for p in SHAPES]] = phi
    theta[..., [INDEX[p] for p in AMPLITUDES]] = amplitudes
    return theta


def basis(beta, n_char, eta, x) -> np.ndarray:
    """The components at unit amplitude, (..., 3, n), for shapes (...,): N^β, 1 − e^(−N/N_char),
    ln(1 + η N)."""
    beta, n_char, eta = (np.asarray(v, float)[..., None] for v in (beta, n_char, eta))
    x = np.asarray(x, float)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.stack([x**beta, -np.expm1(-x / n_char), np.log1p(eta * x)], axis=-2)


def components(theta, sizes) -> np.ndarray:
    """The three components at ``sizes``: (..., 3, m) for parameters ``theta`` (..., 6)."""
    amp = np.stack([param(theta, p) for p in AMPLITUDES], axis=-1)
    shape = basis(*(param(theta, p) for p in SHAPES), np.atleast_1d(np.asarray(sizes, float)))
    return amp[..., :, None] * shape


def _value(theta, x):
    return components(theta, x).sum(axis=-2)


def _jacobian(theta, x):
    a, b, g, nc, d, e = (param(theta, p)[..., None] for p in PARAMS)
    xb = x**b
    return np.stack([xb, a * xb * np.log(x), -np.expm1(-x / nc), -g * np.exp(-x / nc) * x / nc**2,
                     np.log1p(e * x), d * x / (1.0 + e * x)], axis=-1)


def _bounds(x, y=None):
    """Amplitudes ≥ 0, 0 ≤ β ≤ 1, N_char and 1/η within a factor 100 of the observed sizes
    (from far below the data to far above)."""
    x = np.asarray(x, float)
    lo = dict(alpha=0.0, beta=0.0, gamma=0.0, N_char=x.min() / 100.0, delta=0.0,
              eta=1.0 / (100.0 * x.max()))
    hi = dict(alpha=np.inf, beta=1.0, gamma=np.inf, N_char=100.0 * x.max(), delta=np.inf,
              eta=100.0 / x.min())
    return np.array([lo[p] for p in PARAMS]), np.array([hi[p] for p in PARAMS])


def _starts(x, y, s):
    """The paper's reported shapes (β = 0.95, N_char = 11.5, η = 0.83; sizes in B) with
    amplitudes of 1: a start for a generic fit (``fit`` finds the best ones exactly)."""
    return assemble(np.array([[0.95, 11.5, 0.83]]), np.ones((1, 3)))


DECOMPOSITION = Law("decomposition", "Three-component decomposition",
                    "alpha * N^beta + gamma * (1 - exp(-N/N_char)) + delta * ln(1 + eta*N)",
                    "eq. 10-13", PARAMS, _value, _jacobian, _bounds, _starts)


def value(theta, sizes) -> np.ndarray:
    """The total gain Δ(N) (eq. 10) at ``sizes``: (..., m)."""
    return DECOMPOSITION.value(theta, np.atleast_1d(np.asarray(sizes, float)))


def jacobian(theta, sizes) -> np.ndarray:
    """∂Δ/∂θ at ``sizes``: (..., m, 6)."""
    return DECOMPOSITION.jacobian(theta, np.atleast_1d(np.asarray(sizes, float)))


def bounds(sizes) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) for θ given the observed ``sizes`` (see ``_bounds``)."""
    return DECOMPOSITION.bounds(sizes, None)


def shares(theta, size) -> np.ndarray:
    """Each component's share of the total at one ``size``: (..., 3); NaN where the total is 0."""
    c = components(theta, [size])[..., 0]
    tot = c.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, c / tot, np.nan)
