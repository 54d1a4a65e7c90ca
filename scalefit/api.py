"""The Python API, exported at the top: ``import scalefit as sf``.

Every function takes a ``GainTable``, a path to a CSV file or a pandas ``DataFrame`` with the
same columns (``size``, ``gain``, ``se``[, ``benchmark``], or an accuracy table).

>>> import scalefit as sf
>>> result = sf.fit("data/opsd_scaling_paper.csv")
>>> print(result.summary())                         # Table 1, predictions at 14, 70, 405 B
>>> result.to_frame()                               # one row per law: k, chi², AIC, ..., weight
>>> pred = result.predict([70.0])                   # the default forecast (damped_trend)
>>> pred.mean, pred.interval(0.95)
>>> result.predict([70.0], method="paper").mean     # the scaling paper's eq. 8-9: 19.61 pp
>>> fig = result.plot()                             # Figure 1
>>> sf.backtest("data/opsd_scaling_paper.csv", holdout=2).summary()
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from scalefit.core.average import AveragedFit, fit_laws
from scalefit.data import GainTable, default_sizes, load_gain_table
from scalefit.methods import DEFAULT_METHOD as DEFAULT_INTERVAL


def load(source, *, benchmark: str | None = None, size_unit: str | None = None,
         treatment: str | None = None, baseline: str | None = None,
         bounds: tuple[float, float] | None = None) -> GainTable:
    """A ``GainTable`` from a file path, a DataFrame or a ``GainTable`` (returned as is).

    ``benchmark`` keeps one benchmark (``"mean"`` pools them); ``treatment``/``baseline`` turn an
    accuracy table into gains (default OPSD − SFT); ``bounds`` is the possible range of the
    values (default [−100, 100], a gain in pp; (0, 100) for an accuracy, (0, inf) for a loss).

    >>> table = sf.load(pd.DataFrame({"size": [0.5, 1, 8], "gain": [1.1, 1.6, 4.9],
    ...                               "se": [0.4, 0.4, 0.5]}))
    """
    if isinstance(source, GainTable):
        table = source
    else:
        table = load_gain_table(source, size_unit=size_unit, treatment=treatment,
                                baseline=baseline)
    table = table.select(benchmark) if benchmark is not None else table
    return table if bounds is None else replace(table, bounds=tuple(bounds))


@dataclass
class FitReport:
    """What ``sf.fit`` returns: the laws fitted to ``table`` and averaged (``fit``), with the
    predictive method used by ``predict`` when none is named (``interval``)."""

    table: GainTable
    fit: AveragedFit
    interval: str = DEFAULT_INTERVAL

    @property
    def weights(self) -> dict[str, float]:
        return self.fit.weights

    def summary(self, sizes=None) -> str:
        """The printout of ``scalefit fit``: the fits, the weights and the predictions at
        ``sizes`` (default 14, 70, 405 B), then the default forecast (``interval``)."""
        from scalefit.report.text import format_fit, format_predictive

        sizes = default_sizes(self.table) if sizes is None else sizes
        return (format_fit(self.fit, sizes) + "\n\n"
                + format_predictive(self.predict(sizes), self.table.size_unit))

    def to_frame(self) -> pd.DataFrame:
        """Table 1 of the scaling paper: k, chi², AIC, AICc, BIC and weight per law."""
        from scalefit.report.tables import table_model_selection

        return table_model_selection(self.fit)

    def predict(self, sizes, method: str | None = None):
        """The predictive distribution at ``sizes`` (table unit) of a registered method
        (``scalefit.methods.METHODS``; default ``interval``): ``.mean``, ``.interval(level)``,
        ``.quantile(q)``, inside the table's possible range. ``method="paper"`` is the scaling
        paper's eq. 8-9 normal."""
        from scalefit.methods import predictive

        return predictive(self.table, sizes, method or self.interval)

    def plot(self, sizes=None):
        """Figure 1 of the scaling paper for this fit (a matplotlib ``Figure``)."""
        from scalefit.report.figures import figure_fits

        return figure_fits(self.fit, default_sizes(self.table) if sizes is None else sizes)


def fit(table, *, criterion: str = "aic", laws=None, interval: str = DEFAULT_INTERVAL,
        benchmark: str | None = None) -> FitReport:
    """Fit the scaling laws (default the paper's five) by weighted least squares, weight them
    by ``criterion`` (eq. 7) and average them (eq. 8-9).

    >>> result = sf.fit("data/opsd_scaling_paper.csv")
    >>> round(result.predict([70.0], method="paper").mean[0], 2)
    19.61
    """
    from scalefit.methods import get_method

    get_method(interval)  # an unknown method fails here, not at the first predict
    t = load(table, benchmark=benchmark)
    return FitReport(t, fit_laws(t, criterion=criterion, laws=laws), interval)


def backtest(table, holdout: int = 1, methods=None, **kwargs):
    """Leave-future-out: fit every method on all but the ``holdout`` largest sizes, score the
    rest (``scalefit.studies.backtest.backtest``; a ``BacktestResult`` with ``.summary()``).

    >>> sf.backtest("data/opsd_scaling_paper.csv", holdout=2, methods=["paper", "power"])
    """
    from scalefit.studies.backtest import DEFAULT_METHODS
    from scalefit.studies.backtest import backtest as run

    return run(load(table), holdout, DEFAULT_METHODS if methods is None else methods, **kwargs)


def design(table, candidates=None, *, target: float = 70.0, **kwargs):
    """Rank candidate sizes for the next measurement by the expected reduction of the
    predictive variance at ``target`` (``scalefit.studies.design.design``). Default candidates:
    ``scalefit.sizes.default_candidates`` (log-spaced from the largest measured size to twice
    the target, through the target and the paper's sizes), as ``scalefit design``.

    >>> sf.design("data/opsd_scaling_paper.csv", target=70).to_frame()
    """
    from scalefit.sizes import default_candidates
    from scalefit.studies.design import design as run

    t = load(table)
    if candidates is None:
        candidates = default_candidates(t.size.max(), target, t.size_unit)
    return run(t, candidates, target=target, **kwargs)


def validate(table, **kwargs):
    """Synthetic validation of the extrapolation methods (the scaling paper, section 2.3;
    ``scalefit.studies.validate.validate``): MAPE and coverage per regime and method.

    >>> sf.validate("data/opsd_scaling_paper.csv", n_replicates=50).heatmap("coverage")
    """
    from scalefit.studies.validate import validate as run

    return run(load(table), **kwargs)
