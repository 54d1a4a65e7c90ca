"""The paper's tables as DataFrames, written as CSV and Markdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.core.average import AveragedFit
from scalefit.io import atomic_write_csv, atomic_write_text


def table_model_selection(fit: AveragedFit) -> pd.DataFrame:
    """Table 1 of the scaling paper: k, chi², AIC, AICc, BIC and weight per law, best first."""
    weights = fit.weights
    rows = [{"law": name, "formula": f.spec.formula, "k": f.k, "chi2": f.chi2,
             **f.criteria, "weight": weights[name], "status": f.status}
            for name, f in fit.fits.items()]
    return pd.DataFrame(rows).sort_values("weight", ascending=False, ignore_index=True)


def to_markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (numbers rounded to ``digits`` decimals)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "–" if not np.isfinite(v) else f"{v:.{digits}f}"
        return str(v)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def write_table(frame: pd.DataFrame, out_dir: str | Path, name: str, digits: int = 3) -> list[Path]:
    """Write ``out_dir/name.csv`` and ``name.md``, each atomically."""
    out_dir = Path(out_dir)
    atomic_write_csv(out_dir / f"{name}.csv", frame)
    atomic_write_text(out_dir / f"{name}.md", to_markdown(frame, digits))
    return [out_dir / f"{name}.csv", out_dir / f"{name}.md"]
