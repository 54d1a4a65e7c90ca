"""Figures of the runner's gain tables (``gains_all.csv``): gain vs size per richness level."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.report.figures import Z95, colormap, new_figure
from scalefit.runner.schema import COMPARISON, COMPARISONS, FILES, SPLIT, SPLITS


def figure_gain_by_richness(rows: pd.DataFrame):
    """Gain (pp, ±1.96 SE) vs parameters, one line per reference-richness level; rows of panels
    are the comparisons, columns the evaluation splits. Filled markers are the distillable rows
    (the ones in ``gains.csv``); hollow ones were measured but the teacher had nothing to teach."""
    comps = [c for c in COMPARISONS if c in set(rows[COMPARISON])]
    splits = [s for s in SPLITS if s in set(rows[SPLIT])]
    fig, axes = new_figure(len(comps), len(splits), figsize=(5.2 * len(splits), 3.6 * len(comps)),
                             sharex=True, squeeze=False)
    colors = colormap("viridis")(np.linspace(0.0, 0.85, max(1, rows["richness"].nunique())))
    for i, comp in enumerate(comps):
        for j, split in enumerate(splits):
            ax = axes[i, j]
            sub = rows[(rows[COMPARISON] == comp) & (rows[SPLIT] == split)]
            for color, (r, grp) in zip(colors, sub.groupby("richness")):
                grp = grp.sort_values("param_count")
                ax.errorbar(grp["param_count"], grp["gain"], yerr=Z95 * grp["se"], color=color,
                            marker="o", mfc="white", ls="-", capsize=3,
                            label=f"richness {r:g}")
                ok = grp[grp["distillable"].astype(bool)]
                ax.plot(ok["param_count"], ok["gain"], "o", color=color, zorder=3)
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_xscale("log")
            ax.set_title(f"{COMPARISONS[comp]}, {SPLITS[split]}", fontsize=10)
            if i == len(comps) - 1:
                ax.set_xlabel("model size (parameters)")
            if j == 0:
                ax.set_ylabel("gain (percentage points)")
    axes[0, 0].legend(title="reference richness\n(hollow: not distillable)", fontsize=8,
                      title_fontsize=8)
    bases = " and base models" if "n_bases" in rows and (rows["n_bases"] > 1).any() else ""
    fig.suptitle("OPSD gain vs model size per reference richness (±1.96 SE over problems, seeds"
                 f"{bases})", fontsize=11)
    fig.tight_layout()
    return fig


def write_gain_figure(out_dir) -> list:
    """``out_dir/gain_vs_size.png`` and ``.pdf`` from ``out_dir/gains_all.csv``."""
    from pathlib import Path

    from scalefit.report.figures import save_figure

    rows = pd.read_csv(Path(out_dir) / FILES["gains_all"])
    return save_figure(figure_gain_by_richness(rows), out_dir, "gain_vs_size")
