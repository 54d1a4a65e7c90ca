"""The Python API, exported at the top: ``import scalefit as sf``.

Every function takes a ``GainTable``, a path to a CSV file or a pandas ``DataFrame`` with the
same columns (``size``, ``gain``, ``se``[, ``benchmark``], or an accuracy table).

>>> import scalefit as sf
>>> result = sf.fit("data/opsd_scaling_paper.csv")
>>> print(result.summary())                         # Table 1, predictions at 14, 70, 405 B
>>> result.to_frame()                               # one row per law: k, chi², AIC, ..., weight
>>> pred = result.predict([70.0])                   # the default forecast (damped_trend)
>>> pred.median, pred.interval(0.95), pred.to_frame()
>>> result.predict([70.0], method="paper").mean     # the scaling paper's eq. 8-9: 19.61 pp
>>> fig = result.plot()                             # Figure 1
>>> sf.backtest("data/opsd_scaling_paper.csv", holdout=2).summary()
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from scalefit.core.average import AveragedFit, fit_laws
from scalefit.data import GainTable, default_sizes, load_gain_table, with_bounds
from scalefit.methods import DEFAULT_METHOD
from scalefit.report.text import VALUE_UNITS


def load(source, *, benchmark: str | None = None, size_unit: str | None = None,
         treatment: str | None = None, baseline: str | None = None, by=(),
         gain_unit: str | None = None, bounds: tuple[float, float] | None = None) -> GainTable:
    """A ``GainTable`` from a file path, a DataFrame or a ``GainTable`` (returned as is, with
    ``benchmark`` and ``bounds`` applied): ``scalefit.data.load_gain_table``, the loader every
    command uses.

    ``benchmark`` keeps one benchmark (``"mean"`` pools them); ``treatment``/``baseline`` turn an
    accuracy table into gains (default OPSD − SFT); ``gain_unit`` is ``"pp"`` or ``"fraction"``;
    ``bounds`` is the possible range of the values (default [−100, 100], a gain in pp; (0, 100)
    for an accuracy column, (0, inf) for a loss column).

    >>> table = sf.load(pd.DataFrame({"size": [0.5, 1, 8], "gain": [1.1, 1.6, 4.9],
    ...                               "se": [0.4, 0.4, 0.5]}))
    """
    if isinstance(source, GainTable):
        table = source if bounds is None else with_bounds(source, bounds)
        return table if benchmark is None else table.select(benchmark)
    return load_gain_table(source, size_unit=size_unit, treatment=treatment, baseline=baseline,
                           by=tuple(by), gain_unit=gain_unit, bounds=bounds, benchmark=benchmark)


@dataclass
class FitReport:
    """What ``sf.fit`` returns and ``scalefit fit`` prints: the table, the laws fitted to it and
    averaged (``fit``), and the forecast method (``method``, default ``DEFAULT_METHOD``; None:
    the laws alone). ``predict`` gives that method's forecast, ``check`` the table's own
    leave-future-out check against persistence, ``summary`` the printout (answer first)."""

    table: GainTable
    fit: AveragedFit
    method: str | None = DEFAULT_METHOD

    @property
    def weights(self) -> dict[str, float]:
        return self.fit.weights

    def predict(self, sizes, method: str | None = None):
        """The predictive distribution at ``sizes`` (table unit) of a registered method
        (``scalefit.methods.METHODS``; default ``method``): ``.median``, ``.interval(level)``,
        ``.quantile(q)``, ``.to_frame()`` (median and 68/95% intervals per size), inside the
        table's possible range. ``method="paper"`` is the scaling paper's eq. 8-9 normal."""
        from scalefit.methods import predictive

        return predictive(self.table, sizes, method or self.method or "paper")

    def check(self):
        """This table's own leave-future-out check of the forecast and the laws' average
        against persistence (``scalefit.studies.backtest.lfo_skill``; None with too few sizes)."""
        from scalefit.studies.backtest import lfo_skill

        methods = ("average",) if self.method in (None, "average", "paper") else (self.method,
                                                                                  "average")
        return lfo_skill(self.table, methods)

    def summary(self, sizes=None) -> str:
        """What ``scalefit fit`` prints: the table, the forecast at ``sizes`` (default 14, 70, 405
        B) with persistence beside it, the table's own check, then the laws (Table 1) and their
        average (eq. 8-9)."""
        from scalefit.report.text import (format_fit, format_forecast, format_lfo_skill,
                                          format_table_header)

        sizes = default_sizes(self.table) if sizes is None else sizes
        parts = [format_table_header(self.table)]
        if self.method is not None:
            parts += [format_forecast(self.predict(sizes), self.table,
                                      self.predict(sizes, "persistence")),
                      format_lfo_skill(self.check(), VALUE_UNITS[self.table.kind])]
        return "\n\n".join(parts + [format_fit(self.fit, sizes)])

    def to_dict(self, sizes=None) -> dict:
        """The JSON of ``scalefit fit --json``: the laws' fit and average at ``sizes``, and
        (with a method) the forecast (``calibrated``), persistence and the check (``lfo_skill``)."""
        sizes = default_sizes(self.table) if sizes is None else sizes
        out = self.fit.to_dict(sizes)
        if self.method is not None:
            check = self.check()
            out["calibrated"] = self.predict(sizes).to_dict()
            out["persistence"] = self.predict(sizes, "persistence").to_dict()
            out["lfo_skill"] = None if check is None else check.to_dict()
        return out

    def to_frame(self) -> pd.DataFrame:
        """Table 1 of the scaling paper: k, chi², AIC, AICc, BIC and weight per law."""
        from scalefit.report.tables import table_model_selection

        return table_model_selection(self.fit)

    def plot_forecast(self, sizes=None, method: str | None = None):
        """The forecast as a figure: the data, the median with its 68% and 95% bands from the
        largest measured size to the largest of ``sizes``, persistence dashed (a ``Figure``)."""
        from scalefit.report.figures import figure_forecast
        from scalefit.studies.reproduce import forecast_grid

        sizes = default_sizes(self.table) if sizes is None else sizes
        grid = forecast_grid(self.table, sizes)
        return figure_forecast(self.table, self.predict(grid, method),
                               self.predict(grid, "persistence"), self.predict(sizes, method))

    def plot(self, sizes=None):
        """Figure 1 of the scaling paper for this fit (a matplotlib ``Figure``)."""
        from scalefit.report.figures import figure_fits

        return figure_fits(self.fit, default_sizes(self.table) if sizes is None else sizes)


def fit(table, *, criterion: str = "aic", laws=None, method: str | None = DEFAULT_METHOD,
        benchmark: str | None = None) -> FitReport:
    """Fit the scaling laws (default the paper's five) by weighted least squares, weight them
    by ``criterion`` (eq. 7) and average them (eq. 8-9); ``method`` is the forecast ``predict``
    and ``summary`` give (default the damped trend; "paper" for eq. 8-9; None: the laws alone).

    >>> result = sf.fit("data/opsd_scaling_paper.csv")
    >>> round(result.predict([70.0], method="paper").mean[0], 2)
    19.61
    >>> result.predict([70.0]).to_frame()            # median, 68% and 95% intervals
    """
    from scalefit.methods import get_method

    if method is not None:
        get_method(method)  # an unknown method fails here, not at the first predict
    t = load(table, benchmark=benchmark)
    return FitReport(t, fit_laws(t, criterion=criterion, laws=laws), method)


def backtest(table, holdout: int = 1, methods=None, **kwargs):
    """Leave-future-out: fit every method on all but the ``holdout`` largest sizes, score the
    rest (``scalefit.studies.backtest.backtest``; a ``BacktestResult`` with ``.summary()``).

    >>> sf.backtest("data/opsd_scaling_paper.csv", holdout=2, methods=["paper", "power"])
    """
    from scalefit.studies.backtest import BACKTEST_METHODS
    from scalefit.studies.backtest import backtest as run

    return run(load(table), holdout, BACKTEST_METHODS if methods is None else methods, **kwargs)


def design(table, candidates=None, *, target: float = 70.0, method: str = DEFAULT_METHOD,
           **kwargs):
    """Rank candidate sizes for the next measurement by what it would teach the forecast
    ``method`` about ``target`` (``scalefit.studies.design.design``): the expected reduction of
    its 95% interval width (a ``ForecastDesign``), or with ``method="paper"`` of the laws' eq. 9
    variance (a ``DesignResult``, Figure 6). Default candidates:
    ``scalefit.sizes.default_candidates`` (log-spaced from the largest measured size to twice
    the target, through the target and the paper's sizes), as ``scalefit design``.

    >>> sf.design("data/opsd_scaling_paper.csv", target=70).to_frame()
    >>> sf.design("data/opsd_scaling_paper.csv", target=70, method="paper").best
    """
    from scalefit.sizes import default_candidates
    from scalefit.studies.design import design as run

    t = load(table)
    if candidates is None:
        candidates = default_candidates(t.size.max(), target, t.size_unit)
    return run(t, candidates, target=target, method=method, **kwargs)


def validate(table, **kwargs):
    """Synthetic validation of the extrapolation methods (the scaling paper, section 2.3;
    ``scalefit.studies.validate.validate``): MAPE and coverage per regime and method.

    >>> sf.validate("data/opsd_scaling_paper.csv", n_replicates=50).heatmap("coverage")
    """
    from scalefit.studies.validate import validate as run

    return run(load(table), **kwargs)
