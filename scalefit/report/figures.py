"""The scaling paper's figures, drawn from result objects (never refitting).

Each ``figure_*`` function takes results and returns a matplotlib ``Figure``; ``save_figure``
writes it as PNG and PDF atomically. Figure numbers follow the scaling paper.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from scalefit.core.average import AveragedFit
from scalefit.core.laws import LAWS
from scalefit.data import UNIT_NAMES
from scalefit.io import atomic_path

LAW_COLORS = dict(zip(LAWS, ["#d62728", "#9467bd", "#2ca02c", "#ff7f0e", "#1f77b4",
                             "#8c564b", "#e377c2", "#7f7f7f"]))
AVERAGE_COLOR = "black"
Z95 = 1.959963984540054


def law_color(name: str) -> str:
    return LAW_COLORS.get(name, "#7f7f7f")


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize=None, **subplots_kw):
    """``(Figure, axes)`` like ``pyplot.subplots``, but outside pyplot: no backend is chosen or
    switched (a notebook keeps its own) and nothing is left open in global state."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplots_kw)


def colormap(name: str):
    return matplotlib.colormaps[name]


def save_figure(fig, out_dir: str | Path, name: str, formats=("png", "pdf")) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.png`` and ``.pdf``, each atomically."""
    paths = []
    for ext in formats:
        path = Path(out_dir) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        paths.append(path)
    return paths


def _size_axis(ax, unit: str, label: str = "model size"):
    ax.set_xscale("log")
    ax.set_xlabel(f"{label} ({UNIT_NAMES[unit]})")


def _interval(fit: AveragedFit, sizes, intervals):
    """95% interval of the averaged prediction: given (lo, hi) arrays, else mean ± 1.96 SD."""
    pred = fit.predict(sizes)
    if intervals is not None:
        lo, hi = (np.asarray(v, float) for v in intervals)
        return pred, lo, hi, "bootstrap 95% CI"
    return pred, pred.mean - Z95 * pred.sd, pred.mean + Z95 * pred.sd, "±1.96 SD (eq. 9)"


def figure_fits(fit: AveragedFit, sizes=(14.0, 70.0, 405.0), intervals=None):
    """Figure 1: every law fitted and extrapolated (line width ∝ weight), the data, and the
    model-averaged predictions with 95% intervals; right, per-law and averaged predictions at
    ``sizes``. ``intervals`` = (lo, hi) at ``sizes`` replaces the ±1.96 SD interval (bootstrap)."""
    table, unit = fit.table, fit.size_unit
    sizes = np.asarray(sizes, float)
    fig, (ax, ax2) = new_figure(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.5, 1]})
    grid = np.geomspace(table.size.min() / 1.5, max(sizes.max(), table.size.max()) * 1.3, 300)
    weights = fit.weights
    for name, f in fit.fits.items():
        if not f.converged:
            continue
        ax.plot(grid, f.predict(grid), color=law_color(name), lw=0.8 + 5 * weights[name],
                label=f"{name} (w = {weights[name]:.3f})")
    ax.axvspan(table.size.max(), grid.max(), color="0.9", zorder=0, label="extrapolation")
    ax.errorbar(table.size, table.value, yerr=table.se, fmt="o", color="black", ms=5, capsize=3,
                label="observed ± SE", zorder=5)
    pred, lo, hi, what = _interval(fit, sizes, intervals)
    ax.errorbar(sizes, pred.mean, yerr=[pred.mean - lo, hi - pred.mean], fmt="s",
                color=AVERAGE_COLOR, mfc="white", ms=7, capsize=4, zorder=6,
                label=f"model average, {what}")
    _size_axis(ax, unit)
    ax.set_ylabel("gain (percentage points)")
    ax.set_title("Scaling laws fitted to the observed gains, extrapolated")
    ax.legend(fontsize=7.5, loc="upper left")

    names = [n for n, f in fit.fits.items() if f.converged]
    width = 0.8 / (len(names) + 1)
    xs = np.arange(len(sizes))
    for i, name in enumerate(names):
        j = pred.laws.index(name)
        ax2.errorbar(xs + (i - len(names) / 2) * width, pred.law_mean[j], yerr=Z95 * pred.law_sd[j],
                     fmt="o", color=law_color(name), capsize=2, label=name)
    ax2.errorbar(xs + (len(names) / 2) * width, pred.mean, yerr=[pred.mean - lo, hi - pred.mean],
                 fmt="s", color=AVERAGE_COLOR, mfc="white", capsize=3, label="model average")
    ax2.set_xticks(xs, [f"{s:g} {unit}" for s in sizes])
    ax2.set_ylabel("predicted gain (pp), 95% interval")
    ax2.set_title("Predictions at the target sizes")
    ax2.legend(fontsize=7.5)
    fig.tight_layout()
    return fig


def figure_model_selection(fit: AveragedFit):
    """Figure 2: (a) AIC and BIC per law (lower is better); (b) the weights of the chosen
    criterion."""
    names = [n for n, f in fit.fits.items() if f.converged]
    crit = {n: fit.fits[n].criteria for n in names}
    fig, (a, b) = new_figure(1, 2, figsize=(11, 4))
    xs = np.arange(len(names))
    a.bar(xs - 0.2, [crit[n]["aic"] for n in names], 0.4, label="AIC", color="0.35")
    a.bar(xs + 0.2, [crit[n]["bic"] for n in names], 0.4, label="BIC", color="0.7")
    a.set_xticks(xs, names)
    a.set_ylabel("information criterion (lower is better)")
    a.set_title("(a) AIC = chi² + 2k and BIC = chi² + k ln n")
    a.legend()
    w = fit.weights
    b.bar(xs, [w[n] for n in names], color=[law_color(n) for n in names])
    for x, n in zip(xs, names):
        b.text(x, w[n], f"{w[n]:.3f}", ha="center", va="bottom", fontsize=8)
    b.set_xticks(xs, names)
    b.set_ylabel(f"{fit.criterion.upper()} weight (model probability)")
    b.set_title("(b) Weights (eq. 7); they sum to 1")
    fig.tight_layout()
    return fig


def figure_per_benchmark(fits: dict[str, AveragedFit], intervals: dict | None = None,
                         note: str | None = None):
    """Figure 7: the model-averaged prediction with its 95% interval against size, one curve
    per benchmark (or group). ``intervals[label]`` = (sizes, lo, hi) overrides ±1.96 SD."""
    fig, ax = new_figure(figsize=(7.5, 4.6))
    colors = colormap("tab10")(np.linspace(0, 1, 10))
    unit = next(iter(fits.values())).size_unit
    shown = []  # means and data: the y-range, so that one runaway interval does not hide all
    for i, (label, fit) in enumerate(fits.items()):
        t = fit.table
        grid = np.geomspace(t.size.min(), max(t.size.max() * 60, 405 if unit == "B" else 0), 120)
        pred = fit.predict(grid)
        shown += [pred.mean, t.value - t.se, t.value + t.se]
        c = colors[i % 10]
        if intervals and label in intervals:
            gs, lo, hi = intervals[label]
            ax.fill_between(gs, lo, hi, color=c, alpha=0.15)
        else:
            ax.fill_between(grid, pred.mean - Z95 * pred.sd, pred.mean + Z95 * pred.sd,
                            color=c, alpha=0.15)
        ax.plot(grid, pred.mean, color=c, label=f"{label}")
        ax.errorbar(t.size, t.value, yerr=t.se, fmt="o", color=c, ms=4, capsize=2)
    lo, hi = np.nanmin(np.concatenate(shown)), np.nanmax(np.concatenate(shown))
    pad = max(hi - lo, 1.0)
    ylim = (lo - 0.6 * pad, hi + 0.6 * pad)
    if ax.get_ylim()[0] < ylim[0] or ax.get_ylim()[1] > ylim[1]:
        ax.set_ylim(*ylim)
        note = ((note + "; ") if note else "") + "intervals run beyond the plotted range"
    _size_axis(ax, unit)
    ax.set_ylabel("gain (percentage points)")
    ax.set_title("Model-averaged prediction per benchmark, 95% interval")
    ax.legend(fontsize=8, loc="upper left")
    if note:
        ax.text(0.99, 0.02, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
                color="0.3", wrap=True)
    fig.tight_layout()
    return fig


def figure_bootstrap(boot, size: float = 70.0):
    """Figure 5: (a) bootstrap 95% percentile interval and mean of every law and of the model
    average at ``size``; (b) the interval widths side by side (the scaling paper, section 2.5)."""
    j = int(np.argmin(np.abs(np.log(boot.sizes / size))))
    names = [n for n in boot.laws if n not in boot.skipped] + ["average"]
    summ = {n: (boot.average_summary() if n == "average" else boot.law_summary(n))[j]
            for n in names}
    colors = [AVERAGE_COLOR if n == "average" else law_color(n) for n in names]
    labels = ["model average" if n == "average" else n for n in names]
    unit = boot.size_unit
    fig, (a, b) = new_figure(1, 2, figsize=(11, 4.2))
    ys = np.arange(len(names))
    for y, n, c in zip(ys, names, colors):
        lo, hi = summ[n]["ci95"]
        a.plot([lo, hi], [y, y], color=c, lw=3)
        a.plot(summ[n]["mean"], y, "o", color=c, mfc="white", ms=7)
        a.text(hi, y + 0.18, f" {summ[n]['mean']:.1f} [{lo:.1f}, {hi:.1f}]", fontsize=8)
    a.set_yticks(ys, labels)
    a.invert_yaxis()
    a.set_xlabel(f"predicted gain at {boot.sizes[j]:g} {unit} (pp)")
    a.set_title(f"(a) bootstrap mean and {100 * boot.level:.0f}% CI, "
                f"{boot.n_replicates} replicates")
    widths = [summ[n]["ci95"][1] - summ[n]["ci95"][0] for n in names]
    b.bar(ys, widths, color=colors)
    b.set_xticks(ys, labels, rotation=20)
    b.set_ylabel(f"width of the {100 * boot.level:.0f}% CI (pp)")
    b.set_title("(b) interval width: the average carries the structural uncertainty")
    fig.tight_layout()
    return fig


def figure_forecast(table, curve, reference=None, forecast=None):
    """The answer first: the data (± 1 SE), the forecast's median with its 68% and 95% bands
    beyond the largest measured size (``curve``, a predictive on a grid of sizes), the reference
    forecast's median (persistence: the value at the largest size stays) and, where given, the
    forecast at the requested sizes (``forecast``) as points with 95% bars."""
    from scalefit.report.text import VALUE_UNITS, method_heading

    unit = VALUE_UNITS[table.kind]
    fig, ax = new_figure(figsize=(8, 4.8))
    grid = np.asarray(curve.sizes, float)
    for level, alpha in ((0.95, 0.18), (0.68, 0.35)):
        lo, hi = curve.interval(level)
        ax.fill_between(grid, lo, hi, color="#1f77b4", alpha=alpha, lw=0,
                        label=f"{level:.0%} interval")
    title = method_heading(curve.method)[0]
    ax.plot(grid, curve.median, color="#1f77b4", lw=2, label=f"median: {title}")
    if reference is not None:
        ax.plot(reference.sizes, reference.median, color="0.3", ls="--", lw=1.3,
                label=method_heading(reference.method)[0])
    if forecast is not None:
        lo, hi = forecast.interval(0.95)
        ax.errorbar(forecast.sizes, forecast.median, yerr=[forecast.median - lo,
                                                           hi - forecast.median],
                    fmt="D", color="#1f77b4", mfc="white", capsize=4, ms=6, zorder=4)
        for size, m in zip(forecast.sizes, forecast.median):
            ax.annotate(f"{m:.1f}", (size, m), xytext=(6, 4), textcoords="offset points",
                        fontsize=8)
    ax.errorbar(table.size, table.value, yerr=table.se, fmt="o", color="black", ms=5,
                capsize=3, label="measured ± 1 SE", zorder=5)
    ax.axvspan(table.size.max(), grid.max() * 1.05, color="0.94", zorder=0)
    _size_axis(ax, table.size_unit)
    ax.set_ylabel(f"{table.kind} ({unit})")
    ax.set_title(f"Forecast of {Path(table.source).name}", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig
