"""Draw the scaling paper's figures and tables from computed results, in one call.

``write_report(results, out_dir)`` draws the default forecast (``forecast.*``: its figure and
table), then Figures 1-7 and Tables 1-2 of the scaling paper from a
``scalefit.studies.reproduce.PaperResults`` (``reproduce_paper`` computes it), as PNG + PDF and
CSV + Markdown, each written atomically; nothing is refitted here. ``index.md`` in the folder
lists every file with a one-line caption. Returns the paths written.
"""

from __future__ import annotations

from pathlib import Path

from scalefit.io import atomic_write_text
from scalefit.report import figures, figures_analyses
from scalefit.report.tables import table_model_selection, to_markdown, write_table
from scalefit.report.text import VALUE_NAMES, method_heading


def write_report(results, out_dir) -> list[Path]:
    """Figures 1-7 and Tables 1-2 of the scaling paper from ``results`` in ``out_dir``."""
    r, s = results, results.settings
    table, fit, boot, dec = r.table, r.fit, r.bootstrap, r.decomposition
    out = Path(out_dir)
    captions: list[tuple[str, str]] = []

    def figure(fig, name, caption):
        captions.append((name, caption))
        return figures.save_figure(fig, out, name)

    def table_files(frame, name, caption):
        captions.append((name, caption))
        return write_table(frame, out, name)

    unit = table.size_unit
    title = method_heading(r.forecast.method)[0]
    written = figure(figures.figure_forecast(table, r.forecast_curve, r.persistence_curve,
                                             r.forecast), "forecast",
                     f"The forecast, {title}: median, 68% and 95% bands, persistence dashed")
    written += table_files(r.forecast.to_frame(), "forecast_table",
                           f"The forecast, {title}: median, mean and 68%/95% intervals per size")
    written += table_files(table_model_selection(fit), "table1_model_selection",
                          f"Table 1: chi², AIC, AICc, BIC and {s.criterion.upper()} weight per law")
    written += figure(figures.figure_fits(fit, r.sizes, r.intervals), "figure1_fits",
                      "Figure 1: the five laws fitted and extrapolated; model average with "
                      f"bootstrap 95% CIs ({s.bootstrap} replicates)")
    written += figure(figures.figure_model_selection(fit), "figure2_model_selection",
                      "Figure 2: AIC/BIC per law and the weights")
    written += table_files(dec.to_frame(), "table2_decomposition",
                           "Table 2: the three components of eq. 10-13 at the best fit "
                           f"(identified: {dec.identifiable}; see docs/analyses.md)")
    written += figure(figures_analyses.figure_decomposition(dec, (table.size, table.value,
                                                                  table.se)),
                      "figure3_decomposition", "Figure 3: gain decomposition and its shares")
    written += figure(figures_analyses.figure_validation(r.validation), "figure4_validation",
                      f"Figure 4: synthetic validation, {s.validation} replicates per regime")
    written += figure(figures.figure_bootstrap(boot, r.target), "figure5_bootstrap",
                      f"Figure 5: bootstrap CIs at {r.target:g} {unit}")
    written += figure(figures_analyses.figure_design(r.design), "figure6_design",
                      f"Figure 6: where to measure next (target {r.target:g} {unit})")
    written += figure(figures.figure_per_benchmark(r.benchmark_fits, note=r.benchmark_note),
                      "figure7_per_benchmark",
                      "Figure 7: model-averaged prediction per benchmark, 95% interval")

    preds = boot.to_frame()
    written += table_files(preds, "predictions_bootstrap",
                           f"Bootstrap means and 95% CIs per law and averaged ({unit})")
    lines = [f"# scalefit report: {table.source}", "",
             f"{len(table)} points, sizes {table.size.min():g}–{table.size.max():g} {unit}; "
             f"{VALUE_NAMES[table.kind]}; weights from {s.criterion.upper()}; seed {s.seed}.",
             "", "| file | contents |", "|---|---|"]
    lines += [f"| `{name}.*` | {caption} |" for name, caption in captions]
    lines += ["", f"## The forecast: {title}", "", to_markdown(r.forecast.to_frame(), digits=2),
              "", "## Model-averaged predictions (bootstrap)", "",
              to_markdown(preds[preds["model"] == "average"], digits=2)]
    index = out / "index.md"
    atomic_write_text(index, "\n".join(lines))
    return written + [index]
