"""Figures 3, 4 and 6 of the scaling paper drawn from the analyses' result objects (never refitting).

``figure_decomposition(Decomposition)``, ``figure_validation(ValidationResult)``,
``figure_design(DesignResult)`` and ``figure_calibration`` (the real-data backtest) each return a
matplotlib ``Figure``; write it with
``scalefit.report.figures.save_figure``.
"""

from __future__ import annotations

import numpy as np

from scalefit.data import UNIT_NAMES
from scalefit.report.figures import new_figure

COMPONENT_COLORS = {"distribution_match": "#d62728", "dark_knowledge": "#2ca02c",
                    "regularization": "#e6b800"}
COMPONENT_NAMES = {"distribution_match": "distribution match α N^β",
                   "dark_knowledge": "dark knowledge γ(1 − e^(−N/N_char))",
                   "regularization": "regularisation δ ln(1 + ηN)"}


def figure_decomposition(dec, observed=None):
    """Figure 3. (a) The best fit's components stacked against size, the data, and (if sampled)
    the posterior 95% band of the total; (b) each component's share at the reported sizes:
    posterior median and 95% interval next to the prior's 95% interval — where they coincide the
    data say nothing about the share. ``observed`` = (sizes, gains, ses) adds the data points."""
    from scalefit.studies.decompose import COMPONENTS, components

    unit = dec.size_unit
    fig, (a, b) = new_figure(1, 2, figsize=(12, 4.6))
    lo = min(dec.sizes.min(), np.nanmin(dec.x) if dec.x is not None else dec.sizes.min())
    grid = np.geomspace(lo / 1.5, dec.sizes.max() * 1.3, 300)
    comp = dec.curve(grid)
    a.stackplot(grid, comp, colors=[COMPONENT_COLORS[c] for c in COMPONENTS], alpha=0.75,
                labels=[COMPONENT_NAMES[c] for c in COMPONENTS])
    if dec.posterior is not None:
        tot = components(dec.posterior.theta, grid).sum(axis=1)
        q = np.nanquantile(tot, [0.025, 0.975], axis=0)
        a.fill_between(grid, q[0], q[1], color="0.3", alpha=0.15,
                       label="posterior 95% band of the total")
    if observed is None and dec.x is not None:
        observed = (dec.x, dec.y, dec.se)
    if observed is not None:
        a.errorbar(*observed, fmt="o", color="black", capsize=3, zorder=5, label="observed ± SE")
    a.set_xscale("log")
    a.set_yscale("symlog", linthresh=1.0)
    a.set_xlabel(f"model size ({UNIT_NAMES[unit]})")
    a.set_ylabel("gain (percentage points; log scale above 1)")
    a.set_title(f"(a) one best fit (chi² = {dec.chi2:.2g}; not unique)")
    a.legend(fontsize=7, loc="upper left")

    xs = np.arange(len(dec.sizes))
    width = 0.26
    for j, c in enumerate(COMPONENTS):
        off = (j - 1) * width
        if dec.posterior is not None:
            post = dec.posterior
            med, ci, pri = post.median(), post.interval(), post.interval(prior=True)
            b.bar(xs + off, pri[1, j] - pri[0, j], width * 0.9, bottom=pri[0, j],
                  color=COMPONENT_COLORS[c], alpha=0.2)
            b.errorbar(xs + off, med[j], yerr=[med[j] - ci[0, j], ci[1, j] - med[j]], fmt="o",
                       color=COMPONENT_COLORS[c], capsize=3, label=f"{c}: posterior median, 95%")
        b.plot(xs + off, dec.shares[j], "x", color="black", ms=5,
               label="best fit" if j == 0 else None)
    b.set_xticks(xs, [f"{s:g} {unit}" for s in dec.sizes])
    b.set_ylim(-0.02, 1.02)
    b.set_ylabel("share of the total gain")
    b.set_title("(b) component shares: posterior (bars: prior 95%)" if dec.posterior is not None
                else "(b) component shares of the best fit")
    b.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def _heatmap(ax, frame, title, fmt, cmap, vmin, vmax):
    im = ax.imshow(frame.to_numpy(float), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(frame.shape[1]), frame.columns, rotation=30, ha="right")
    ax.set_yticks(range(frame.shape[0]), [f"{r} truth" for r in frame.index])
    for i in range(frame.shape[0]):
        for j in range(frame.shape[1]):
            v = frame.iat[i, j]
            ax.text(j, i, fmt.format(v) if np.isfinite(v) else "–", ha="center", va="center",
                    fontsize=8, color="black")
    ax.set_title(title)
    return im


