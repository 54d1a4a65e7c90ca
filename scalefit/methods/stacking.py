"""Stacking: law weights on the simplex maximising the leave-future-out log score of the mixture
(Yao et al. 2018); normal with eq. 9's variance."""

from __future__ import annotations

import numpy as np
from scipy import optimize

from scalefit.methods.base import Method, register
from scalefit.methods.lfo import reweighted


def stacking_weights(logdens: np.ndarray) -> np.ndarray:
    """w on the simplex maximising Σ_i log Σ_k w_k p_k(y_i) (laws on rows, points on columns)."""
    usable = np.isfinite(logdens).all(axis=1)
    if usable.sum() <= 1:
        return usable / max(usable.sum(), 1)
    ld = logdens[usable]
    shift = ld.max(axis=0)
    p = np.exp(ld - shift)

    def loss(z):
        w = np.exp(z - z.max())
        w /= w.sum()
        return -np.sum(np.log(w @ p + 1e-300))

    z = optimize.minimize(loss, np.zeros(len(ld)), method="Nelder-Mead",
                          options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000}).x
    w = np.zeros(len(logdens))
    w[usable] = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    return w


def predict(table, sizes):
    return reweighted(table, sizes, stacking_weights, "stacking")


register(Method("stacking", predict, "stacking weights from leave-future-out log scores; "
                "normal, eq. 9"))
