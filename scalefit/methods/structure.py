"""The paper's mean and eq. 9 variance plus a *model-structure* term (τ̂ · d)², with
d = ln(N / N_max) the extrapolation distance and τ̂ estimated from the table's own
leave-future-out errors (``scalefit.methods.lfo``); Student-t with as many degrees of freedom as
errors. ``lfo`` weighs the laws by AIC, ``lfo_aicc`` by AICc.

Under e_i / d_i ~ N(0, τ²), τ̂² = mean(e_i² / d_i²) and a new error is τ̂ · d · t_ν with ν the
number of errors (the usual predictive for a scale estimated from ν squared errors). LFO errors
from nested origins are correlated, so ν is generous; the backtests say whether it holds.
"""

from __future__ import annotations

import numpy as np

from scalefit.methods.base import Method, Predictive, register
from scalefit.methods.lfo import fit_weighted, lfo_errors, structure_scale


def _structure_method(name: str, criterion: str) -> Method:
    def predict(table, sizes) -> Predictive:
        fit = fit_weighted(table, criterion)
        pred = fit.predict(sizes)
        errors = lfo_errors(table, criterion)
        notes = list(fit.notes)
        if len(errors) == 0:
            notes.append("too few points for leave-future-out errors: no structure term")
            return Predictive(pred.sizes, pred.mean, pred.sd, np.full(len(pred.sizes), np.inf),
                              name, notes)
        tau = structure_scale(errors)
        distance = np.log(np.maximum(pred.sizes / table.size.max(), 1.0))
        scale = np.sqrt(pred.sd**2 + (tau * distance) ** 2)
        notes.append(f"model-structure scale τ = {tau:.3g} per unit ln-size from "
                     f"{len(errors)} leave-future-out errors")
        return Predictive(pred.sizes, pred.mean, scale,
                          np.full(len(pred.sizes), float(len(errors))), name, notes)

    return register(Method(name, predict, f"{criterion.upper()} weights; eq. 9 variance plus a "
                           "model-structure term from leave-future-out errors; Student-t"))


_structure_method("lfo", "aic")
_structure_method("lfo_aicc", "aicc")
