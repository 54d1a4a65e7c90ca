"""Write the notebooks in notebooks/ from the cell sources below (so they stay reviewable).

Run: python tools/make_notebooks.py   (the test suite executes every notebook headless)
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parents[1] / "notebooks"

QUICKSTART = [
    new_markdown_cell(
        "# scalefit quickstart\n\n"
        "Forecast the bundled table of OPSD gains at 14, 70 and 405 B: first the default "
        "forecast (a damped trend whose constants were learned on real gain curves) with "
        "persistence beside it, then the scaling paper's recipe: the five laws (eq. 1-5), AIC "
        "weights (eq. 7) and the model average with its within- and between-model uncertainty "
        "(eq. 8-9). The same printout as `scalefit fit data/opsd_scaling_paper.csv --at "
        "14,70,405`."),
    new_code_cell(
        "from pathlib import Path\n"
        "import scalefit as sf\n\n"
        "DATA = Path('..') / 'data'\n"
        "table = sf.load(DATA / 'opsd_scaling_paper.csv')   # a path, a DataFrame or a GainTable\n"
        "table.to_frame()"),
    new_markdown_cell("The answer first: the forecast, the table's own leave-future-out check, "
                      "then the laws (Table 1) and their predictions. Sizes are in the table's "
                      "unit (billions of parameters here)."),
    new_code_cell(
        "result = sf.fit(table, criterion='aic')\n"
        "print(result.summary([14, 70, 405]))"),
    new_markdown_cell("The forecast as a DataFrame (median, mean, 68% and 95% intervals per "
                      "size) and as a figure (the data, the median with its bands, persistence "
                      "dashed):"),
    new_code_cell("result.predict([14, 70, 405]).to_frame().round(2)"),
    new_code_cell("result.plot_forecast([14, 70, 405])"),
    new_markdown_cell("Table 1 as a DataFrame; the weights sum to 1."),
    new_code_cell(
        "assert abs(sum(result.weights.values()) - 1) < 1e-12\n"
        "result.to_frame().round(3)"),
    new_markdown_cell(
        "`predict(sizes, method=...)` gives any registered method's predictive distribution "
        "(`scalefit.methods.METHODS`): the default forecast (`damped_trend`), persistence, the "
        "paper's recipe (`paper`: eq. 8-9, normal), the bootstrap, single laws, ..."),
    new_code_cell(
        "paper = result.predict([70], method='paper')\n"
        "forecast = result.predict([70])\n"
        "print(f'70B, paper (eq. 9): {paper.mean[0]:.2f} ± {paper.scale[0]:.2f} pp')\n"
        "lo, hi = forecast.interval(0.95)\n"
        "print(f'70B, forecast:      {forecast.median[0]:.2f} pp, 95% [{lo[0]:.1f}, {hi[0]:.1f}]')"),
    new_markdown_cell("Figure 1 of the paper, from the result:"),
    new_code_cell("result.plot([14, 70, 405])"),
    new_markdown_cell(
        "## An accuracy table\n\n"
        "The OPSD paper's Table 2 is bundled as raw accuracies. Gains of OPSD over SFT get "
        "binomial standard errors from the number of problems per benchmark: with 30 problems "
        "they are about 12 pp, far larger than the gains."),
    new_code_cell(
        "qwen = sf.load(DATA / 'opsd_qwen3_zhao2026.csv', treatment='OPSD', baseline='SFT')\n"
        "qwen.to_frame().round(2)"),
    new_code_cell(
        "print(sf.fit(qwen.pooled()).summary([14, 70]))"),
]

PAPER_FIGURES = [
    new_markdown_cell(
        "# The scaling paper's figures, end to end\n\n"
        "Every figure and table of the scaling paper from the bundled gain table: fit (Figures "
        "1-2, Table 1), decomposition (Figure 3, Table 2), synthetic validation (Figure 4), "
        "bootstrap (Figure 5), experiment design (Figure 6) and per-benchmark fits (Figure 7). "
        "`scalefit report data/opsd_scaling_paper.csv --out DIR` does the same in one command; "
        "here each step is a plain function returning a result object, and each figure is drawn "
        "from that object. Replicate counts are reduced so the notebook runs in about a minute."),
    new_code_cell(
        "from pathlib import Path\n"
        "import scalefit as sf\n"
        "from scalefit.methods.bootstrap import bootstrap\n"
        "from scalefit.studies.decompose import fit_decomposition\n"
        "from scalefit.report import figures, figures_analyses\n\n"
        "DATA = Path('..') / 'data'\n"
        "table = sf.load(DATA / 'opsd_scaling_paper.csv')\n"
        "result = sf.fit(table)\n"
        "result.to_frame().round(3)"),
    new_markdown_cell("Figures 1 and 5: the fits, with the model average's bootstrap 95% "
                      "intervals (1000 parametric replicates, every law refitted on each)."),
    new_code_cell(
        "sizes = [14, 70, 405]\n"
        "boot = bootstrap(table, sizes, 1000, seed=0, fit=result.fit, quiet=True)\n"
        "ci = [s['ci95'] for s in boot.average_summary()]\n"
        "display(figures.figure_fits(result.fit, sizes, intervals=list(zip(*ci))))\n"
        "display(figures.figure_bootstrap(boot, 70))\n"
        "boot.to_frame().query('size == 70').round(2)"),
    new_code_cell("figures.figure_model_selection(result.fit)"),
    new_markdown_cell(
        "Figure 3 and Table 2: the three-component decomposition (eq. 10-13). Six parameters from "
        "five points are not identified; the result says so and lists fits of equal quality "
        "with very different shares."),
    new_code_cell(
        "dec = fit_decomposition(table, posterior=False, seed=0)\n"
        "print('identified:', dec.identifiable, '-', '; '.join(dec.reasons))\n"
        "display(figures_analyses.figure_decomposition(dec, (table.size, table.value, table.se)))\n"
        "dec.to_frame().round(2)"),
    new_markdown_cell("Figure 4: synthetic validation (40 replicates per regime here; the "
                      "command's default is 200)."),
    new_code_cell(
        "val = sf.validate(table, n_replicates=40, seed=0, quiet=True)\n"
        "display(figures_analyses.figure_validation(val))\n"
        "val.heatmap('coverage').round(2)"),
    new_markdown_cell("Figure 6: where to measure next, for the 70B prediction."),
    new_code_cell(
        "des = sf.design(table, [14, 32, 70, 100, 140, 200, 405], target=70, method=\"paper\", seed=0)\n"
        "display(figures_analyses.figure_design(des))\n"
        "des.to_frame().round(3)"),
    new_markdown_cell("Figure 7: per-benchmark fits, from the OPSD paper's accuracy table "
                      "(three sizes per benchmark: the intervals say how little that pins down)."),
    new_code_cell(
        "qwen = sf.load(DATA / 'opsd_qwen3_zhao2026.csv')\n"
        "fits = {name: sf.fit(t).fit for name, t in qwen.split(['benchmark']).items()}\n"
        "figures.figure_per_benchmark(fits)"),
]


RUNNER = [
    new_markdown_cell(
        "# The OPSD runner: a tiny sweep, its gain table, and the bundled study\n\n"
        "`scalefit run` (or `scalefit.runner.run_sweep`) trains a family of small transformers on "
        "a synthetic addition task, gives each base model an SFT baseline and an On-Policy "
        "Self-Distillation (OPSD) run with paired seeds, and writes gain tables that `scalefit "
        "fit` reads. This notebook runs a deliberately tiny sweep (the `tiny` preset: two sizes, "
        "an easier version of the task, about 40 s on one core), loads its table, and then reads "
        "the runner's study bundled in `data/runner_study/` (`--preset study`: seven sizes from "
        "66k to 2.1M parameters, two base models per size, each fine-tuned with two seeds). See "
        "`docs/runner.md` for every knob."),
    new_code_cell(
        "import tempfile\n"
        "from pathlib import Path\n\n"
        "import pandas as pd\n\n"
        "from scalefit.runner import PRESETS, run_sweep\n\n"
        "# the \"tiny\" preset: two tiny shapes (31k and 65k parameters), 2-3 terms, richness 0, "
        "two seeds;\n"
        "# every field can be changed with cfg.with_overrides(name=value, ...)\n"
        "cfg = PRESETS[\"tiny\"]\n"
        "print(cfg.sizes, cfg.task, cfg.train.pretrain_steps, \"pretraining steps\")\n"
        "out = Path(tempfile.mkdtemp()) / \"tiny\"\n"
        "gains_csv = run_sweep(cfg, out, workers=1, quiet=True)\n"
        "sorted(p.name for p in out.iterdir())"),
    new_markdown_cell(
        "`gains_all.csv` has every (size, split, richness) row for both comparisons (OPSD − SFT "
        "and OPSD − base), with the raw accuracies behind each gain. `gains.csv` keeps only the "
        "rows where the teacher (the base model with the reference in context) beats the base "
        "student by at least `min_teacher_advantage` points: elsewhere there is nothing to "
        "distil, and no gain is reported."),
    new_code_cell(
        "rows = pd.read_csv(out / \"gains_all.csv\")\n"
        "cols = [\"comparison\", \"size_name\", \"param_count\", \"benchmark\", \"richness\", "
        "\"acc_base\", \"acc_teacher\",\n"
        "        \"acc_sft\", \"acc_opsd\", \"gain\", \"se\", \"n_bases\", \"n_seeds\", "
        "\"distillable\"]\n"
        "rows[cols]"),
    new_code_cell(
        "import scalefit as sf\n\n"
        "table = pd.read_csv(gains_csv)\n"
        "if len(table):\n"
        "    gt = sf.load(gains_csv)          # what `scalefit fit` reads\n"
        "    print(f\"{len(gt)} rows, sizes in {gt.unit_label}:\", gt.size, \"gains (pp):\", "
        "gt.value.round(1))\n"
        "else:\n"
        "    print(\"no distillable row in this tiny run (see gains_all.csv)\")"),
    new_markdown_cell(
        "## The bundled study: `scalefit run --preset study`\n\n"
        "Pretraining mixes a careful writer and a sloppy one who drops every carry out of the "
        "units column (on 70% of the plain problems); with a reference in context the model "
        "always writes carefully. So the base student writes dropped carries, the teacher (the "
        "same model with the reference) is its own careful mode in its own format, and OPSD has "
        "a job the student can learn: make the careful mode its default. Richness 0: the "
        "teacher sees the running sums and SFT trains on them (a format without the working); "
        "richness 1: the full careful solution for both. SEs are over problems, seeds and the "
        "two base models per size. Non-distillable rows are shown hollow."),
    new_code_cell(
        "from scalefit.report.figures_runner import figure_gain_by_richness\n\n"
        "study = Path(\"../data/runner_study\")\n"
        "allrows = pd.read_csv(study / \"gains_all.csv\")\n"
        "in_dist = allrows[allrows[\"benchmark\"] == \"id\"]\n"
        "display(figure_gain_by_richness(in_dist))   # what `scalefit run` writes as "
        "gain_vs_size.png\n"
        "in_dist.pivot_table(index=[\"param_count\", \"acc_base\", \"acc_teacher\"],\n"
        "                    columns=[\"comparison\", \"richness\"], values=[\"gain\", "
        "\"se\"]).round(1)"),
    new_markdown_cell(
        "The OPSD − base gains as a scaling table, one fit per richness level (what `scalefit "
        "fit data/runner_study/gains_vs_base.csv --by richness` prints):"),
    new_code_cell(
        "vs_base = sf.load(study / \"gains_vs_base.csv\", benchmark=\"id\", by=[\"richness\"])\n"
        "for richness, part in vs_base.split([\"richness\"]).items():\n"
        "    print(f\"richness {richness}: forecast at 5M and 20M parameters (pp)\")\n"
        "    display(sf.fit(part).predict([5.0, 20.0]).to_frame().round(1))"),
]


def write(name: str, cells) -> None:
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3",
                                                            "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    write("01_quickstart.ipynb", QUICKSTART)
    write("02_paper_figures.ipynb", PAPER_FIGURES)
    write("03_runner.ipynb", RUNNER)
