"""Every result the scaling paper's figures and tables need, computed once from a gain table.

``reproduce_paper(table, settings)`` runs the default forecast (with persistence beside it),
the fit (eq. 1-9), the bootstrap (section 2.5), the decomposition (eq. 10-13), the synthetic
validation (section 2.3), the experiment design (section 2.4) and the per-benchmark fits, and
returns them as one ``PaperResults``; ``scalefit.report.paper.write_report`` draws the forecast,
Figures 1-7 and Tables 1-2 from it without refitting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalefit.core.average import AveragedFit, fit_laws
from scalefit.data import GainTable
from scalefit.executor import make_executor
from scalefit.methods import DEFAULT_METHOD, PredictiveBase, predictive
from scalefit.methods.bootstrap import BootstrapResult, bootstrap
from scalefit.studies.decompose import TABLE2_SIZES, Decomposition, fit_decomposition
from scalefit.studies.design import DesignResult, design_laws
from scalefit.studies.validate import EVAL_SIZES, ValidationResult, validate

PAPER_CANDIDATES = (14.0, 32.0, 70.0, 100.0, 140.0, 200.0, 405.0)


@dataclass
class ReportSettings:
    """What the report computes. Sizes are in the table's unit; ``None`` picks the paper's
    values for tables in billions and multiples of the largest measured size otherwise."""

    sizes: tuple[float, ...] | None = None        # Figure 1 and 5 predictions (default 14, 70, 405)
    target: float | None = None                   # Figures 5 and 6 (default 70)
    candidates: tuple[float, ...] | None = None   # Figure 6 (default 14 … 405)
    criterion: str = "aic"
    seed: int = 0
    bootstrap: int = 1000                         # replicates (Figures 1, 5, 7)
    validation: int = 200                         # replicates per regime (Figure 4)
    posterior: bool = True                        # sample the decomposition's posterior (Fig 3b)
    workers: int | None = None                    # processes for the validation (1: inline)
    quiet: bool = False
    per_benchmark: GainTable | None = None        # Figure 7's series when the table has none
    method: str = DEFAULT_METHOD                  # the forecast the report opens with


def _defaults(table: GainTable, s: ReportSettings):
    top = float(table.size.max())
    paper = table.size_unit == "B"
    sizes = np.asarray(s.sizes or ((14.0, 70.0, 405.0) if paper else (2 * top, 10 * top,
                                                                       100 * top)), float)
    target = s.target or (70.0 if paper else 10 * top)
    candidates = np.asarray(s.candidates or (PAPER_CANDIDATES if paper else
                                             tuple(top * f for f in (2, 4, 10, 20, 50, 100))),
                            float)
    sizes = np.unique(np.append(sizes, target))
    return sizes, target, candidates


def per_benchmark_tables(table: GainTable, extra: GainTable | None = None):
    """Figure 7's series: the table's own benchmarks, else those of ``extra``, else the table
    itself as one series (with a note that it has no per-benchmark rows)."""
    if table.benchmark is not None and len(table.benchmarks) > 1:
        return table.split(["benchmark"]), None
    if extra is not None and extra.benchmark is not None:
        return extra.split(["benchmark"]), f"per-benchmark series from {extra.source}"
    return {"all benchmarks": table}, "this table has no per-benchmark rows: one series shown"


@dataclass
class PaperResults:
    """What Figures 1-7 and Tables 1-2 are drawn from (sizes in the table's unit)."""

    table: GainTable
    settings: ReportSettings
    sizes: np.ndarray
    target: float
    fit: AveragedFit
    bootstrap: BootstrapResult
    decomposition: Decomposition
    validation: ValidationResult
    design: DesignResult
    benchmark_fits: dict[str, AveragedFit]
    benchmark_note: str | None
    forecast: PredictiveBase          # the forecast at ``sizes``
    forecast_curve: PredictiveBase    # ... on a grid from the smallest measured size up
    persistence_curve: PredictiveBase

    @property
    def intervals(self) -> np.ndarray:
        """The bootstrap's 95% interval of the model average, (2, sizes): (lo, hi) rows."""
        return np.array([a["ci95"] for a in self.bootstrap.average_summary()]).T


def reproduce_paper(table: GainTable, settings: ReportSettings | None = None) -> PaperResults:
    """Every analysis of the scaling paper on ``table`` (see the module docstring)."""
    s = settings or ReportSettings()
    sizes, target, candidates = _defaults(table, s)
    paper_unit = table.size_unit == "B"
    grid = forecast_grid(table, sizes)
    forecast = predictive(table, sizes, s.method)
    curve, persist = predictive(table, grid, s.method), predictive(table, grid, "persistence")
    fit = fit_laws(table, criterion=s.criterion)
    boot = bootstrap(table, sizes, s.bootstrap, seed=s.seed, criterion=s.criterion,
                     quiet=s.quiet, fit=fit)
    dec_sizes = TABLE2_SIZES if paper_unit else tuple(np.unique(np.append(table.size, sizes)))
    dec = fit_decomposition(table, dec_sizes, share_size=target, seed=s.seed,
                            posterior=s.posterior)
    eval_sizes = EVAL_SIZES if paper_unit else tuple(sizes)
    with make_executor(s.workers) as executor:
        val = validate(table, eval_sizes=eval_sizes, max_train_size=8.0 if paper_unit else None,
                       n_replicates=s.validation, seed=s.seed, executor=executor,
                       quiet=s.quiet)
    des = design_laws(table, candidates, target=target, seed=s.seed,
                      weights_criterion=s.criterion)
    groups, note = per_benchmark_tables(table, s.per_benchmark)
    bench = {label: fit_laws(t, criterion=s.criterion) for label, t in groups.items()}
    return PaperResults(table, s, sizes, target, fit, boot, dec, val, des, bench, note, forecast,
                        curve, persist)


def forecast_grid(table: GainTable, sizes, points: int = 120) -> np.ndarray:
    """Log-spaced sizes from the largest measured size to the largest forecast one (where a
    forecast is drawn as a band)."""
    top = float(table.size.max())
    return np.geomspace(top, max(top * 1.01, float(np.max(sizes))), points)
