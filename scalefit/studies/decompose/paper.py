"""The paper's decomposition against the data and itself (section 3.4, Table 2).

``paper_check`` confronts the paper's reported parameters (β = 0.95, N_char = 11.5, δ = 3.08,
η = 0.83) and its Table 2 with a table's data and with each other (docs/analyses.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from scalefit.data import GainTable
from scalefit.studies.decompose.fit import multistart, nnls_small
from scalefit.studies.decompose.model import (COMPONENTS, PARAMS, TABLE2_SIZES, assemble,
                                                  basis, components)

# The scaling paper, section 3.4 and Table 2 (sizes in B, components in pp).
PAPER_PARAMS = {"beta": 0.95, "N_char": 11.5, "delta": 3.08, "eta": 0.83}
PAPER_TABLE2 = pd.DataFrame({
    "size": [0.5, 1.0, 8.0, 70.0, 405.0],
    "distribution_match": [0.16, 0.23, 1.47, 10.92, 56.53],
    "dark_knowledge": [0.00, 0.01, 0.06, 0.10, 0.10],
    "regularization": [0.91, 1.36, 3.39, 5.21, 6.44],
    "total": [1.08, 1.60, 4.93, 16.23, 63.07]})


def paper_check(table: GainTable) -> dict:
    """Confront the paper's decomposition (section 3.4, Table 2) with ``table`` and itself.

    Returns a dict of frames and numbers: ``table2`` (the paper's rows next to eq. 11-13 evaluated
    with its stated β, N_char, δ, η and the α, γ each row implies), ``implied`` (α, γ, η per row),
    ``column_fits`` (the (α, β) and (δ, η) that best reproduce Table 2's columns), and chi² of
    (a) Table 2's totals against the observed gains, (b) the stated β, N_char, δ, η with the best
    non-negative α, γ, (c) the same with δ free as well, (d) our best fit.
    """
    P = PAPER_PARAMS
    t2 = PAPER_TABLE2.copy()
    N = t2["size"].to_numpy()
    implied = pd.DataFrame({
        "size": N,
        "alpha_implied": t2["distribution_match"] / N ** P["beta"],
        "gamma_implied": t2["dark_knowledge"] / -np.expm1(-N / P["N_char"]),
        "eta_implied_with_delta": (np.exp(t2["regularization"] / P["delta"]) - 1.0) / N,
        "regularization_stated": P["delta"] * np.log1p(P["eta"] * N),
    })
    t2["row_sum"] = t2[list(COMPONENTS)].sum(axis=1)
    x, y, s = table.size, table.value, table.se
    w = 1.0 / s**2
    obs = pd.DataFrame({"size": x, "observed": y, "se": s})
    both = t2.merge(obs, on="size")
    chi2_table2 = float(np.sum(((both["observed"] - both["total"]) / both["se"]) ** 2))

    Bx = basis(P["beta"], P["N_char"], P["eta"], x)  # (3, n)
    fixed_reg = P["delta"] * Bx[2]
    a2, chi2_b = nnls_small(Bx[None, :2], y - fixed_reg, w)
    a3, chi2_c = nnls_small(Bx[None], y, w)
    shape = [P["beta"], P["N_char"], P["eta"]]
    theta_b = assemble(shape, [a2[0, 0], a2[0, 1], P["delta"]])
    theta_c = assemble(shape, a3[0])

    dm = optimize.curve_fit(lambda n, a, b: a * n**b, N, t2["distribution_match"], p0=[0.2, 0.9])[0]
    reg = optimize.curve_fit(lambda n, d, e: d * np.log1p(e * n), N, t2["regularization"],
                             p0=[1.0, 1.0])[0]
    reg_resid = t2["regularization"] - reg[0] * np.log1p(reg[1] * N)
    dm_resid = t2["distribution_match"] - dm[0] * N ** dm[1]

    fits, _ = multistart(x, y, s, 24, 0)
    return {
        "stated": dict(P),
        "component_sizes": TABLE2_SIZES,
        "table2": t2,
        "implied": implied,
        "chi2_table2_totals": chi2_table2,
        "table2_vs_observed": both[["size", "total", "observed", "se"]],
        "chi2_stated_params_best_alpha_gamma": float(chi2_b[0]),
        "theta_stated_best_alpha_gamma": dict(zip(PARAMS, map(float, theta_b))),
        "components_stated_best_alpha_gamma": components(theta_b, TABLE2_SIZES),
        "chi2_stated_shape_free_amplitudes": float(chi2_c[0]),
        "theta_stated_shape_free_amplitudes": dict(zip(PARAMS, map(float, theta_c))),
        "column_fit_distribution_match": {"alpha": float(dm[0]), "beta": float(dm[1]),
                                          "max_abs_residual": float(np.max(np.abs(dm_resid)))},
        "column_fit_regularization": {"delta": float(reg[0]), "eta": float(reg[1]),
                                      "max_abs_residual": float(np.max(np.abs(reg_resid)))},
        "chi2_best_fit": float(fits[0].chi2),
        "theta_best_fit": dict(zip(PARAMS, map(float, fits[0].theta))),
    }
