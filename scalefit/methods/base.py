"""The predictive-method protocol and its one registry.

A *method* maps a gain table and target sizes to a predictive distribution at those sizes: a
``PredictiveBase`` with ``sizes``, ``median``, ``mean``, ``quantile(q)``, ``cdf(y)``,
``interval(level) -> (lo, hi)`` and ``to_frame()`` (median and intervals per size), all derived
from its quantiles. Three predictive types cover every registered method:

``Predictive``              a location-scale Student-t per size (df = ∞ is the normal);
``TransformedPredictive``   a Student-t in the range-transformed space of ``scalefit.core.bounds``;
``EmpiricalPredictive``     draws (R, m), e.g. bootstrap replicates: mean and percentile intervals.

Every predictive a registered method returns lies in the table's possible range
(``GainTable.value_range``): ``Method.__call__`` censors it there (``within``), so no point or interval
bound leaves [lo, hi]; a distribution already inside it is unchanged.

Methods are ``Method`` objects registered by name in ``METHODS`` (``register``); one module per
method in ``scalefit/methods/`` registers it, and ``scalefit/methods/__init__.py`` imports each
module once. The CLI's choices (``scalefit fit --interval``, ``backtest --methods``,
``validate --methods``), the backtests, the calibration study and the synthetic validation all
read ``METHODS``, so a new method appears everywhere by itself. A method may also give a
vectorised ``batch`` implementation over many replicate tables (``ReplicateBatch``), which the
synthetic validation uses instead of calling it once per replicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.core.average import AveragedPrediction, average_batch, size_key
from scalefit.core.bounds import UNBOUNDED, from_z, to_z
from scalefit.core.fit import BatchFit, fit_law_batch
from scalefit.core.laws import PAPER_LAWS
from scalefit.data import GainTable
from scalefit.errors import ScalefitError


class PredictiveBase:
    """What every predictive derives from its ``quantile``: the median, central intervals and
    the tables (``to_frame``, ``to_dict``). A subclass gives ``sizes``, ``method``, ``notes``,
    ``quantile(q)``, ``cdf(values)``, ``mean`` and ``within(bounds)`` (the same predictive
    censored to ``bounds``)."""

    sizes: np.ndarray
    method: str
    notes: list[str]

    def quantile(self, q) -> np.ndarray:
        raise NotImplementedError

    @property
    def median(self) -> np.ndarray:
        return self.quantile(0.5)

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Central ``level`` interval: the (1 − level)/2 and (1 + level)/2 quantiles."""
        lo, hi = self.quantile([0.5 - level / 2.0, 0.5 + level / 2.0])
        return lo, hi

    def details(self) -> dict[str, np.ndarray]:
        """Per-size numbers a predictive type adds to its tables (e.g. a Student-t's scale)."""
        return {}

    def to_frame(self, levels=(0.68, 0.95)) -> pd.DataFrame:
        """One row per size: median, mean and the central intervals at ``levels``."""
        frame = pd.DataFrame({"size": self.sizes, "median": self.median, "mean": self.mean})
        for level in levels:
            lo, hi = self.interval(level)
            key = f"{100.0 * level:.4g}"
            frame[f"lo{key}"], frame[f"hi{key}"] = lo, hi
        for name, values in self.details().items():
            frame[name] = np.broadcast_to(values, self.sizes.shape)
        return frame

    def to_dict(self) -> dict:
        """``{"method", "notes", "predictions": {size: {median, mean, ci68, ci95, ...}}}``."""
        frame = self.to_frame()
        extra = [c for c in frame.columns if c not in ("size", "median", "mean", "lo68", "hi68",
                                                       "lo95", "hi95")]
        return {"method": self.method, "notes": list(self.notes),
                "predictions": {size_key(r["size"]): {
                    "median": float(r["median"]), "mean": float(r["mean"]),
                    "ci68": [float(r["lo68"]), float(r["hi68"])],
                    "ci95": [float(r["lo95"]), float(r["hi95"])],
                    **{c: float(r[c]) for c in extra}} for _, r in frame.iterrows()}}



