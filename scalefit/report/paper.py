"""Regenerate the scaling paper's figures and tables from a gain table, in one call.

``write_report(table, out_dir)`` computes every result once — the fit (eq. 1-9), the bootstrap
(§2.5), the decomposition (eq. 10-13), the synthetic validation (§2.3), the experiment design
(§2.4) and the per-benchmark fits — and draws Figures 1-7 and Tables 1-2 of seed 000 from those
result objects, as PNG + PDF and CSV + Markdown, each written atomically. ``index.md`` in the
folder lists every file with a one-line caption. Returns the paths written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalefit.average import fit_laws
from scalefit.data import GainTable
from scalefit.io import atomic_write_text
from scalefit.report import figures, figures_analyses
from scalefit.report.tables import table_model_selection, to_markdown, write_table

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


def write_report(table: GainTable, out_dir, settings: ReportSettings | None = None) -> list[Path]:
    """Figures 1-7 and Tables 1-2 of seed 000 for ``table`` in ``out_dir`` (see module doc)."""
    from scalefit.bootstrap import bootstrap
    from scalefit.decompose import TABLE2_SIZES, fit_decomposition
    from scalefit.design import design
    from scalefit.executor import make_executor
    from scalefit.validate import EVAL_SIZES, validate

    s = settings or ReportSettings()
    out = Path(out_dir)
    sizes, target, candidates = _defaults(table, s)
    paper_unit = table.size_unit == "B"
    captions: list[tuple[str, str]] = []

    def figure(fig, name, caption):
        captions.append((name, caption))
        return figures.save_figure(fig, out, name)

    def table_files(frame, name, caption):
        captions.append((name, caption))
        return write_table(frame, out, name)

    fit = fit_laws(table, criterion=s.criterion)
    boot = bootstrap(table, sizes, s.bootstrap, seed=s.seed, criterion=s.criterion,
                     quiet=s.quiet, fit=fit)
    intervals = np.array([a["ci95"] for a in boot.average_summary()]).T  # (lo, hi) per size
    unit = table.size_unit
    written = table_files(table_model_selection(fit), "table1_model_selection",
                          f"Table 1: chi², AIC, AICc, BIC and {s.criterion.upper()} weight per law")
    written += figure(figures.figure_fits(fit, sizes, intervals), "figure1_fits",
                      "Figure 1: the five laws fitted and extrapolated; model average with "
                      f"bootstrap 95% CIs ({s.bootstrap} replicates)")
    written += figure(figures.figure_model_selection(fit), "figure2_model_selection",
                      "Figure 2: AIC/BIC per law and the weights")

    dec_sizes = TABLE2_SIZES if paper_unit else tuple(np.unique(np.append(table.size, sizes)))
    dec = fit_decomposition(table, dec_sizes, share_size=target, seed=s.seed,
                            posterior=s.posterior)
    written += table_files(dec.to_frame(), "table2_decomposition",
                           "Table 2: the three components of eq. 10-13 at the best fit "
                           f"(identified: {dec.identifiable}; see docs/analyses.md)")
    written += figure(figures_analyses.figure_decomposition(dec, (table.size, table.gain,
                                                                  table.se)),
                      "figure3_decomposition", "Figure 3: gain decomposition and its shares")

    eval_sizes = EVAL_SIZES if paper_unit else tuple(sizes)
    with make_executor(s.workers) as executor:
        val = validate(table, eval_sizes=eval_sizes, max_train_size=8.0 if paper_unit else None,
                       n_replicates=s.validation, seed=s.seed, executor=executor,
                       quiet=s.quiet)
    written += figure(figures_analyses.figure_validation(val), "figure4_validation",
                      f"Figure 4: synthetic validation, {s.validation} replicates per regime")
    written += figure(figures.figure_bootstrap(boot, target), "figure5_bootstrap",
                      f"Figure 5: bootstrap CIs at {target:g} {unit}")

    des = design(table, candidates, target=target, seed=s.seed, weights_criterion=s.criterion)
    written += figure(figures_analyses.figure_design(des), "figure6_design",
                      f"Figure 6: where to measure next (target {target:g} {unit})")

    groups, note = per_benchmark_tables(table, s.per_benchmark)
    fits = {label: fit_laws(t, criterion=s.criterion) for label, t in groups.items()}
    written += figure(figures.figure_per_benchmark(fits, note=note), "figure7_per_benchmark",
                      "Figure 7: model-averaged prediction per benchmark, 95% interval")

    preds = boot.to_frame()
    written += table_files(preds, "predictions_bootstrap",
                           f"Bootstrap means and 95% CIs per law and averaged ({unit})")
    lines = [f"# scalefit report: {table.source}", "",
             f"{len(table)} points, sizes {table.size.min():g}–{table.size.max():g} {unit}; "
             f"gains in percentage points; weights from {s.criterion.upper()}; seed {s.seed}.",
             "", "| file | contents |", "|---|---|"]
    lines += [f"| `{name}.*` | {caption} |" for name, caption in captions]
    lines += ["", "## Model-averaged predictions (bootstrap)", "",
              to_markdown(preds[preds["model"] == "average"], digits=2)]
    index = out / "index.md"
    atomic_write_text(index, "\n".join(lines))
    return written + [index]
