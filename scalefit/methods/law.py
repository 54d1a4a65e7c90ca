"""Each law alone as a method, named by the law: its WLS fit (the scaling paper, eq. 6) and a
normal interval with the delta-method SD (the within-model term of eq. 9). NaN where the fit
fails or the table has fewer points than the law has parameters. Every law in
``scalefit.core.laws.LAWS`` is registered, so a new law is a method by itself."""

from __future__ import annotations

import numpy as np

from scalefit.core.fit import fit_law
from scalefit.core.laws import LAWS, Law
from scalefit.methods.base import Method, Predictive, ReplicateBatch, register


def _law_method(law: Law) -> Method:
    def predict(table, sizes) -> Predictive:
        fit = fit_law(law, table.size, table.value, table.se, size_unit=table.size_unit)
        notes = [] if fit.converged else [f"{law.name} {fit.status}: {fit.message}"]
        return Predictive(sizes, fit.predict(sizes), fit.predict_sd(sizes),
                          np.full(len(sizes), np.inf), law.name, notes + list(fit.notes))

    def batch(b: ReplicateBatch):
        fit = b.fit(law.name)
        return b.normal(fit.predict(b.eval_sizes), fit.predict_sd(b.eval_sizes))

    return Method(law.name, predict, f"the {law.label.lower()} law alone ({law.formula}), "
                  "delta-method normal", batch)


for _law in LAWS.values():
    register(_law_method(_law))
