"""Plain-text tables of fit results, as the CLI prints them."""

from __future__ import annotations

import numpy as np

from scalefit.average import AveragedFit, AveragedPrediction


def fmt(value: float, digits: int = 3) -> str:
    """A number with ``digits`` significant decimals, or "–" when missing."""
    if value is None or not np.isfinite(value):
        return "–"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}" if abs(value) < 100 else f"{value:.1f}"


def _table(header: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,)) -> str:
    """Columns padded to width; those in ``left`` left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(r):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in rows])


def format_header(fit: AveragedFit, title: str | None = None) -> str:
    t = fit.table
    lines = [title or f"{t.source}: {len(t)} points, sizes {t.size.min():g}–"
             f"{t.size.max():g} {t.size_unit} ({t.unit_label}); gains in percentage points "
             f"(pp); weights from {fit.criterion.upper()}"]
    lines += [f"  note: {n}" for n in t.notes + fit.notes]
    return "\n".join(lines)


def format_laws(fit: AveragedFit) -> str:
    """Table 1 of seed 000: parameters ± SE, chi², AIC, AICc, BIC and weight per law."""
    weights = fit.weights
    rows = []
    for name, f in fit.fits.items():
        crit = f.criteria
        if f.converged:
            params = ", ".join(f"{p} = {fmt(v, 4)} ± {fmt(s, 3)}"
                               for p, v, s in zip(f.spec.params, f.params, f.param_se))
            if f.at_bound:
                params += f"  [at bound: {', '.join(f.at_bound)}]"
        else:
            params = f"{f.status}: {f.message}"
        rows.append([name, str(f.k), fmt(f.chi2), fmt(crit["aic"]), fmt(crit["aicc"]),
                     fmt(crit["bic"]), fmt(weights[name]), params])
    header = ["law", "k", "chi2", "AIC", "AICc", "BIC", "weight", "parameters ± SE"]
    return _table(header, rows, left=(0, len(header) - 1))


def format_predictions(fit: AveragedFit, pred: AveragedPrediction) -> str:
    """Each law's prediction ± delta-method SD, then the model average with eq. 9's parts."""
    unit = fit.table.size_unit
    header = ["prediction (pp)", "weight"] + [f"{s:g} {unit}"
                                              for s in pred.sizes]
    rows = []
    for i, name in enumerate(pred.laws):
        rows.append([name, fmt(pred.weights[i])] +
                    [f"{fmt(m, 2)} ± {fmt(s, 2)}" for m, s in zip(pred.law_mean[i], pred.law_sd[i])])
    rows.append(["model average", "1.000"] +
                [f"{fmt(m, 2)} ± {fmt(s, 2)}" for m, s in zip(pred.mean, pred.sd)])
    rows.append(["  within-model SD", ""] + [fmt(v, 2) for v in pred.within_sd])
    rows.append(["  between-model SD", ""] + [fmt(v, 2) for v in pred.between_sd])
    return _table(header, rows)


def format_fit(fit: AveragedFit, sizes, title: str | None = None) -> str:
    pred = fit.predict(sizes)
    return "\n\n".join([format_header(fit, title), format_laws(fit), format_predictions(fit, pred)])
