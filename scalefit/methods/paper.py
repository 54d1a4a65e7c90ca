"""The scaling paper's recipe: information-criterion weights (eq. 7), the model average (eq. 8)
and a normal interval with eq. 9's total variance (within + between). ``average`` uses AIC, as
the paper does (aliases ``paper``, ``model_average``, ``avg``); ``aicc`` and ``bic`` the others."""

from __future__ import annotations

import numpy as np

from scalefit.methods.base import Method, Predictive, ReplicateBatch, register
from scalefit.methods.lfo import fit_weighted


def _criterion_method(name: str, criterion: str, aliases: tuple[str, ...] = ()) -> Method:
    def predict(table, sizes) -> Predictive:
        fit = fit_weighted(table, criterion)
        pred = fit.predict(sizes)
        return Predictive(pred.sizes, pred.mean, pred.sd, np.full(len(pred.sizes), np.inf),
                          "paper" if criterion == "aic" else criterion, list(fit.notes))

    def batch(b: ReplicateBatch):
        avg = b.average(criterion)
        return b.normal(avg.mean, avg.sd)

    title = ("the scaling paper's model average (eq. 8-9)" if criterion == "aic"
             else f"{criterion.upper()}-weighted model average")
    return register(Method(name, predict, f"{criterion.upper()} weights, model average, normal "
                           "with eq. 9's variance" + (" (the paper's recipe)" if aliases else ""),
                           batch, title), aliases)


_criterion_method("average", "aic", ("paper", "model_average", "avg"))
_criterion_method("aicc", "aicc")
_criterion_method("bic", "bic")
