"""The default forecast: a damped log-linear trend in the range-transformed space whose strength
and structure error depend on what the table holds (``GainTable.kind``) and on the table's own
leave-future-out evidence (empirical Bayes, constants fitted across corpora).

1. z = ``to_z(y, lo, hi)`` (``scalefit.core.bounds``: logit of the position in the possible
   range, log for a loss), se_z = se · |dz/dy| (delta method).
2. b = the weighted least-squares slope of z on ln N (weights 1/se_z²).
3. The table's own evidence: at every leave-future-out split (``scalefit.methods.lfo.lfo_splits``,
   at least two training sizes) the step Δ = z_future − z_last of the training part and the step
   its trend would have taken, u = b_train · D(d), D(d) = (1 − e^(−λd))/λ, d = ln(N / N_last).
4. Structure error: τ² is the posterior mode of a scaled-inverse-χ²(ν0, τ0²) prior given the
   errors e = Δ − φ0 u, e ~ N(0, se_z,future² + τ² d²), each origin counted once (nested
   origins are correlated).
5. Slope multiplier: φ ~ N(φ0, σφ²) a priori; given Δ ~ N(φ u, se_z,future² + τ² d²) its
   posterior is normal with precision 1/σφ² + Σ w u²/v and mean (φ0/σφ² + Σ w u Δ/v)/precision
   (σφ = 0: φ = φ0, the prior alone). A table whose own past steps followed its trend keeps more
   of it; one whose past steps did not keeps less.
6. Point: ẑ(d) = z_last + φ̂ · b · D(d): the trend from the last measured value, its slope
   shrunk by φ̂ and damped at long distances as in Holt's damped trend (Gardner & McKenzie
   1985; damped trends are among the M-competitions' strongest simple methods). φ̂ = 0 is
   persistence.
7. Predictive z ~ ẑ + sqrt(se_z,last² + τ² d² + Var(φ̂) (b D(d))²) · t_ν, ν = ν0 + the number
   of origins.
   Inside the measured sizes (a target below the largest size) the forecast interpolates
   instead: z linearly in ln N between the measured sizes, scale² = the interpolated se_z² + τ²
   times the squared distance to the nearest measured size (``interpolated``).
8. The point (the predictive median) and every quantile are mapped back with ``from_z``, so no
   point or interval bound can leave the possible range. A gain uses [−100, 100] here; where the
   table narrows it by the baseline's accuracy (``GainTable.value_range``), the result is
   censored to that range (a logit on it would stretch small gains near its lower end).

The prior (φ0, σφ, λ, τ0, ν0) is one per kind (``KIND_PRIORS``): base-model accuracies and
losses keep much of their trend past the sizes measured; gains of a method over its baseline
mostly stay where they were at the largest measured size. τ0 is in z units of the kind's nominal
range ([−100, 100] for a gain, [0, 100] for an accuracy, log for a loss); a table with another
range (``--range``) rescales it by dz/dy at the centre of each range. The constants are the row
"all" of ``benchmarks/damped_constants.csv``, written by ``benchmarks/fit_damped_constants.py``
(grid search on the real curves of ``../shared/data/external``, each corpus weighted equally
within its kind); the calibration benchmark scores every corpus with the constants fitted
without it (leave-one-corpus-out; docs/calibration.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import optimize

from scalefit.core.bounds import ACCURACY_RANGE, GAIN_RANGE, LOSS_RANGE, dz_dy, to_z, transform_name
from scalefit.methods.base import Method, TransformedPredictive, register
from scalefit.methods.lfo import lfo_splits
from scalefit.methods.naive import last_value, wls_line

MIN_TRAIN = 2  # a trend needs two sizes: the leave-future-out splits start there


@dataclass(frozen=True)
class TrendPrior:
    """The pooled constants of one kind of quantity (module docstring, steps 3-7)."""

    phi: float      # prior mean of the slope multiplier φ0
    phi_sd: float   # its prior SD σφ (0: φ = φ0 whatever the table says)
    lam: float      # damping per unit ln N of the slope (0: undamped)
    tau0: float     # prior structure error per unit ln N, z units of the kind's nominal range
    nu0: float      # prior degrees of freedom of τ² (inf: τ = τ0)


# Row "all" of benchmarks/damped_constants.csv (tests/test_skill.py checks they agree).
KIND_PRIORS = {
    "gain": TrendPrior(phi=0.1, phi_sd=0.5, lam=1.0, tau0=0.1082, nu0=5.0),
    "accuracy": TrendPrior(phi=0.6, phi_sd=0.2, lam=0.5, tau0=0.152, nu0=5.0),
    "loss": TrendPrior(phi=0.6, phi_sd=0.0, lam=0.25, tau0=0.01, nu0=np.inf),
}
NOMINAL_RANGES = {"gain": GAIN_RANGE, "accuracy": ACCURACY_RANGE, "loss": LOSS_RANGE}


def damped_distance(d, lam: float) -> np.ndarray:
    """D(d) = (1 − e^(−λd))/λ: the summed geometrically damped slope; d itself at λ = 0."""
    d = np.asarray(d, float)
    return d if lam <= 0 else -np.expm1(-lam * d) / lam


def prior_scale(kind: str, bounds) -> float:
    """dz/dy at the centre of ``bounds`` over dz/dy at the centre of the kind's nominal range:
    what turns τ0 into z units of ``bounds`` (1 when they are the same or not comparable)."""
    nominal = NOMINAL_RANGES[kind]
    name = transform_name(bounds)
    if transform_name(nominal) != "logit" or name == "log":
        return 1.0
    width = nominal[1] - nominal[0]
    return width / (bounds[1] - bounds[0]) if name == "logit" else width / 4.0


@dataclass
class Evidence:
    """Step 3: the steps Δ and trend steps u at the leave-future-out splits, with their
    distances d, measurement variances v0 and weights w (each origin counted once)."""

    step: np.ndarray
    trend_step: np.ndarray
    distance: np.ndarray
    v0: np.ndarray
    w: np.ndarray
    origins: int


def lfo_evidence(x, z, sz, lam: float) -> Evidence | None:
    """Step 3 on sorted (x, z ± sz); None without a split."""
    parts = []
    for train, future, top in lfo_splits(x, MIN_TRAIN):
        z_last, _ = last_value(x[train], z[train], sz[train])
        _, b = wls_line(np.log(x[train]), z[train], sz[train])
        d = np.log(x[future] / top)
        parts.append((z[future] - z_last, b * damped_distance(d, lam), d, sz[future] ** 2,
                      np.full(future.sum(), 1.0 / future.sum())))
    if not parts:
        return None
    return Evidence(*(np.concatenate(v) for v in zip(*parts)), origins=len(parts))


def tau2_posterior_mode(errors, ev: Evidence, tau0: float, nu0: float) -> float:
    """Step 4: the posterior-mode τ² given the errors at the splits."""
    if not np.isfinite(nu0):
        return tau0**2

    def neg_log_posterior(log_t2):
        t2 = np.exp(log_t2)
        v = ev.v0 + t2 * ev.distance**2
        return (0.5 * np.sum(ev.w * (np.log(v) + errors**2 / v))
                + (nu0 / 2 + 1) * log_t2 + nu0 * tau0**2 / (2 * t2))

    c = np.log(tau0**2)
    r = optimize.minimize_scalar(neg_log_posterior, bounds=(c - 12, c + 12), method="bounded",
                                 options={"xatol": 1e-3})
    return float(np.exp(r.x))


def phi_posterior(ev: Evidence, tau2: float, phi0: float, phi_sd: float) -> tuple[float, float]:
    """Step 5: posterior mean and variance of the slope multiplier."""
    if phi_sd <= 0:
        return phi0, 0.0
    v = ev.v0 + tau2 * ev.distance**2
    precision = 1.0 / phi_sd**2 + np.sum(ev.w * ev.trend_step**2 / v)
    mean = (phi0 / phi_sd**2 + np.sum(ev.w * ev.trend_step * ev.step / v)) / precision
    return float(mean), float(1.0 / precision)


@dataclass
class DampedForecast:
    """Steps 1-7 at the forecast sizes: z location, z scale and df, and what set them."""

    z_location: np.ndarray
    z_scale: np.ndarray
    df: np.ndarray
    phi: float
    phi_var: float
    tau: float
    origins: int


def damped_forecast(x, y, se, xf, bounds, prior: TrendPrior, tau_scale: float = 1.0
                    ) -> DampedForecast:
    """Steps 1-7 for values y ± se at sizes x in ``bounds``, forecast at sizes ``xf``; the prior's
    τ0 is multiplied by ``tau_scale`` (``prior_scale``)."""
    order = np.argsort(x, kind="stable")
    x, y, se = (np.asarray(v, float)[order] for v in (x, y, se))
    z, sz = to_z(y, *bounds), se * dz_dy(y, *bounds)
    xf = np.asarray(xf, float)
    z_last, sz_last = last_value(x, z, sz)
    _, b = wls_line(np.log(x), z, sz)  # slope 0 with one distinct size: persistence
    d = np.log(np.maximum(xf / x.max(), 1.0))
    trend = b * damped_distance(d, prior.lam)
    tau0 = prior.tau0 * tau_scale
    phi, phi_var, tau2, df, origins = prior.phi, prior.phi_sd**2, tau0**2, prior.nu0, 0
    ev = lfo_evidence(x, z, sz, prior.lam)
    if ev is not None:
        tau2 = tau2_posterior_mode(ev.step - prior.phi * ev.trend_step, ev, tau0, prior.nu0)
        phi, phi_var = phi_posterior(ev, tau2, prior.phi, prior.phi_sd)
        if prior.phi_sd > 0:  # τ² again, given the updated slope multiplier
            tau2 = tau2_posterior_mode(ev.step - phi * ev.trend_step, ev, tau0, prior.nu0)
        df, origins = prior.nu0 + ev.origins, ev.origins
    loc = z_last + phi * trend
    scale = np.sqrt(sz_last**2 + tau2 * d**2 + phi_var * trend**2)
    inside = xf < x.max()
    if inside.any():
        loc[inside], scale[inside] = interpolated(x, z, sz, xf[inside], tau2)
    return DampedForecast(loc, scale, np.full(len(xf), df), phi, phi_var, float(np.sqrt(tau2)),
                          origins)


def interpolated(x, z, sz, xf, tau2: float) -> tuple[np.ndarray, np.ndarray]:
    """Step 7 inside the measured sizes: z interpolated linearly in ln N between the measured
    sizes (each size's inverse-variance mean), with the interpolated measurement variance plus
    τ² times the squared distance in ln N to the nearest measured size."""
    sizes = np.unique(x)
    means = np.array([last_value(x[x <= s], z[x <= s], sz[x <= s]) for s in sizes])
    lx, lf = np.log(sizes), np.log(xf)
    gap = np.min(np.abs(lf[:, None] - lx[None, :]), axis=1)
    return (np.interp(lf, lx, means[:, 0]),
            np.sqrt(np.interp(lf, lx, means[:, 1] ** 2) + tau2 * gap**2))


def model_range(table) -> tuple[float, float]:
    """The range the forecast is made in: the table's explicit ``bounds``, else its kind's."""
    return tuple(table.bounds) if table.bounds is not None else NOMINAL_RANGES[table.kind]


def censored(table, bounds) -> str:
    """", censored to [lo, hi]" where the table's range is narrower than the transform's."""
    lo, hi = table.value_range
    return "" if (lo, hi) == tuple(bounds) else f", censored to [{lo:.4g}, {hi:.4g}]"


def predict(table, sizes, priors=None, name: str = "damped_trend") -> TransformedPredictive:
    """The damped trend on ``table`` at ``sizes`` with the prior of the table's kind (``priors``:
    a ``{kind: TrendPrior}`` other than ``KIND_PRIORS``, for the backtests).

    The transform uses the quantity's nominal range (``table.bounds``; [−100, 100] for a gain):
    a gain's tighter range given the baseline's accuracy (``table.value_range``) only censors
    the result, since its logit would stretch the small gains near −a into large z."""
    prior = (priors or KIND_PRIORS)[table.kind]
    bounds = model_range(table)
    f = damped_forecast(table.size, table.value, table.se, sizes, bounds, prior,
                        prior_scale(table.kind, bounds))
    evidence = (f"φ = {f.phi:.2f} ± {np.sqrt(f.phi_var):.2f} after {f.origins} "
                f"leave-future-out origin(s) (prior {prior.phi:g} ± {prior.phi_sd:g})"
                if prior.phi_sd > 0 else f"φ = {prior.phi:g}")
    return TransformedPredictive(
        sizes, f.z_location, f.z_scale, f.df, bounds, name,
        [f"{table.kind}: trend in z = {transform_name(bounds)} of the value in "
         f"[{bounds[0]:g}, {bounds[1]:g}]{censored(table, bounds)}; slope × {evidence}, damped "
         f"λ = {prior.lam:g}; structure scale τ = {f.tau:.3g} per unit ln-size (prior τ0 = "
         f"{prior.tau0:g}, ν0 = {prior.nu0:g})"])


SUMMARY = ("damped log-linear trend from the last measured value in logit/log space, its "
           "strength and structure error learned per kind of quantity (gain, accuracy, loss) "
           "and updated by the table's own leave-future-out steps")


def damped_method(priors: dict | None = None, name: str = "damped_trend") -> Method:
    """The damped trend as a ``Method`` with other priors (picklable, for the backtests: e.g.
    the leave-one-corpus-out constants of ``benchmarks/damped_constants.csv``)."""
    return Method(name, partial(predict, priors=priors, name=name), SUMMARY,
                  title="damped trend")


register(damped_method())
