"""The default forecast: a damped log-linear trend in the range-transformed space, with a
structure error that grows with the extrapolation distance (empirical Bayes, pooled prior).

1. z = ``to_z(y, lo, hi)`` (``scalefit.core.bounds``: logit of the position in the possible
   range, log for a loss), se_z = se · |dz/dy| (delta method).
2. b = the weighted least-squares slope of z on ln N (weights 1/se_z²).
3. Point: ẑ(d) = z_last + φ · b · (1 − e^(−λd))/λ, d = ln(N / N_max): the trend from the last
   measured value, its slope shrunk by φ and damped at long distances as in Holt's damped trend
   (Gardner & McKenzie 1985; damped trends are among the M-competitions' strongest simple
   methods). φ = 0 is persistence; φ = ½, λ = 0 the average in z of persistence and the trend.
4. Predictive z ~ ẑ + sqrt(se_z,last² + τ² d²) · t_ν. τ² is the posterior mode of a
   scaled-inverse-χ²(ν0, τ0²) prior updated by the curve's own leave-future-out errors of steps
   1-3 (e ~ N(0, se_z² + τ² d²), each origin counted once since nested origins are correlated);
   ν = ν0 + the number of origins. τ is in z units, so the prior (τ0, ν0) is one per transform
   (``PRIORS``: logit for bounded values, log for a loss); an unbounded quantity (identity)
   uses the logit prior times 50, dy/dz of a gain's logit at 0.
5. The point (the predictive median) and every quantile are mapped back with ``from_z``, so no
   point or interval bound can leave the possible range. A gain uses [−100, 100] here; where
   the table narrows it by the baseline's accuracy (``GainTable.value_range``), the result is
   censored to that range (a logit on it would stretch small gains near its lower end).

Pooled constants (``PHI``, ``LAM``, ``PRIORS``) were fitted by
``benchmarks/fit_damped_constants.py`` (grid search; φ, λ minimise Σ_corpus log median |error|,
then each transform's τ0, ν0 minimise Σ log mean 95% interval score over the corpora forecast
in that transform) on the ObsScaling accuracies
(MMLU, ARC-C, HellaSwag; fit ≤ 8B), the 92 learning curves of Alabdulmohsin et al. (2022), the
chain-of-thought gains of Wei et al. (2022) and an auxiliary pool (the other ObsScaling
benchmarks and the BIG-bench emergent tasks, never scored), all read from
``../shared/data/external``. Every corpus's published score uses the constants fitted without it
(leave-one-corpus-out; docs/calibration.md): φ was 0.6 in every fold. The values here are the
row "all" of benchmarks/damped_constants.csv.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from scalefit.core.bounds import GAIN_RANGE, dz_dy, to_z, transform_name
from scalefit.methods.base import Method, TransformedPredictive, register
from scalefit.methods.naive import last_value, lfo_splits, wls_line

PHI = 0.6     # slope shrinkage: the forecast slope is φ times the WLS slope in z
LAM = 0.25    # damping per unit ln N of the slope (0: undamped)
# (τ0, ν0) per transform: the prior structure error per unit ln N in z units, its prior dof
PRIORS = (("logit", 0.152, 20.0), ("log", 0.0119, np.inf))
IDENTITY_SCALE = 50.0  # dy/dz of the logit of [−100, 100] at 0: the logit prior in pp


def prior_for(kind: str, priors=PRIORS) -> tuple[float, float]:
    """(τ0, ν0) of the transform ``kind`` ("logit", "log" or "identity")."""
    table = {k: (t, n) for k, t, n in priors}
    if kind == "identity":
        tau0, nu0 = table["logit"]
        return tau0 * IDENTITY_SCALE, nu0
    return table[kind]


def damped_distance(d, lam: float) -> np.ndarray:
    """(1 − e^(−λd))/λ: the summed geometrically damped slope; d itself at λ = 0."""
    d = np.asarray(d, float)
    return d if lam <= 0 else -np.expm1(-lam * d) / lam


def trend_point(x, z, sz, xf, phi: float = PHI, lam: float = LAM) -> np.ndarray:
    """Step 3 of the module docstring: ẑ at sizes ``xf`` from (x, z ± sz)."""
    z_last, _ = last_value(x, z, sz)
    _, b = wls_line(np.log(x), z, sz)
    return z_last + phi * b * damped_distance(np.log(np.asarray(xf) / x.max()), lam)


def structure_scale(x, z, sz, phi: float, lam: float, tau0: float,
                    nu0: float) -> tuple[float, float]:
    """Step 4: the posterior-mode τ² and the predictive degrees of freedom ν."""
    if not np.isfinite(nu0):
        return tau0**2, np.inf
    e, d, v0, w = [], [], [], []
    for train, future, top in lfo_splits(x, min_train=2):
        err = z[future] - trend_point(x[train], z[train], sz[train], x[future], phi, lam)
        e.append(err)
        d.append(np.log(x[future] / top))
        v0.append(sz[future] ** 2)
        w.append(np.full(len(err), 1.0 / len(err)))
    if not e:
        return tau0**2, nu0
    n_origins = len(e)
    e, d, v0, w = (np.concatenate(v) for v in (e, d, v0, w))

    def neg_log_posterior(log_t2):
        t2 = np.exp(log_t2)
        v = v0 + t2 * d**2
        return (0.5 * np.sum(w * (np.log(v) + e**2 / v))
                + (nu0 / 2 + 1) * log_t2 + nu0 * tau0**2 / (2 * t2))

    c = np.log(tau0**2)
    r = optimize.minimize_scalar(neg_log_posterior, bounds=(c - 12, c + 12), method="bounded",
                                 options={"xatol": 1e-3})
    return float(np.exp(r.x)), nu0 + n_origins


def damped_forecast(x, y, se, xf, bounds, phi: float = PHI, lam: float = LAM, priors=PRIORS):
    """(z location, z scale, df, τ) at sizes ``xf`` for values y ± se at sizes x in ``bounds``."""
    tau0, nu0 = prior_for(transform_name(bounds), priors)
    order = np.argsort(x, kind="stable")
    x, y, se = (np.asarray(v, float)[order] for v in (x, y, se))
    z, sz = to_z(y, *bounds), se * dz_dy(y, *bounds)
    xf = np.asarray(xf, float)
    if np.ptp(np.log(x)) == 0:  # one distinct size: no slope, persistence
        loc = np.full(len(xf), last_value(x, z, sz)[0])
    else:
        loc = trend_point(x, z, sz, xf, phi, lam)
    tau2, df = structure_scale(x, z, sz, phi, lam, tau0, nu0)
    _, sz_last = last_value(x, z, sz)
    d = np.log(np.maximum(xf / x.max(), 1.0))
    return loc, np.sqrt(sz_last**2 + tau2 * d**2), np.full(len(xf), df), float(np.sqrt(tau2))


def model_range(table) -> tuple[float, float]:
    """The range the forecast is made in: the table's explicit ``bounds``, else a gain's."""
    return tuple(table.bounds) if table.bounds is not None else GAIN_RANGE


def censored(table, bounds) -> str:
    """", censored to [lo, hi]" where the table's range is narrower than the transform's."""
    lo, hi = table.value_range
    return "" if (lo, hi) == tuple(bounds) else f", censored to [{lo:.4g}, {hi:.4g}]"


def predict(table, sizes, phi: float = PHI, lam: float = LAM,
            priors=PRIORS) -> TransformedPredictive:
    """``damped_trend`` on ``table`` at ``sizes`` (other constants for the backtests).

    The transform uses the quantity's nominal range (``table.bounds``; [−100, 100] for a gain):
    a gain's tighter range given the baseline's accuracy (``table.value_range``) only censors
    the result, since its logit would stretch the small gains near −a into large z."""
    bounds = model_range(table)
    loc, scale, df, tau = damped_forecast(table.size, table.gain, table.se, sizes, bounds,
                                          phi, lam, priors)
    tau0, nu0 = prior_for(transform_name(bounds), priors)
    return TransformedPredictive(sizes, loc, scale, df, bounds, "damped_trend",
                                 [f"forecast in z = {transform_name(bounds)} of the value in "
                                  f"[{bounds[0]:g}, {bounds[1]:g}]{censored(table, bounds)}; "
                                  f"slope ×{phi:g}, damped "
                                  f"λ = {lam:g}; structure scale τ = {tau:.3g} per unit ln-size "
                                  f"(prior τ0 = {tau0:g}, ν0 = {nu0:g})"])


@dataclass(frozen=True)
class DampedTrend:
    """``damped_trend`` with other constants, as a picklable method for the backtests (e.g. the
    leave-one-corpus-out constants of ``benchmarks/damped_constants.csv``)."""

    phi: float = PHI
    lam: float = LAM
    priors: tuple = PRIORS
    name: str = "damped_trend"

    @property
    def __name__(self) -> str:
        return self.name

    def __call__(self, table, sizes) -> TransformedPredictive:
        sizes = np.atleast_1d(np.asarray(sizes, float))
        pred = predict(table, sizes, self.phi, self.lam, self.priors)
        return pred.within(table.value_range)


register(Method("damped_trend", predict, "the default: damped log-linear trend from the last "
                "value in logit/log space, pooled distance-growing structure error"))
