"""The paired standard error of a gain measured with several base models and fine-tuning seeds
(no torch).

Setting: B base models (pretrained from different seeds) × S fine-tuning seeds × n held-out
problems. For base b, seed s and problem i, ``a[b, s, i]`` and ``b[b, s, i]`` are the 0/1
correctness of the two methods (OPSD and its baseline), fine-tuned from base model b with seed s
(the same fine-tuning problems and order for every base) and scored on the same problems. The
per-cell difference ``d[b, s, i] = a[b, s, i] − b[b, s, i]`` is modelled as a balanced
three-way crossed random-effects layout,

    d[b, s, i] = μ + β_b + q_s + p_i + (βq)_bs + (βp)_bi + (qp)_si + e_bsi,

where β_b is the base-model effect (one pretraining luckier than another), q_s the seed effect,
p_i the problem effect (which problems OPSD helps on), and the rest their interactions; a seed
whose effect is not shared across bases (nested in them) shows up as (βq)_bs. The gain is the
grand mean d̄ (× 100, in percentage points), with

    Var d̄ = σ_β²/B + σ_q²/S + σ_p²/n + σ_βq²/(BS) + σ_βp²/(Bn) + σ_qp²/(Sn) + σ_e²/(BSn).

With the ANOVA mean squares of the main effects (MS_B, MS_S, MS_P), the two-way interactions
(MS_BS, MS_BP, MS_SP) and the residual (MS_E), each a sum of these components,

    SE² = (MS_B + MS_S + MS_P − MS_BS − MS_BP − MS_SP + MS_E) / (BSn)

is unbiased for Var d̄. It is floored at the largest main-effect term MS/(BSn) (each is
unbiased for a part of the variance; the difference can dip below them by chance), and at
``100 / (BSn)`` pp when every difference is zero (no discordant pair: the gain is exactly 0 on
these problems but its SE is not 0). With one base model the B terms vanish and it is the
two-way formula over seeds and problems, (MS_S + MS_P − MS_SP)/(Sn): the variance across
problems of the seed-averaged difference, plus the variance across seeds of the per-seed gains,
minus the interaction that both count. With one seed as well it is the classical paired SE over
problems.

It treats the held-out problems as a sample from the task, the seeds as a sample of fine-tuning
runs and the base models as a sample of pretraining runs; with one base model per size the
variation between independently pretrained bases is *not* included.
"""

from __future__ import annotations

import numpy as np

__all__ = ["paired_gain"]


def _mean_square(effect: np.ndarray, weight: int, df: int) -> float:
    """Sum of squares of an effect (every cell counted ``weight`` times) over its degrees of
    freedom; 0 when it has none (a factor with one level)."""
    return float(weight * (effect**2).sum() / df) if df > 0 else 0.0


def paired_gain(a, b) -> dict:
    """Gain mean(a − b) and its SE in percentage points for 0/1 (or per-problem share) arrays
    of shape (B, S, n), or (S, n) for one base model.

    Returns ``gain``, ``se``, its components ``se_bases``, ``se_seeds`` and ``se_problems``
    (sqrt(MS/(BSn)) of each main effect: the spread of per-base gains, of per-seed gains, and
    the paired SE across problems of averaged differences), ``n_bases``, ``n_seeds``,
    ``n_problems`` and the ``per_run`` gains (B × S).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    d = a - b
    d = d.reshape((1,) * (3 - d.ndim) + d.shape)
    nb, ns, n = d.shape
    m = d.mean()
    m_b, m_s, m_i = d.mean((1, 2)), d.mean((0, 2)), d.mean((0, 1))
    m_bs, m_bi, m_si = d.mean(2), d.mean(1), d.mean(0)
    ms_b = _mean_square(m_b - m, ns * n, nb - 1)
    ms_s = _mean_square(m_s - m, nb * n, ns - 1)
    ms_p = _mean_square(m_i - m, nb * ns, n - 1)
    ms_bs = _mean_square(m_bs - m_b[:, None] - m_s[None] + m, n, (nb - 1) * (ns - 1))
    ms_bp = _mean_square(m_bi - m_b[:, None] - m_i[None] + m, ns, (nb - 1) * (n - 1))
    ms_sp = _mean_square(m_si - m_s[:, None] - m_i[None] + m, nb, (ns - 1) * (n - 1))
    resid = (d - m_bs[:, :, None] - m_bi[:, None, :] - m_si[None] + m_b[:, None, None]
             + m_s[None, :, None] + m_i[None, None, :] - m)
    ms_e = _mean_square(resid, 1, (nb - 1) * (ns - 1) * (n - 1))
    cells = nb * ns * n
    var = (ms_b + ms_s + ms_p - ms_bs - ms_bp - ms_sp + ms_e) / cells
    var = max(var, ms_b / cells, ms_s / cells, ms_p / cells)
    se = float(np.sqrt(var))
    if se < 1.0 / cells and not np.any(d != 0):
        se = 1.0 / cells
    return {"gain": 100.0 * float(m), "se": 100.0 * se,
            "se_bases": 100.0 * float(np.sqrt(ms_b / cells)),
            "se_seeds": 100.0 * float(np.sqrt(ms_s / cells)),
            "se_problems": 100.0 * float(np.sqrt(ms_p / cells)),
            "n_bases": nb, "n_seeds": ns, "n_problems": n,
            "per_run": (100.0 * m_bs).tolist()}