@dataclass
class Predictive(PredictiveBase):
    """Student-t predictive per size: ``location + scale · t_df``; df = inf is the normal.
    ``bounds`` censors it: ``mean`` and every quantile are clipped there."""

    sizes: np.ndarray
    location: np.ndarray
    scale: np.ndarray
    df: np.ndarray
    method: str
    notes: list[str] = field(default_factory=list)
    bounds: tuple[float, float] = UNBOUNDED

    @property
    def mean(self) -> np.ndarray:
        return np.clip(np.asarray(self.location, float), *self.bounds)

    def within(self, bounds: tuple[float, float]) -> "Predictive":
        return replace(self, bounds=bounds)

    def quantile(self, q) -> np.ndarray:
        """The ``q`` quantile per size (q scalar, or (k,) for a (k, m) result)."""
        q = np.asarray(q, float)
        t = stats.t.ppf(q[..., None] if q.ndim else q, self.df)
        return np.clip(self.location + t * self.scale, *self.bounds)

    def cdf(self, values) -> np.ndarray:
        """P(value ≤ ``values``) per size: the probability integral transform of a truth."""
        return stats.t.cdf(np.asarray(values, float), self.df, self.location, self.scale)

    def logpdf(self, values) -> np.ndarray:
        return stats.t.logpdf(np.asarray(values, float), self.df, self.location, self.scale)

    def details(self) -> dict[str, np.ndarray]:
        return {"scale": self.scale, "df": self.df}


@dataclass
class TransformedPredictive(PredictiveBase):
    """A Student-t in the range-transformed space z = ``to_z(y, *bounds)``
    (``scalefit.core.bounds``): z ~ ``z_location + z_scale · t_df``, mapped back to y and censored
    to ``censor`` (a range inside ``bounds``, e.g. a gain's range given the baseline's accuracy).
    ``mean`` is the predictive median (the back-transformed location); every quantile lies in
    the bounds."""

    sizes: np.ndarray
    z_location: np.ndarray
    z_scale: np.ndarray
    df: np.ndarray
    bounds: tuple[float, float]
    method: str
    notes: list[str] = field(default_factory=list)
    censor: tuple[float, float] = UNBOUNDED

    @property
    def mean(self) -> np.ndarray:
        return np.clip(from_z(self.z_location, *self.bounds), *self.censor)

    def within(self, bounds: tuple[float, float]) -> "TransformedPredictive":
        return replace(self, censor=(max(bounds[0], self.bounds[0]),
                                     min(bounds[1], self.bounds[1])))

    def quantile(self, q) -> np.ndarray:
        q = np.asarray(q, float)
        t = stats.t.ppf(q[..., None] if q.ndim else q, self.df)
        return np.clip(from_z(self.z_location + t * self.z_scale, *self.bounds), *self.censor)

    def cdf(self, values) -> np.ndarray:
        z = to_z(values, *self.bounds)
        return stats.t.cdf(z, self.df, self.z_location, self.z_scale)