def figure_validation(val, size: float | None = None):
    """Figure 4: heat maps of (a) MAPE (%) and (b) coverage of the ``level`` interval, ground-truth
    regime × method, averaged over the evaluation sizes (or at one ``size``)."""
    mape, cov = val.heatmap("mape", size), val.heatmap("coverage", size)
    where = (f"averaged over {', '.join(f'{s:g}' for s in val.sizes)} {val.size_unit}"
             if size is None else f"at {size:g} {val.size_unit}")
    fig, (a, b) = new_figure(1, 2, figsize=(13, 4.2))
    im = _heatmap(a, mape, f"(a) MAPE (%), {where}; lower is better", "{:.1f}", "Reds", 0,
                  min(200, float(np.nanmax(mape.to_numpy()))))
    fig.colorbar(im, ax=a, fraction=0.04)
    im = _heatmap(b, cov, f"(b) coverage of the {100 * val.level:.4g}% interval "
                          f"(nominal {val.level:.3f})", "{:.2f}", "RdYlGn", 0, 1)
    fig.colorbar(im, ax=b, fraction=0.04)
    fig.suptitle(f"Synthetic validation: {val.n_replicates} replicates per regime, fitted on "
                 f"{', '.join(f'{s:g}' for s in val.train_sizes)} {val.size_unit}", fontsize=10)
    fig.tight_layout()
    return fig


def figure_design(des):
    """Figure 6: (a) the paper's information value (eq. 14, normalised) per candidate; (b) the
    expected fraction of the eq. 9 variance at the target removed by one new point there, with
    its Monte Carlo error, and that reduction per unit cost (right axis)."""
    unit = des.size_unit
    xs = np.arange(len(des.candidates))
    labels = [f"{c:g} {unit}" for c in des.candidates]
    fig, (a, b) = new_figure(1, 2, figsize=(12, 4.2))
    best = int(np.argmax(des.info_value))
    a.bar(xs, des.info_normalized, color=["#1f77b4" if i != best else "#d62728" for i in xs])
    a.set_xticks(xs, labels)
    a.set_ylabel("weighted disagreement (eq. 14), normalised")
    a.set_title("(a) paper's information value: grows with size")
    frac = des.reduction_fraction
    err = des.expected_var_se / des.current_var
    best = int(np.argmax(des.scores()))
    b.bar(xs, frac, yerr=2 * err, capsize=3,
          color=["#2ca02c" if i != best else "#d62728" for i in xs])
    b.set_xticks(xs, labels)
    b.set_ylim(min(0, float(np.nanmin(frac)) - 0.05), 1.05)
    b.set_ylabel(f"expected fraction of Var({des.target:g} {unit}) removed")
    b2 = b.twinx()
    b2.plot(xs, des.reduction_per_cost, "D-", color="black", ms=5, label="reduction per cost")
    b2.set_ylabel(f"reduction (pp²) per unit cost ({des.cost_label})")
    b2.legend(fontsize=7, loc="lower right")
    b.set_title(f"(b) one point with SE {des.new_se:g} pp: variance reduction at "
                f"{des.target:g} {unit}")
    fig.tight_layout()
    return fig


def figure_calibration(coverage: dict, highlight: str = "damped_trend"):
    """Calibration plot of the real-data backtest: observed against nominal coverage of central
    intervals, one panel per data set. ``coverage[name]`` is a DataFrame, methods × levels
    (``scalefit.studies.scoring.coverage_curve``)."""
    fig, axes = new_figure(1, len(coverage), figsize=(5.2 * len(coverage), 4.6), squeeze=False)
    for ax, (name, cov) in zip(axes[0], coverage.items()):
        for method, row in cov.iterrows():
            ax.plot(row.index, row.values, "o-", label=method, lw=2.5 if method == highlight else 1)
        ax.plot([0.4, 1], [0.4, 1], "k--", lw=0.8, label="perfect calibration")
        ax.set_xlabel("nominal coverage of the central interval")
        ax.set_ylabel("observed coverage of held-out points")
        ax.set_title(name)
        ax.set_xlim(0.45, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_skill(summaries: dict, metric: str = "skill", highlight: str = "damped_trend"):
    """Skill of every method on every corpus: ``summaries[corpus]`` is a
    ``scalefit.studies.scoring.summarise`` table; cells are its ``metric`` (median |error| /
    persistence's, < 1 beats persistence), coloured on a log scale around 1."""
    methods = list(dict.fromkeys(m for t in summaries.values() for m in t["method"]))
    values = np.array([[t.set_index("method")[metric].get(m, np.nan) for t in summaries.values()]
                       for m in methods], float)
    fig, ax = new_figure(figsize=(1.6 * len(summaries) + 3.5, 0.32 * len(methods) + 1.4))
    logv = np.log2(np.clip(values, 1 / 8, 8))
    im = ax.imshow(logv, cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    for i, m in enumerate(methods):
        for j in range(len(summaries)):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(logv[i, j]) > 1.2 else "black",
                        fontweight="bold" if m == highlight else "normal")
    ax.set_xticks(range(len(summaries)), list(summaries))
    ax.set_yticks(range(len(methods)), [f"▶ {m}" if m == highlight else m for m in methods],
                  fontsize=8)
    ax.set_title(f"{metric}: median |error| ÷ persistence's (blue: beats persistence)",
                 fontsize=9)
    fig.colorbar(im, ax=ax, label="log2 skill", shrink=0.8)
    fig.tight_layout()
    return fig
