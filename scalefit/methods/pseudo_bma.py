"""Pseudo-BMA: law weights w_k ∝ exp(Σ_i log p_k(y_i)) over the leave-future-out points;
normal with eq. 9's variance."""

from __future__ import annotations

import numpy as np

from scalefit.methods.base import Method, register
from scalefit.methods.lfo import reweighted


def pseudo_bma_weights(logdens: np.ndarray) -> np.ndarray:
    """w_k ∝ exp(Σ_i log p_k(y_i)), laws on rows and LFO points on columns."""
    total = logdens.sum(axis=1)
    if not np.isfinite(total).any():
        return np.full(len(total), 1.0 / len(total))
    return np.exp(total - np.max(total[np.isfinite(total)])) * np.isfinite(total)


def predict(table, sizes):
    return reweighted(table, sizes, pseudo_bma_weights, "pseudo_bma")


register(Method("pseudo_bma", predict, "pseudo-BMA weights from leave-future-out log densities; "
                "normal, eq. 9"))