@dataclass
class EmpiricalPredictive(PredictiveBase):
    """A predictive given by draws (R, m), e.g. bootstrap replicates: mean of the draws and
    percentile intervals. ``failed`` counts draws that are not finite (left out)."""

    sizes: np.ndarray
    draws: np.ndarray
    method: str
    notes: list[str] = field(default_factory=list)
    bounds: tuple[float, float] = UNBOUNDED

    def within(self, bounds: tuple[float, float]) -> "EmpiricalPredictive":
        return replace(self, bounds=bounds)

    def _finite(self) -> np.ndarray:
        """The finite draws, censored to the bounds (NaN for the others)."""
        return np.where(np.isfinite(self.draws), np.clip(self.draws, *self.bounds), np.nan)

    @property
    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.nanmean(self._finite(), axis=0)

    @property
    def scale(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.nanstd(self._finite(), axis=0, ddof=1)

    @property
    def failed(self) -> int:
        return int(np.sum(~np.all(np.isfinite(self.draws), axis=1)))

    def quantile(self, q) -> np.ndarray:
        return np.nanquantile(self._finite(), q, axis=0)

    def cdf(self, values) -> np.ndarray:
        """The fraction of finite draws ≤ ``values`` per size (the empirical PIT)."""
        d = self._finite()
        with np.errstate(invalid="ignore"):
            return np.sum(d <= np.asarray(values, float), axis=0) / np.sum(np.isfinite(d), axis=0)

    def details(self) -> dict[str, np.ndarray]:
        return {"sd": self.scale}

    def to_dict(self) -> dict:
        return {**super().to_dict(), "draws": len(self.draws), "failed": self.failed}


@dataclass
class ReplicateBatch:
    """Many replicate tables at the same sizes (rows of ``Y``), for vectorised methods.

    ``fit(law)`` and ``average(criterion)`` refit once per batch and are shared by every method
    scored on it; ``rngs`` (one per replicate) feed methods that draw (the bootstrap).
    """

    sizes: np.ndarray
    Y: np.ndarray
    se: np.ndarray
    y_ref: np.ndarray
    eval_sizes: np.ndarray
    level: float
    rngs: list = field(default_factory=list)
    n_boot: int = 0
    _fits: dict = field(default_factory=dict, repr=False)
    _averages: dict = field(default_factory=dict, repr=False)

    def fit(self, law: str) -> BatchFit:
        if law not in self._fits:
            self._fits[law] = fit_law_batch(law, self.sizes, self.Y, self.se, y_ref=self.y_ref)
        return self._fits[law]

    def fits(self) -> dict[str, BatchFit]:
        return {law: self.fit(law) for law in PAPER_LAWS}

    def average(self, criterion: str = "aic") -> AveragedPrediction:
        if criterion not in self._averages:
            self._averages[criterion] = average_batch(self.fits(), self.eval_sizes, criterion,
                                                      within=True, fallback=True)
        return self._averages[criterion]

    def normal(self, mean: np.ndarray, sd: np.ndarray):
        """(mean, lo, hi) of normal intervals at ``level``."""
        z = float(stats.norm.ppf(0.5 + self.level / 2.0))
        return mean, mean - z * sd, mean + z * sd


Batched = Callable[[ReplicateBatch], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Method:
    """A registered predictive method: ``method(table, sizes) -> predictive``.

    ``summary`` is the one line that describes it wherever methods are listed or a forecast is
    printed; ``title`` the short heading its printouts and figures use (default: the name);
    ``batch``, when given, computes (mean, lo, hi), each (replicates, sizes), for a whole
    ``ReplicateBatch`` at once and must agree with calling the method on each replicate table.
    """

    name: str
    predict: Callable[[GainTable, np.ndarray], PredictiveBase]
    summary: str
    batch: Batched | None = None
    title: str = ""

    def __post_init__(self):
        if not self.title:
            object.__setattr__(self, "title", self.name)

    @property
    def __name__(self) -> str:
        return self.name

    def __call__(self, table: GainTable, sizes) -> PredictiveBase:
        """The predictive at ``sizes``, inside the table's possible range (``table.value_range``)."""
        pred = self.predict(table, np.atleast_1d(np.asarray(sizes, float)))
        return pred.within(table.value_range)


METHODS: dict[str, Method] = {}
ALIASES: dict[str, str] = {}
DEFAULT_METHOD = "damped_trend"  # the forecast `scalefit fit` prints after eq. 9 (docs/calibration.md)


def register(method: Method, aliases: tuple[str, ...] = ()) -> Method:
    """Add ``method`` (and its ``aliases``) to the registry; names are unique."""
    for name in (method.name, *aliases):
        if name in METHODS or name in ALIASES:
            raise ValueError(f"method name {name!r} is registered twice")
    METHODS[method.name] = method
    ALIASES.update({a: method.name for a in aliases})
    return method


def method_names() -> tuple[str, ...]:
    """Every registered name and alias: what the CLI accepts."""
    return tuple(METHODS) + tuple(ALIASES)


def get_method(name: str) -> Method:
    """The method registered as ``name`` (or an alias of it); a clear error otherwise."""
    key = ALIASES.get(name, name)
    if key not in METHODS:
        raise ScalefitError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[key]


def method_list(methods) -> list:
    """One method (a name or a callable) or several → a list: what every entry point accepts."""
    return [methods] if isinstance(methods, str) or callable(methods) else list(methods)


def labelled_methods(methods) -> dict:
    """Names (``METHODS`` keys or aliases) and/or callables → ``{label: method}`` in order, each
    name labelled as the caller wrote it (``paper`` stays ``paper``), each callable by its
    ``__name__``: the one place names and objects become methods. Unknown names raise
    ``ScalefitError``, and so does an empty list."""
    out = {}
    for m in method_list(methods):
        if callable(m):
            out[getattr(m, "__name__", repr(m))] = m
        else:
            out[m] = get_method(m)
    if not out:
        raise ScalefitError("no method given")
    return out


def resolve_methods(methods) -> dict[str, Callable]:
    """``labelled_methods`` keyed by the registered names (an alias becomes its method's name)."""
    return {getattr(m, "name", label): m for label, m in labelled_methods(methods).items()}


def predictive(table: GainTable, sizes, method: str = "paper") -> PredictiveBase:
    """The predictive distribution of ``method`` (a name in ``METHODS``) at ``sizes``."""
    return get_method(method)(table, sizes)
