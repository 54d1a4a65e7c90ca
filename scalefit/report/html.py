"""The report as one self-contained HTML page (``report.html``), from results already computed.

``write_html_report`` takes the gain table, the files ``write_report`` wrote (their PNG figures
are embedded as base64, their CSV tables rendered as HTML tables, captions taken from the
report's ``index.md``) and the forecast the report computed, with its reference (persistence).
It fits nothing itself. The page shows, in this order: the forecast (its table, notes and
figure), the bootstrap's model-averaged predictions, the data and its provenance, then every
other figure and table.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from scalefit import __version__
from scalefit.data import GainTable
from scalefit.io import atomic_write_text
from scalefit.report.text import VALUE_NAMES, VALUE_UNITS, method_heading

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 80rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { margin-top: 2rem; font-size: 1.25rem; }
.lead { color: #555; margin-top: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(40rem, 1fr));
           gap: 1.5rem; }
figure { margin: 0; } figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .caption { color: #444; font-size: 0.92rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; word-break: break-all; }
"""


def captions_from_index(index: Path) -> dict[str, str]:
    """``{file stem: caption}`` from the ``| `name.*` | caption |`` rows of a report's index.md."""
    rows = re.findall(r"^\| `([^`]+)\.\*` \| (.*) \|$", index.read_text(encoding="utf-8"),
                      flags=re.MULTILINE)
    return dict(rows)


def html_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A frame as an HTML table (numbers to ``digits`` decimals), scrollable when wide."""
    body = frame.to_html(index=False, border=0, na_rep="–",
                         float_format=lambda v: f"{v:.{digits}f}")
    return f'<div class="scroll">{body}</div>'


def forecast_frame(forecast, table: GainTable, reference=None) -> pd.DataFrame:
    """Size, median and the 68% and 95% intervals of a forecast (and the reference forecast's
    median and 95% interval beside it), as text."""
    unit = VALUE_UNITS[table.kind]
    lo68, hi68 = forecast.interval(0.68)
    lo95, hi95 = forecast.interval(0.95)
    frame = pd.DataFrame({
        "size": [f"{s:g} {table.size_unit}" for s in forecast.sizes],
        f"median ({unit})": [f"{m:.2f}" for m in forecast.median],
        "68% interval": [f"[{a:.2f}, {b:.2f}]" for a, b in zip(lo68, hi68)],
        "95% interval": [f"[{a:.2f}, {b:.2f}]" for a, b in zip(lo95, hi95)],
    })
    if reference is not None:
        rlo, rhi = reference.interval(0.95)
        frame[f"{reference.method} ({unit})"] = [f"{m:.2f}" for m in reference.median]
        frame["its 95% interval"] = [f"[{a:.2f}, {b:.2f}]" for a, b in zip(rlo, rhi)]
    return frame


def provenance(table: GainTable) -> list[tuple[str, str]]:
    """(label, value) pairs saying where the data came from and how it was read."""
    items = [("source", table.source), ("points", str(len(table))),
             ("sizes", f"{table.size.min():g}–{table.size.max():g} {table.size_unit} "
                       f"({table.unit_label})"),
             ("gains", "percentage points (pp) ± standard error")]
    source = Path(table.source)
    if source.is_file():
        data = source.read_bytes()
        modified = datetime.fromtimestamp(source.stat().st_mtime, timezone.utc)
        items += [("file SHA-256", hashlib.sha256(data).hexdigest()),
                  ("file", f"{len(data):,} bytes, modified {modified:%Y-%m-%d %H:%M} UTC")]
    items += [("note", n) for n in table.notes]
    items.append(("generated", f"scalefit {__version__}, "
                               f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"))
    return items


def _figure(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    text = html.escape(caption)
    return (f'<figure id="{path.stem}"><img src="data:image/png;base64,{data}" alt="{text}">'
            f"<figcaption>{text}</figcaption></figure>")


def render_html(table: GainTable, written: list[Path], forecast=None, reference=None) -> str:
    """The page's HTML text (see the module docstring)."""
    paths = [Path(p) for p in written]
    index = next((p for p in paths if p.name == "index.md"), None)
    captions = captions_from_index(index) if index is not None else {}
    unit = table.size_unit
    parts = [f"<h1>scalefit report: {html.escape(Path(table.source).name)}</h1>",
             f'<p class="lead">{len(table)} points, sizes {table.size.min():g}–'
             f"{table.size.max():g} {unit}; {VALUE_NAMES[table.kind]}</p>"]
    opening = next((p for p in paths if p.name == "forecast.png"), None)
    if forecast is not None:
        title, summary = method_heading(forecast.method)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in forecast.notes)
        parts += [f"<h2>Forecast: {html.escape(title)}</h2>",
                  f'<p class="caption">{html.escape(summary)} (method '
                  f"<code>{html.escape(forecast.method)}</code>, docs/calibration.md); the "
                  "median with 68% and 95% intervals, inside the values' possible range, and "
                  f"{html.escape(reference.method if reference is not None else '')} beside "
                  "it.</p>",
                  html_table(forecast_frame(forecast, table, reference)),
                  f"<ul>{notes}</ul>" if notes else ""]
        if opening is not None:
            parts.append(_figure(opening, captions.get(opening.stem, opening.stem)))
    bootstrap = next((p for p in paths if p.name == "predictions_bootstrap.csv"), None)
    if bootstrap is not None:
        preds = pd.read_csv(bootstrap)
        parts += ["<h2>The scaling paper's model average (bootstrap)</h2>",
                  html_table(preds[preds["model"] == "average"], digits=2)]
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                   for k, v in provenance(table))
    parts += ["<h2>Data and provenance</h2>", f"<dl>{rows}</dl>",
              html_table(table.to_frame())]
    figures = [_figure(p, captions.get(p.stem, p.stem)) for p in paths
               if p.suffix == ".png" and p != opening]
    parts += ["<h2>Figures</h2>", f'<div class="figures">{"".join(figures)}</div>']
    parts.append("<h2>Tables</h2>")
    for p in (p for p in paths if p.suffix == ".csv"):
        parts += [f'<h3 id="{p.stem}">{html.escape(captions.get(p.stem, p.stem))}</h3>',
                  html_table(pd.read_csv(p))]
    title = html.escape(f"scalefit report: {table.source}")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def write_html_report(table: GainTable, out_dir, written: list[Path], forecast=None,
                      reference=None) -> Path:
    """Write ``out_dir/report.html`` atomically from the report's files; return its path."""
    path = Path(out_dir) / "report.html"
    atomic_write_text(path, render_html(table, written, forecast, reference))
    return path
