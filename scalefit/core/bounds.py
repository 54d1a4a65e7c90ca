"""The possible range of a quantity, and the transform that keeps forecasts inside it.

A gain in percentage points of an accuracy lies in [−100, 100]; an accuracy in [0, 100]; a loss
in (0, ∞). Forecasts are made in a space where the range is the whole real line,

    z = logit((y − lo) / (hi − lo))    for two finite bounds,
    z = log(y − lo) or −log(hi − y)    for one,
    z = y                              for none,

and points and quantiles are mapped back, so no point or interval bound can leave [lo, hi]
(quantiles map to quantiles under a monotone transform). Values on a bound are pulled inside by
0.1% of the range, so that the logit stays finite.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from scalefit.data import GAIN_RANGE  # noqa: F401  a gain in pp of an accuracy

ACCURACY_RANGE = (0.0, 100.0)
LOSS_RANGE = (0.0, np.inf)
UNBOUNDED = (-np.inf, np.inf)


def _margin(lo: float, hi: float) -> float:
    return 1e-3 * (hi - lo) if np.isfinite(lo) and np.isfinite(hi) else 1e-9


def to_z(y, lo: float, hi: float) -> np.ndarray:
    """Values in (lo, hi) mapped to the real line (module docstring)."""
    y = np.asarray(y, float)
    if np.isfinite(lo) and np.isfinite(hi):
        e = _margin(lo, hi)
        return special.logit((np.clip(y, lo + e, hi - e) - lo) / (hi - lo))
    if np.isfinite(lo):
        return np.log(np.maximum(y - lo, 1e-9 * max(1.0, abs(lo))))
    if np.isfinite(hi):
        return -np.log(np.maximum(hi - y, 1e-9 * max(1.0, abs(hi))))
    return y.copy()


def from_z(z, lo: float, hi: float) -> np.ndarray:
    """The inverse of ``to_z``, inside [lo, hi]."""
    z = np.asarray(z, float)
    if np.isfinite(lo) and np.isfinite(hi):
        return np.clip(lo + (hi - lo) * special.expit(z), lo, hi)
    if np.isfinite(lo):
        return lo + np.exp(np.minimum(z, 700.0))
    if np.isfinite(hi):
        return hi - np.exp(np.minimum(-z, 700.0))
    return z.copy()


def dz_dy(y, lo: float, hi: float) -> np.ndarray:
    """The derivative of ``to_z`` (to carry standard errors into z by the delta method)."""
    y = np.asarray(y, float)
    if np.isfinite(lo) and np.isfinite(hi):
        e = _margin(lo, hi)
        yc = np.clip(y, lo + e, hi - e)
        return (hi - lo) / ((yc - lo) * (hi - yc))
    if np.isfinite(lo):
        return 1.0 / np.maximum(y - lo, 1e-9)
    if np.isfinite(hi):
        return 1.0 / np.maximum(hi - y, 1e-9)
    return np.ones_like(y)


def transform_name(bounds) -> str:
    """What ``to_z`` does for these bounds, in words."""
    lo, hi = bounds
    if np.isfinite(lo) and np.isfinite(hi):
        return "logit"
    return "log" if np.isfinite(lo) or np.isfinite(hi) else "identity"


def parse_range(text: str) -> tuple[float, float]:
    """``"LO,HI"`` (either may be ``inf``/``-inf``) → (lo, hi) with lo < hi; ValueError if not."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise ValueError(f"expected LO,HI (e.g. -100,100 or 0,inf), got {text!r}")
    lo, hi = (float(p) for p in parts)
    if not lo < hi or np.isnan(lo) or np.isnan(hi):
        raise ValueError(f"expected LO < HI, got {text!r}")
    return lo, hi
