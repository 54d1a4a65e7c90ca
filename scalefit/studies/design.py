"""Which model size to measure next (the scaling paper, section 2.4, eq. 14, Figure 6).

``design(table, candidates, method=...)`` asks what one more measurement at each candidate would
teach the forecast ``method`` about a target size. For the default forecast (and any method but
the paper's recipe) that is ``design_forecast``: the expected reduction of its 95% interval
width at the target, simulated from the forecast itself, also per unit cost. For the scaling
paper's recipe (``method="paper"``) it is ``design_laws``, with two criteria per candidate N_c:

``info_value`` — the paper's eq. 14, the weighted disagreement of the laws at the candidate,
    Info(N_c) = Σ_m w_m (Δ̂_m(N_c) − Δ̂_avg(N_c))², i.e. the between-model variance of eq. 9 there.
    For laws that diverge with size it grows with N_c, so its argmax is simply the largest
    candidate (the paper's 140 B was the top of its own list); it ignores how precisely the new
    point would be measured and what it would teach about the size one cares about.

``reduction`` (the default) — the expected reduction of the model-averaged predictive variance
    (eq. 9, within + between) at a ``target`` size if one more point were measured at N_c with
    standard error ``new_se``. Computed by simulation from the fitted model mixture (a
    preposterior analysis): for s = 1..S, draw a law m with probability w_m, parameters θ from its
    uncertainty (``draws="bootstrap"``: the law's refit to a parametric resample of the table,
    default; ``"covariance"``: N(θ̂, Σ̂) clipped to the law's bounds), and a noisy observation
    y_s = f_m(N_c; θ) + new_se · ε_s; refit every law to the table plus (N_c, y_s) and recompute
    the weights and eq. 9's variance at the target. Then

        reduction(N_c) = Var_now(target) − mean_s Var_s(target | N_c),

    with a Monte Carlo standard error. The same draws (law, θ, ε) are used for every candidate
    (common random numbers), so differences between candidates are far more precise than each
    value. ``reduction_per_cost`` divides by the cost of the experiment (default ∝ N_c).

For a single law that is linear in its parameters (the logarithmic law) the refitted variance
does not depend on the observation and equals g_T (XᵀWX + x_c x_cᵀ / σ²)⁻¹ g_Tᵀ exactly;
tests/test_design.py checks the simulation against that closed form.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.core.average import average_batch, fit_laws, size_key
from scalefit.core.fit import fit_law_batch
from scalefit.core.laws import get_law
from scalefit.data import GainTable
from scalefit.errors import ScalefitError
from scalefit.executor import replicate_rng
from scalefit.methods import DEFAULT_METHOD
from scalefit.progress import progress

DESIGN_RULES = ("reduction", "reduction_per_cost", "info_value")
DRAWS = ("bootstrap", "covariance")


class CandidateRanking:
    """What both design results share: candidates ranked by a rule's scores per candidate (the
    attribute of that name: ``reduction``, ``reduction_per_cost``, ...)."""

    candidates: np.ndarray
    costs: np.ndarray
    criterion: str

    @property
    def reduction_per_cost(self) -> np.ndarray:
        return self.reduction / self.costs

    def scores(self, criterion: str | None = None) -> np.ndarray:
        return np.asarray(getattr(self, criterion or self.criterion), float)

    def ranking(self, criterion: str | None = None) -> np.ndarray:
        """Candidate sizes, best first, by ``criterion`` (default the result's)."""
        return self.candidates[np.argsort(-self.scores(criterion), kind="stable")]

    @property
    def best(self) -> float:
        return float(self.ranking()[0])


@dataclass
class DesignResult(CandidateRanking):
    """Both criteria at every candidate size, and what Figure 6 needs to draw them.

    Arrays over candidates (c,): ``candidates`` (table unit), ``costs``, ``info_value`` (eq. 14,
    pp²), ``expected_var`` = mean over simulations of the eq. 9 variance at ``target`` after the
    new point, ``expected_var_se`` its Monte Carlo SE, ``expected_within_var``,
    ``expected_between_var``, ``failed`` (simulations with no usable refit). ``law_mean`` (L, c)
    each law's prediction at the candidates and ``weights`` (L,) the current weights of ``laws``.
    ``current_*`` describe eq. 9 at the target now. ``sim_var`` (c, S) the variance after each
    simulated point and ``sim_law`` (S,) the index of the law each simulation drew (so the
    reduction can be split by which law is true).
    """

    candidates: np.ndarray
    costs: np.ndarray
    cost_label: str
    target: float
    new_se: float
    laws: tuple[str, ...]
    weights: np.ndarray
    law_mean: np.ndarray
    info_value: np.ndarray
    current_mean: float
    current_var: float
    current_within_var: float
    current_between_var: float
    expected_var: np.ndarray
    expected_var_se: np.ndarray
    expected_within_var: np.ndarray
    expected_between_var: np.ndarray
    sim_var: np.ndarray
    sim_law: np.ndarray
    failed: np.ndarray
    n_sims: int
    seed: int | None
    draws: str
    criterion: str
    weights_criterion: str = "aic"
    size_unit: str = "B"
    seconds: float = np.nan
    notes: list[str] = field(default_factory=list)

    @property
    def reduction(self) -> np.ndarray:
        """Expected reduction of the eq. 9 variance at the target (pp²)."""
        return self.current_var - self.expected_var

    @property
    def reduction_fraction(self) -> np.ndarray:
        return self.reduction / self.current_var

    @property
    def expected_sd(self) -> np.ndarray:
        return np.sqrt(self.expected_var)

    @property
    def info_normalized(self) -> np.ndarray:
        """Eq. 14 divided by its largest value (Figure 6's bar heights)."""
        return self.info_value / np.max(self.info_value)

    def to_frame(self) -> pd.DataFrame:
        """One row per candidate: both criteria, their ranks, cost and the expected SD after."""
        frame = pd.DataFrame({
            "size": self.candidates, "cost": self.costs, "info_value": self.info_value,
            "info_normalized": self.info_normalized, "expected_sd": self.expected_sd,
            "reduction": self.reduction, "reduction_se": self.expected_var_se,
            "reduction_fraction": self.reduction_fraction,
            "reduction_per_cost": self.reduction_per_cost,
            "expected_within_var": self.expected_within_var,
            "expected_between_var": self.expected_between_var, "failed": self.failed})
        for crit in DESIGN_RULES:
            frame[f"rank_{crit}"] = pd.Series(-self.scores(crit)).rank(method="min").astype(int)
        return frame

    def to_dict(self) -> dict:
        frame = self.to_frame()
        return {
            "target": self.target, "new_se": self.new_se, "size_unit": self.size_unit,
            "criterion": self.criterion, "weights_criterion": self.weights_criterion,
            "draws": self.draws, "n_sims": self.n_sims, "seed": self.seed,
            "cost": self.cost_label, "seconds": self.seconds, "notes": list(self.notes),
            "current": {"mean": self.current_mean, "sd": float(np.sqrt(self.current_var)),
                        "var": self.current_var, "within_var": self.current_within_var,
                        "between_var": self.current_between_var},
            "weights": dict(zip(self.laws, map(float, self.weights))),
            "ranking": {crit: [float(v) for v in self.ranking(crit)] for crit in DESIGN_RULES},
            "candidates": {size_key(r["size"]): {k: (int(v) if k.startswith("rank_") or
                                                     k == "failed" else float(v))
                                                 for k, v in r.items() if k != "size"}
                           | {"law_mean": {n: float(self.law_mean[i, j])
                                           for i, n in enumerate(self.laws)}}
                           for j, r in enumerate(frame.to_dict("records"))},
        }


def _design_inputs(table: GainTable, candidates, costs, new_se, n_sims: int):
    """Checked candidates, costs (default ∝ size) with their label, and the new point's SE
    (default the table's largest)."""
    cand = np.atleast_1d(np.asarray(candidates, float))
    if cand.size == 0 or np.any(~np.isfinite(cand)) or np.any(cand <= 0):
        raise ScalefitError("candidates must be positive sizes")
    if costs is None:
        costs_arr, cost_label = cand.copy(), f"∝ size ({table.size_unit})"
    else:
        costs_arr = np.atleast_1d(np.asarray(costs, float))
        if costs_arr.shape != cand.shape or np.any(costs_arr <= 0):
            raise ScalefitError(f"give one positive cost per candidate ({len(cand)}), got "
                                f"{len(costs_arr)}")
        cost_label = "given"
    new_se = float(np.max(table.se)) if new_se is None else float(new_se)
    if not new_se > 0:
        raise ScalefitError(f"new_se must be > 0, got {new_se}")
    if n_sims < 2:
        raise ScalefitError(f"n_sims must be >= 2, got {n_sims}")
    return cand, costs_arr, cost_label, new_se


def _parameter_draws(fit, table: GainTable, names, law_index, n_sims, draws, rng):
    """θ for each simulation from the drawn law's uncertainty: (S, k) per law (rows used where
    ``law_index`` picks that law)."""
    out = {}
    if draws == "bootstrap":
        eps = rng.standard_normal((n_sims, len(table)))
        Yb = table.value + eps * table.se
        for i, name in enumerate(names):
            f = fit.fits[name]
            rows = law_index == i
            theta = np.tile(f.params, (n_sims, 1))
            if rows.any() and f.converged:
                b = fit_law_batch(name, table.size, Yb[rows], table.se, f.params)
                good = b.converged
                theta[np.flatnonzero(rows)[good]] = b.theta[good]
            out[name] = theta
    else:
        for name in names:
            f = fit.fits[name]
            law = get_law(name)
            lo, hi = law.bounds(table.size, table.value)
            z = rng.standard_normal((n_sims, law.k))
            try:
                chol = np.linalg.cholesky(f.cov + 1e-12 * np.eye(law.k) * np.max(np.abs(
                    np.diag(f.cov))))
            except np.linalg.LinAlgError:
                w, v = np.linalg.eigh(f.cov)
                chol = v * np.sqrt(np.clip(w, 0, None))
            out[name] = np.clip(f.params + z @ chol.T, lo, hi)
    return out


def design_laws(table: GainTable, candidates, *, target: float = 70.0,
                new_se: float | None = None, costs=None, n_sims: int = 400, seed: int | None = 0,
                draws: str = "bootstrap", criterion: str = "reduction",
                weights_criterion: str = "aic", laws=None, quiet: bool = True) -> DesignResult:
    """Rank candidate sizes for the next measurement by the laws' model average (module
    docstring; the scaling paper's recipe).

    ``new_se`` defaults to the largest SE in the table; ``costs`` (one per candidate) to the
    candidate sizes (cost ∝ size). ``laws`` restricts the mixture (default every law);
    ``weights_criterion`` is the information criterion of the weights (eq. 7).
    """
    t0 = time.perf_counter()
    if criterion not in DESIGN_RULES:
        raise ScalefitError(f"unknown criterion {criterion!r}; choose from {', '.join(DESIGN_RULES)}")
    if draws not in DRAWS:
        raise ScalefitError(f"unknown draws {draws!r}; choose from {', '.join(DRAWS)}")
    cand, costs_arr, cost_label, new_se = _design_inputs(table, candidates, costs, new_se, n_sims)

    fit = fit_laws(table, criterion=weights_criterion, laws=laws)
    names = tuple(fit.fits)
    w = np.array([fit.weights[n] for n in names])
    now = fit.predict([target])
    pred_c = fit.predict(cand)

    rng = replicate_rng(seed, 0)
    law_index = rng.choice(len(names), size=n_sims, p=w)
    thetas = _parameter_draws(fit, table, names, law_index, n_sims, draws, rng)
    eps = rng.standard_normal(n_sims)
    starts = {n: fit.fits[n].params for n in names if fit.fits[n].converged}

    c = len(cand)
    sim_var = np.full((c, n_sims), np.nan)
    within = np.full(c, np.nan)
    between = np.full(c, np.nan)
    failed = np.zeros(c, int)
    for j in progress(range(c), desc="design", quiet=quiet, unit="candidate"):
        y_new = np.empty(n_sims)
        for i, name in enumerate(names):
            rows = law_index == i
            if rows.any():
                with np.errstate(all="ignore"):
                    y_new[rows] = get_law(name).value(thetas[name][rows], cand[j:j + 1])[:, 0]
        y_new += new_se * eps
        x_aug = np.append(table.size, cand[j])
        se_aug = np.append(table.se, new_se)
        Y = np.column_stack([np.broadcast_to(table.value, (n_sims, len(table))), y_new])
        fits = {n: fit_law_batch(n, x_aug, Y, se_aug, starts.get(n)) for n in names}
        avg = average_batch(fits, [target], weights_criterion, within=True)
        var = avg.within_var[:, 0] + avg.between_var[:, 0]
        sim_var[j] = var
        failed[j] = int(np.sum(~np.isfinite(var)))
        with np.errstate(invalid="ignore"):
            within[j] = np.nanmean(avg.within_var[:, 0])
            between[j] = np.nanmean(avg.between_var[:, 0])
    with np.errstate(invalid="ignore"):
        expected = np.nanmean(sim_var, axis=1)
        n_ok = np.sum(np.isfinite(sim_var), axis=1)
        se = np.nanstd(sim_var, axis=1, ddof=1) / np.sqrt(n_ok)
    notes = [f"{n_sims} simulations per candidate from the {weights_criterion.upper()}-weighted "
             f"mixture ({draws} parameter draws; the same draws for every candidate)"]
    if failed.any():
        notes.append(f"{int(failed.sum())} simulated refits had no usable law; left out")
    return DesignResult(
        candidates=cand, costs=costs_arr, cost_label=cost_label, target=float(target),
        new_se=new_se, laws=names, weights=w, law_mean=pred_c.law_mean,
        info_value=pred_c.between_var, current_mean=float(now.mean[0]),
        current_var=float(now.within_var[0] + now.between_var[0]),
        current_within_var=float(now.within_var[0]),
        current_between_var=float(now.between_var[0]), expected_var=expected,
        expected_var_se=se, expected_within_var=within, expected_between_var=between,
        sim_var=sim_var, sim_law=law_index, failed=failed, n_sims=n_sims, seed=seed, draws=draws,
        criterion=criterion, weights_criterion=weights_criterion, size_unit=table.size_unit,
        seconds=time.perf_counter() - t0, notes=notes)


FORECAST_DESIGN_RULES = ("reduction", "reduction_per_cost")


@dataclass
class ForecastDesign(CandidateRanking):
    """Where one more measurement shrinks a forecast's interval at the target most: arrays over
    candidates (c,) of the expected 95% width after measuring there (``expected_width``, its
    Monte Carlo SE), and the simulated widths (c, S); ``current_*`` is the forecast at the target
    now; ``info_value`` is the scaling paper's eq. 14 at each candidate, for reference."""

    candidates: np.ndarray
    costs: np.ndarray
    cost_label: str
    target: float
    new_se: float
    method: str
    level: float
    current_median: float
    current_lo: float
    current_hi: float
    expected_width: np.ndarray
    expected_width_se: np.ndarray
    sim_width: np.ndarray
    info_value: np.ndarray
    n_sims: int
    seed: int | None
    criterion: str
    size_unit: str = "B"
    unit: str = "pp"
    seconds: float = np.nan
    notes: list[str] = field(default_factory=list)

    @property
    def current_width(self) -> float:
        return self.current_hi - self.current_lo

    @property
    def reduction(self) -> np.ndarray:
        """Expected reduction of the forecast's interval width at the target."""
        return self.current_width - self.expected_width

    @property
    def reduction_fraction(self) -> np.ndarray:
        return self.reduction / self.current_width

    def to_frame(self) -> pd.DataFrame:
        """One row per candidate: expected width after, the reductions and their ranks."""
        frame = pd.DataFrame({
            "size": self.candidates, "cost": self.costs, "expected_width": self.expected_width,
            "expected_width_se": self.expected_width_se, "reduction": self.reduction,
            "reduction_fraction": self.reduction_fraction,
            "reduction_per_cost": self.reduction_per_cost, "info_value": self.info_value})
        for crit in FORECAST_DESIGN_RULES:
            frame[f"rank_{crit}"] = pd.Series(-self.scores(crit)).rank(method="min").astype(int)
        return frame

    def to_dict(self) -> dict:
        return {"method": self.method, "target": self.target, "new_se": self.new_se,
                "level": self.level, "size_unit": self.size_unit, "criterion": self.criterion,
                "n_sims": self.n_sims, "seed": self.seed, "cost": self.cost_label,
                "seconds": self.seconds, "notes": list(self.notes),
                "current": {"median": self.current_median,
                            f"ci{100 * self.level:.4g}": [self.current_lo, self.current_hi],
                            "width": self.current_width},
                "ranking": {c: [float(v) for v in self.ranking(c)] for c in FORECAST_DESIGN_RULES},
                "candidates": {size_key(r["size"]): {k: float(v) for k, v in r.items()
                                                     if k != "size"}
                               for r in self.to_frame().to_dict("records")}}


def _with_point(table: GainTable, size: float, value: float, se: float) -> GainTable:
    """``table`` with one more row (its other columns copied from the largest size's row)."""
    last = int(np.argmax(table.size))
    rows = np.append(np.arange(len(table)), last)
    out = table.take(rows)
    out.size[-1], out.value[-1], out.se[-1] = size, value, se
    return out


def design_forecast(table: GainTable, candidates, *, target: float = 70.0,
                    method: str = DEFAULT_METHOD, new_se: float | None = None, costs=None,
                    n_sims: int = 200, seed: int | None = 0, level: float = 0.95,
                    criterion: str = "reduction", quiet: bool = True) -> ForecastDesign:
    """Rank candidate sizes by the expected reduction of ``method``'s ``level`` interval width
    at ``target`` if one more point were measured at the candidate with SE ``new_se``.

    A preposterior analysis from the forecast itself: for s = 1..S draw the value at candidate c
    from the forecast there (its quantile at u_s ~ U(0, 1)), add measurement noise new_se · ε_s,
    append the point to the table, forecast the target again and take its interval width. The
    same (u_s, ε_s) serve every candidate (common random numbers), so differences between
    candidates are far more precise than each value. ``reduction_per_cost`` divides by the cost
    (default ∝ size)."""
    from scalefit.methods import get_method

    t0 = time.perf_counter()
    if criterion not in FORECAST_DESIGN_RULES:
        raise ScalefitError(f"unknown criterion {criterion!r}; choose from "
                            f"{', '.join(FORECAST_DESIGN_RULES)}")
    forecast = get_method(method)
    cand, costs_arr, cost_label, new_se = _design_inputs(table, candidates, costs, new_se, n_sims)
    now = forecast(table, [target])
    lo_now, hi_now = (float(v[0]) for v in now.interval(level))
    rng = replicate_rng(seed, 0)
    u = (np.arange(n_sims) + rng.uniform(size=n_sims)) / n_sims  # stratified: steadier means
    rng.shuffle(u)
    eps = rng.standard_normal(n_sims)
    lo_range, hi_range = table.value_range
    widths = np.full((len(cand), n_sims), np.nan)
    for j in progress(range(len(cand)), desc="design", quiet=quiet, unit="candidate"):
        values = np.clip(forecast(table, [cand[j]]).quantile(u)[:, 0] + new_se * eps,
                         lo_range, hi_range)
        for i, value in enumerate(values):
            after = forecast(_with_point(table, cand[j], value, new_se), [target])
            lo, hi = after.interval(level)
            widths[j, i] = hi[0] - lo[0]
    with np.errstate(invalid="ignore"):
        expected = np.nanmean(widths, axis=1)
        se = np.nanstd(widths, axis=1, ddof=1) / np.sqrt(np.sum(np.isfinite(widths), axis=1))
    info = fit_laws(table).predict(cand).between_var
    return ForecastDesign(
        candidates=cand, costs=costs_arr, cost_label=cost_label, target=float(target),
        new_se=new_se, method=forecast.name, level=level, current_median=float(now.median[0]),
        current_lo=lo_now, current_hi=hi_now, expected_width=expected, expected_width_se=se,
        sim_width=widths, info_value=info, n_sims=n_sims, seed=seed, criterion=criterion,
        size_unit=table.size_unit, seconds=time.perf_counter() - t0,
        notes=[f"{n_sims} simulated measurements per candidate drawn from the forecast itself "
               "(the same draws for every candidate)"])


def design(table: GainTable, candidates, *, method: str = DEFAULT_METHOD, **kwargs):
    """Rank candidate sizes for the next measurement by what it would teach ``method`` about
    the target: the scaling paper's recipe (``method="paper"``) by the expected reduction of the
    laws' eq. 9 variance (``design_laws``, a ``DesignResult``), any other forecast by the
    expected reduction of its interval width (``design_forecast``, a ``ForecastDesign``)."""
    if method in ("paper", "average"):
        return design_laws(table, candidates, **kwargs)
    return design_forecast(table, candidates, method=method, **kwargs)
