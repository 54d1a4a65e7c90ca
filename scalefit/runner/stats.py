"""The paired standard error of a gain measured with several fine-tuning seeds (no torch).

Setting: S seeds × n held-out problems. For seed s and problem i, ``a[s, i]`` and ``b[s, i]``
are 0/1 correctness of the two methods (OPSD and its baseline), fine-tuned from the same base
model with the same seed (the same fine-tuning problems and order) and scored on the same
problems. The per-cell difference ``d[s, i] = a[s, i] − b[s, i]`` is modelled as a balanced
two-way crossed random-effects layout,

    d[s, i] = μ + p_i + q_s + e_si,      Var p = σ_p², Var q = σ_q², Var e = σ_e²,

where p_i is the problem effect (which problems OPSD helps on), q_s the seed effect (one
fine-tuning run luckier than another) and e_si their interaction. The gain is the grand mean
d̄ (× 100, in percentage points), with

    Var d̄ = σ_p²/n + σ_q²/S + σ_e²/(nS).

With the ANOVA mean squares (MS_P over problems, MS_Q over seeds, MS_E the residual),
E[MS_P] = σ_e² + S σ_p², E[MS_Q] = σ_e² + n σ_q², E[MS_E] = σ_e², so

    SE² = (MS_P + MS_Q − MS_E) / (nS)

is unbiased for Var d̄. In words: the variance across problems of the per-problem mean
difference, over n, plus the variance across seeds of the per-seed gain, over S, minus the
interaction counted twice. It is floored at the larger of its two leading terms (it can dip
below them by chance), and at ``100 / (nS)`` pp when every difference is zero (no discordant
pair: the gain is exactly 0 on these problems but its SE is not 0).

With one seed it is the classical paired SE over problems (the seed component is then not
estimable and not included). It treats the held-out problems as a sample from the task and the
seeds as a sample of fine-tuning runs; the base model is fixed (trained once per size), so
variation between independently pretrained bases is *not* included.
"""

from __future__ import annotations

import numpy as np

__all__ = ["paired_gain"]


def paired_gain(a, b) -> dict:
    """Gain mean(a − b) and its SE in percentage points for 0/1 arrays of shape (S, n).

    Returns ``gain``, ``se``, and the components ``se_problems`` (sqrt(MS_P/(nS)): the paired
    SE across problems of seed-averaged differences) and ``se_seeds`` (sqrt(MS_Q/(nS)): the
    spread of the per-seed gains), ``n_seeds``, ``n_problems`` and ``per_seed`` gains.
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    d = a - b
    s, n = d.shape
    mean = d.mean()
    per_problem = d.mean(axis=0)          # n values
    per_seed = d.mean(axis=1)             # S values
    ms_p = s * per_problem.var(ddof=1) if n > 1 else 0.0
    ms_q = n * per_seed.var(ddof=1) if s > 1 else 0.0
    if s > 1 and n > 1:
        resid = d - per_problem[None, :] - per_seed[:, None] + mean
        ms_e = (resid**2).sum() / ((s - 1) * (n - 1))
    else:
        ms_e = 0.0
    var = (ms_p + ms_q - ms_e) / (n * s)
    var = max(var, ms_p / (n * s), ms_q / (n * s))
    se = float(np.sqrt(var))
    floor = 1.0 / (n * s)
    if se < floor and not np.any(d != 0):
        se = floor
    return {"gain": 100.0 * float(mean), "se": 100.0 * se,
            "se_problems": 100.0 * float(np.sqrt(ms_p / (n * s))),
            "se_seeds": 100.0 * float(np.sqrt(ms_q / (n * s))),
            "n_seeds": s, "n_problems": n, "per_seed": (100.0 * per_seed).tolist()}
