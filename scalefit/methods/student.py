"""The paper's mean and eq. 9 scale with Student-t tails, ν = n − 2: heavier tails alone,
without a model-structure term."""

from __future__ import annotations

import numpy as np

from scalefit.methods.base import Method, Predictive, register
from scalefit.methods.lfo import fit_weighted


def predict(table, sizes) -> Predictive:
    fit = fit_weighted(table, "aic")
    pred = fit.predict(sizes)
    df = float(max(len(table) - 2, 1))
    return Predictive(pred.sizes, pred.mean, pred.sd, np.full(len(pred.sizes), df), "student",
                      list(fit.notes))


register(Method("student", predict, "AIC weights, eq. 9 scale, Student-t with ν = n − 2"))
