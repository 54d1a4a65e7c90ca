"""Plain-text tables of fit results, as the CLI prints them."""

from __future__ import annotations

import textwrap

import numpy as np

from scalefit.core.average import AveragedFit, AveragedPrediction


def fmt(value: float, digits: int = 3) -> str:
    """A number with ``digits`` significant decimals, or "–" when missing."""
    if value is None or not np.isfinite(value):
        return "–"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}" if abs(value) < 100 else f"{value:.1f}"


def wrap(text: str, indent: str = "") -> str:
    """``text`` wrapped at 100 columns, continuation lines indented by ``indent``."""
    return textwrap.fill(text, 100, subsequent_indent=indent, break_on_hyphens=False)


def _table(header: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,)) -> str:
    """Columns padded to width; those in ``left`` left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(r):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in rows])


VALUE_UNITS = {"gain": "pp", "accuracy": "%", "loss": "loss"}
VALUE_NAMES = {"gain": "gains in percentage points (pp)", "accuracy": "accuracies in %",
               "loss": "losses"}


def format_table_header(table) -> str:
    """One line on the table (points, sizes, what its values are) and its notes."""
    lines = [f"{table.source}: {len(table)} points, sizes {table.size.min():g}–"
             f"{table.size.max():g} {table.size_unit} ({table.unit_label}); "
             f"{VALUE_NAMES[table.kind]}"]
    return "\n".join(lines + [f"  note: {n}" for n in table.notes])


def method_heading(name: str) -> tuple[str, str]:
    """(title, one-line summary) a registered method gives of itself, the title marked when it
    is the default forecast; the name for others."""
    from scalefit.methods import DEFAULT_METHOD, METHODS, get_method

    if name not in METHODS and name != "paper":
        return name, ""
    method = get_method(name)
    return method.title + (" (the default)" if method.name == DEFAULT_METHOD else ""), \
        method.summary


def format_forecast(pred, table, reference=None) -> str:
    """Answer first: the forecast per size (median, 68% and 95% intervals) with a reference
    forecast (persistence) beside it, then the method's notes."""
    unit = VALUE_UNITS[table.kind]
    title, summary = method_heading(pred.method)
    lo68, hi68 = pred.interval(0.68)
    lo95, hi95 = pred.interval(0.95)
    header = ["size", f"median ({unit})", "68% interval", "95% interval"]
    if reference is not None:
        rlo, rhi = reference.interval(0.95)
        header += [f"{reference.method} ({unit})", "its 95% interval"]
    rows = []
    for j, size in enumerate(pred.sizes):
        row = [f"{size:g} {table.size_unit}", fmt(pred.median[j], 2),
               f"[{fmt(lo68[j], 2)}, {fmt(hi68[j], 2)}]", f"[{fmt(lo95[j], 2)}, {fmt(hi95[j], 2)}]"]
        if reference is not None:
            row += [fmt(reference.median[j], 2), f"[{fmt(rlo[j], 2)}, {fmt(rhi[j], 2)}]"]
        rows.append(row)
    lines = [wrap(f"Forecast: {title}" + (f": {summary}" if summary else "")
                  + " (docs/calibration.md)"), "", _table(header, rows)]
    lines += [wrap(f"  note: {n}", "    ") for n in pred.notes]
    return "\n".join(lines)


def format_fit(fit: AveragedFit, sizes) -> str:
    """The scaling paper's recipe: each law's fit (Table 1), then each law's prediction and the
    model average with eq. 9's parts at ``sizes``."""
    pred = fit.predict(sizes)
    title = [f"Scaling laws (the scaling paper's recipe: weighted least squares, eq. 1-5; "
             f"{fit.criterion.upper()} weights, eq. 7; model average, eq. 8-9)"]
    title += [f"  note: {n}" for n in fit.notes]
    return "\n\n".join(["\n".join(title), format_laws(fit), format_predictions(fit, pred)])


def format_laws(fit: AveragedFit) -> str:
    """Table 1 of the scaling paper: parameters ± SE, chi², AIC, AICc, BIC and weight per law."""
    weights = fit.weights
    rows = []
    for name, f in fit.fits.items():
        crit = f.criteria
        if f.converged:
            params = ", ".join(f"{p} = {fmt(v, 4)} " + ("at bound" if p in f.at_bound
                                                         else f"± {fmt(s, 3)}")
                               for p, v, s in zip(f.spec.params, f.params, f.param_se))
        else:
            params = f"{f.status}: {f.message}"
        rows.append([name, str(f.k), fmt(f.chi2), fmt(crit["aic"]), fmt(crit["aicc"]),
                     fmt(crit["bic"]), fmt(weights[name]), params])
    header = ["law", "k", "chi2", "AIC", "AICc", "BIC", "weight", "parameters ± SE"]
    return _table(header, rows, left=(0, len(header) - 1))


def format_predictions(fit: AveragedFit, pred: AveragedPrediction) -> str:
    """Each law's prediction ± delta-method SD, then the model average with eq. 9's parts."""
    unit = fit.table.size_unit
    header = [f"prediction ({VALUE_UNITS[fit.table.kind]})", "weight"] + [
        f"{s:g} {unit}" for s in pred.sizes]
    rows = []
    for i, name in enumerate(pred.laws):
        rows.append([name, fmt(pred.weights[i])] +
                    [f"{fmt(m, 2)} ± {fmt(s, 2)}" for m, s in zip(pred.law_mean[i], pred.law_sd[i])])
    rows.append(["model average", "1.000"] +
                [f"{fmt(m, 2)} ± {fmt(s, 2)}" for m, s in zip(pred.mean, pred.sd)])
    rows.append(["  within-model SD", ""] + [fmt(v, 2) for v in pred.within_sd])
    rows.append(["  between-model SD", ""] + [fmt(v, 2) for v in pred.between_sd])
    return _table(header, rows)


def _interval(summary: dict) -> str:
    lo, hi = summary["ci95"]
    return f"{fmt(summary['mean'], 2)} [{fmt(lo, 2)}, {fmt(hi, 2)}]"


def format_bootstrap(result) -> str:
    """Bootstrap table (the scaling paper, section 2.5): each law's and the model-averaged mean and
    percentile interval per size, with the replicates whose refit failed.

    ``result`` is a ``scalefit.methods.bootstrap.BootstrapResult``.
    """
    unit = result.size_unit
    level = f"{100 * result.level:g}%"
    failed = result.failed
    header = ["bootstrap (pp)", "failed"] + [f"{s:g} {unit}: mean [{level} CI]"
                                             for s in result.sizes]
    rows = []
    for name in result.laws:
        if name in result.skipped:
            rows.append([name, "skipped"] + ["–"] * len(result.sizes))
            continue
        rows.append([name, str(failed[name])] + [_interval(s) for s in result.law_summary(name)])
    rows.append(["model average", str(failed["average"])] +
                [_interval(s) for s in result.average_summary()])
    retried = sum(result.retried.values())
    title = (f"Parametric bootstrap: {result.n_replicates} replicates (noise scaled by each SE "
             f"{'around the observed gains' if result.scheme == 'data' else 'around the fitted model average'}"
             f"; seed {result.seed}), every law refitted and {result.criterion.upper()} weights "
             f"recomputed per replicate; percentile intervals"
             + (f"; {retried} refit(s) needed the scipy fallback" if retried else "")
             + (f"; {result.seconds:.2f} s" if np.isfinite(result.seconds) else ""))
    return title + "\n\n" + _table(header, rows)


def format_mcmc(result) -> str:
    """MCMC table: per law the convergence diagnostics (max R-hat, min bulk and tail ESS), its
    mixture weight and the posterior mean [95% interval] per size; then the model average and
    any convergence or LOO warnings. ``result`` is a ``scalefit.methods.mcmc.MCMCResult``."""
    unit = result.size_unit
    header = (["MCMC (pp)", "steps", "R-hat", "ESS bulk", "ESS tail", "weight"]
              + [f"{s:g} {unit}: mean [95% CI]" for s in result.sizes])
    rows = []
    for name, post in result.posteriors.items():
        rows.append([name, str(post.n_steps), f"{post.rhat_max:.3f}", f"{post.ess_bulk_min:.0f}",
                     f"{post.ess_tail_min:.0f}", fmt(result.weights.get(name, 0.0))]
                    + [_interval(s) for s in result.law_predictions(name)])
    rows.append(["model average", "", "", "", "", "1.000"]
                + [_interval(s) for s in result.average_predictions()])
    first = next(iter(result.posteriors.values()))
    title = (f"MCMC posteriors (emcee, {first.n_walkers} walkers, first {first.n_burn} steps "
             f"discarded, seed {result.seed}; uniform priors), model-averaged as a mixture with "
             f"{result.weights_method} weights; converged = R-hat <= 1.01 and ESS >= 400")
    lines = [title, "", _table(header, rows)]
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)


# --- analyses: decomposition, synthetic validation, backtest, experiment design ----------------

def format_decomposition(result, check: dict | None = None) -> str:
    """The decomposition (the scaling paper, Table 2) with its identifiability diagnostics.

    ``result`` is a ``scalefit.studies.decompose.Decomposition``; ``check`` an optional
    ``scalefit.studies.decompose.paper_check`` dict, printed after it.
    """
    from scalefit.studies.decompose import COMPONENTS, PARAMS

    unit = result.size_unit
    lines = [f"Gain decomposition (eq. 10-13): Δ = α N^β + γ (1 − e^(−N/N_char)) + δ ln(1 + η N), "
             f"fitted by WLS ({result.n} points, 6 parameters, {result.n_starts} polished starts "
             f"after a grid over β, N_char, η); sizes in {unit}, gains in pp", ""]
    params = ", ".join(f"{p} = {fmt(v, 4)}" for p, v in zip(PARAMS, result.params))
    lines.append(f"best fit: {params}; chi2 = {fmt(result.chi2, 4)}"
                 + (f"  [at bound: {', '.join(result.at_bound)}]" if result.at_bound else ""))
    lines.append("")
    header = ["size", "dist. match", "dark know.", "regular.", "total", "observed",
              "shares DM/DK/Reg"]
    rows = []
    for i, s in enumerate(result.sizes):
        sh = result.shares[:, i]
        rows.append([f"{s:g}"] + [fmt(result.components[j, i], 2) for j in range(3)]
                    + [fmt(result.total[i], 2), fmt(result.observed[i], 2),
                       " / ".join(f"{v:.2f}" if np.isfinite(v) else "–" for v in sh)])
    lines.append(_table(header, rows))
    lines.append("")
    verdict = "IDENTIFIED" if result.identifiable else "NOT IDENTIFIED"
    lines.append(f"identifiability: {verdict}")
    lines += [f"  - {r}" for r in result.reasons]
    sv = result.jacobian_singular_values
    lines.append("  whitened Jacobian singular values: " + ", ".join(f"{v:.3g}" for v in sv))
    alt = result.alternatives_frame()
    if len(alt):
        lines.append("")
        lines.append(f"equally good fits (Δchi² ≤ 1), shares at {result.share_size:g} {unit}:")
        key = [c for c in alt.columns if c.startswith("total_at_")][0]
        rows = [[fmt(r["chi2"], 3)] + [f"{r[f'share_{c}']:.2f}" for c in COMPONENTS]
                + [fmt(r[key], 1), ", ".join(f"{p} = {fmt(r[p], 3)}" for p in PARAMS)]
                for _, r in alt.iterrows()]
        lines.append(_table(["chi2", "DM", "DK", "Reg", f"total@{result.share_size:g}",
                             "parameters"], rows, left=(5,)))
    if result.profile is not None:
        p = result.profile
        lines.append("")
        lines.append(f"profile likelihood of each share at {p.size:g} {unit} (Δchi² = min chi² "
                     "with the share fixed − best chi²):")
        picks = [0, len(p.share) // 4, len(p.share) // 2, 3 * len(p.share) // 4, len(p.share) - 1]
        header = ["component"] + [f"share {p.share[k]:.2f}" for k in picks] + ["95% set"]
        rows = [[c] + [f"{p.delta_chi2[j, k]:.2f}" for k in picks]
                + [f"[{p.interval[c][0]:.2f}, {p.interval[c][1]:.2f}]"]
                for j, c in enumerate(COMPONENTS)]
        lines.append(_table(header, rows))
    if result.posterior is not None:
        post = result.posterior
        k = int(np.argmin(np.abs(post.sizes - result.share_size)))
        med, ci, pri = post.median(), post.interval(), post.interval(prior=True)
        tot = post.total_interval()
        lines.append("")
        lines.append(f"posterior (emcee, {post.n_walkers} walkers × {post.n_steps} steps, max τ = "
                     f"{np.max(post.tau):.0f}, {'converged' if post.converged else 'NOT converged'}"
                     f"): shares at {post.sizes[k]:g} {unit}, median [95% interval] vs the prior's "
                     "95% interval")
        rows = [[c, f"{med[j, k]:.2f} [{ci[0, j, k]:.2f}, {ci[1, j, k]:.2f}]",
                 f"[{pri[0, j, k]:.2f}, {pri[1, j, k]:.2f}]"] for j, c in enumerate(COMPONENTS)]
        lines.append(_table(["component", "posterior", "prior"], rows))
        lines.append(f"  total gain at {post.sizes[k]:g} {unit}: median {tot[1, k]:.1f} pp, 95% "
                     f"interval [{tot[0, k]:.1f}, {tot[2, k]:.1f}]")
    lines += [f"  note: {n}" for n in result.notes]
    if check is not None:
        lines += ["", format_paper_check(check)]
    return "\n".join(lines)


def format_paper_check(check: dict) -> str:
    """The paper's decomposition (section 3.4, Table 2) against the data and itself."""
    st = check["stated"]
    t2 = check["table2"]
    imp = check["implied"]
    lines = [f"The paper's decomposition: stated β = {st['beta']}, N_char = {st['N_char']}, "
             f"δ = {st['delta']}, η = {st['eta']}"]
    rows = []
    for i, r in t2.iterrows():
        rows.append([f"{r['size']:g}", f"{r['distribution_match']:.2f}",
                     f"{r['dark_knowledge']:.2f}", f"{r['regularization']:.2f}",
                     f"{r['total']:.2f}", f"{imp['regularization_stated'][i]:.2f}",
                     f"{imp['alpha_implied'][i]:.3f}", f"{imp['gamma_implied'][i]:.3f}",
                     f"{imp['eta_implied_with_delta'][i]:.3f}"])
    lines.append(_table(["size", "DM", "DK", "Reg", "total", "δ ln(1+ηN) stated",
                         "α implied", "γ implied", f"η implied (δ={st['delta']:g})"], rows))
    both = check["table2_vs_observed"]
    lines.append("  Table 2 totals vs observed: " + ", ".join(
        f"{r['size']:g} B {r['total']:.2f} vs {r['observed']:.2f} ± {r['se']:.2f}"
        for _, r in both.iterrows()) + f"  → chi² = {check['chi2_table2_totals']:.1f} on "
        f"{len(both)} points")
    tb = check["theta_stated_best_alpha_gamma"]
    comp = check["components_stated_best_alpha_gamma"]
    beyond = [i for i, size in enumerate(check["component_sizes"]) if size >= 8]  # 8 B and up
    at = " / ".join(f"{check['component_sizes'][i]:g}" for i in beyond)
    lines.append(f"  stated β, N_char, δ, η with the best α = {tb['alpha']:.3f}, γ = {tb['gamma']:.3f}: "
                 f"chi² = {check['chi2_stated_params_best_alpha_gamma']:.4f}; components at {at} "
                 "B: DM " + " / ".join(f"{comp[0, i]:.2f}" for i in beyond)
                 + ", DK " + " / ".join(f"{comp[1, i]:.2f}" for i in beyond)
                 + ", Reg " + " / ".join(f"{comp[2, i]:.2f}" for i in beyond)
                 + ", total " + " / ".join(f"{comp[:, i].sum():.2f}" for i in beyond))
    dm, reg = check["column_fit_distribution_match"], check["column_fit_regularization"]
    lines.append(f"  Table 2's DM column is best fit by α = {dm['alpha']:.3f}, β = {dm['beta']:.3f} "
                 f"(max residual {dm['max_abs_residual']:.2f}); its Reg column by δ = "
                 f"{reg['delta']:.2f}, η = {reg['eta']:.2f} (max residual "
                 f"{reg['max_abs_residual']:.2f}), not the stated δ = {st['delta']}, η = {st['eta']}")
    return "\n".join(lines)


def format_validation(result, per_size: bool = False) -> str:
    """Figure 4 as two tables (regime × method): MAPE (%) and coverage of the ``level``
    interval; averaged over the evaluation sizes, and per size with ``per_size``.
    ``result`` is a ``scalefit.studies.validate.ValidationResult``."""
    unit = result.size_unit
    sizes = ", ".join(f"{s:g}" for s in result.sizes)
    train = ", ".join(f"{s:g}" for s in result.train_sizes)
    lines = [f"Synthetic validation: {result.n_replicates} replicates per regime (seed "
             f"{result.seed}), fits on {train} {unit} with noise at the observed SEs, scored at "
             f"{sizes} {unit}"
             + (f"; bootstrap {result.n_boot} resamples per replicate" if result.n_boot else "")
             + (f"; {result.seconds:.1f} s" if np.isfinite(result.seconds) else "")]
    lines.append("truths (each law's fit to the table): " + "; ".join(
        f"{r} " + ", ".join(f"{s:g} {unit} = {v:.1f}" for s, v in zip(result.sizes,
                                                                     result.truth[g]))
        for g, r in enumerate(result.regimes)))
    level = f"{100 * result.level:.4g}%"
    blocks = [("MAPE (%)", "mape", lambda v: fmt(v, 1)),
              (f"coverage of the {level} interval (nominal {result.level:.3f})", "coverage",
               lambda v: fmt(v, 2))]
    for title, metric, f in blocks:
        targets = [None] + (list(result.sizes) if per_size else [])
        for size in targets:
            h = result.heatmap(metric, size)
            where = "averaged over sizes" if size is None else f"at {size:g} {unit}"
            lines += ["", f"{title}, {where}:"]
            rows = [[regime] + [f(v) for v in h.loc[regime]] for regime in h.index]
            lines.append(_table(["truth \\ method"] + list(h.columns), rows))
    failed = result.failed
    if failed.any():
        lines.append("")
        lines.append("replicates without a prediction: " + "; ".join(
            f"{r}/{m}: {failed[g, i]}" for g, r in enumerate(result.regimes)
            for i, m in enumerate(result.methods) if failed[g, i]))
    n = result.n_replicates * len(result.sizes)
    half = 2 * np.sqrt(result.level * (1 - result.level) / max(n, 1))
    lines.append("")
    lines.append(f"(coverage over {n} predictions per cell: ±{half:.3f} is a 2-SE binomial band "
                 "around nominal for independent predictions; the sizes of one replicate are "
                 "correlated, so the real band is wider)")
    return "\n".join(lines)


def format_backtest(result, points: bool = True) -> str:
    """Leave-future-out backtest: per held-out point and method, then the per-method summary.
    ``result`` is a ``scalefit.studies.backtest.BacktestResult``."""
    from scalefit.studies.backtest import level_key

    lines = [f"Leave-future-out backtest: {result.curves} curve(s)"
             + (f", {result.holdout} largest size(s) held out" if result.holdout else "")]
    lines += [f"  note: {n}" for n in result.notes]
    keys = [level_key(v) for v in result.levels]
    wide = level_key(max(result.levels))
    if points:
        ok = result.points
        header = ["curve", "method", "size", "truth", "mean", "error", "APE %"] + [
            f"{k}% interval" for k in keys]
        rows = []
        for _, r in ok.iterrows():
            if r["failed"]:
                rows.append([str(r["curve"]), r["method"], "", "", "", "", "", r["failed"]]
                            + [""] * (len(keys) - 1))
                continue
            rows.append([str(r["curve"]), r["method"], f"{r['size']:g}", fmt(r["truth"], 2),
                         fmt(r["mean"], 2), fmt(r["error"], 2), fmt(r["ape"], 1)]
                        + [f"[{fmt(r[f'lo{k}'], 2)}, {fmt(r[f'hi{k}'], 2)}]"
                           + ("" if r[f"in{k}"] else " miss") for k in keys])
        lines += ["", _table(header, rows, left=(0, 1))]
    s = result.summary()
    header = ["method", "points", "skill", "bias", "MAE", "median |err|", "MAPE %",
              "median APE %"] + [f"cover {k}%" for k in keys] + [f"{wide}% width", "int. score"]
    rows = [[r["method"], str(r["points"]), fmt(r.get("skill"), 2), fmt(r.get("bias"), 2),
             fmt(r.get("mae"), 2), fmt(r.get("median_abs_error"), 2), fmt(r.get("mape"), 1),
             fmt(r.get("median_ape"), 1)]
            + [fmt(r.get(f"coverage{k}"), 2) for k in keys]
            + [fmt(r.get(f"median_width{wide}"), 2), fmt(r.get(f"interval_score{wide}_abs"), 2)]
            for _, r in s.iterrows()]
    lines += ["", "summary (error = truth − prediction, pp; skill = median |error| ÷ "
                  "persistence's, < 1 beats it):", _table(header, rows)]
    return "\n".join(lines)


def format_design(result) -> str:
    """Next-experiment design (the scaling paper, section 2.4): both criteria per candidate, ranked.
    ``result`` is a ``scalefit.studies.design.DesignResult``."""
    unit = result.size_unit
    f = result.to_frame()
    lines = [f"Next experiment: which size to measure to shrink the model-averaged uncertainty at "
             f"{result.target:g} {unit} (now {result.current_mean:.2f} ± "
             f"{np.sqrt(result.current_var):.2f} pp, eq. 9), one new point with SE "
             f"{result.new_se:g} pp; cost {result.cost_label}",
             f"  {result.notes[0]}; seed {result.seed}"]
    order = np.argsort(-result.scores(), kind="stable")
    header = ["size", "cost", "exp. SD after", "reduction (pp²)", "± MC SE", "fraction",
              "per cost", "eq. 14 info", "normalized", "rank red.", "rank /cost", "rank eq.14"]
    rows = []
    for j in order:
        r = f.iloc[j]
        rows.append([f"{r['size']:g}", f"{r['cost']:.4g}", fmt(r["expected_sd"], 2),
                     fmt(r["reduction"], 2), fmt(r["reduction_se"], 2),
                     f"{r['reduction_fraction']:.3f}", fmt(r["reduction_per_cost"], 3),
                     fmt(r["info_value"], 2), f"{r['info_normalized']:.3f}",
                     str(int(r["rank_reduction"])), str(int(r["rank_reduction_per_cost"])),
                     str(int(r["rank_info_value"]))])
    lines += ["", f"ranked by {result.criterion}:", _table(header, rows)]
    lines.append("")
    lines.append("best: " + "; ".join(f"{c} → {result.ranking(c)[0]:g} {unit}"
                                      for c in ("reduction", "reduction_per_cost", "info_value")))
    lines.append("(eq. 14 is the laws' weighted disagreement at the candidate: it grows with size, "
                 "so its argmax is the largest candidate)")
    lines += [f"  note: {n}" for n in result.notes[1:]]
    return "\n".join(lines)


def format_lfo_skill(result, unit: str = "pp") -> str:
    """One paragraph: whether each method out-predicted the reference (persistence) in this
    table's own leave-future-out checks (``scalefit.studies.backtest.LFOSkill``)."""
    if result is None:
        return wrap("Leave-future-out check: too few sizes to test extrapolation on this table; "
                    "nothing here says any forecast beats 'the value stays as it is'.")
    e = result.median_abs_error
    ref = e[result.reference]
    names = {m: "the laws' average" if m == "average" else m for m in result.methods}
    if not ref > 0:
        verdict = {m: "" for m in result.methods}
    else:
        verdict = {m: f" (skill {result.skill(m):.2f}: "
                      + ("out-predicted" if result.skill(m) < 1 else "did NOT out-predict")
                      + f" {result.reference})" for m in result.methods}
    parts = ", ".join(f"{names[m]} {fmt(e[m], 2)}{verdict[m]}" for m in result.methods)
    text = (f"Leave-future-out check on this table ({result.origins} origin(s), {result.errors} "
            f"held-out point(s)), median |error|: {parts}; {result.reference} {fmt(ref, 2)} "
            f"{unit}. ")
    text += (f"{result.reference} was exact at every check (a flat curve): nothing can beat it "
             "here." if not ref > 0 else "With so few checks, weigh this against the "
             "real-curve backtests of docs/calibration.md.")
    return wrap(text)


def format_forecast_design(result) -> str:
    """Where to measure next for a forecast (``scalefit.studies.design.ForecastDesign``): its
    interval at the target now, and per candidate the expected width after one more point."""
    unit, size_unit = result.unit, result.size_unit
    title = method_heading(result.method)[0]
    level = f"{100 * result.level:.4g}%"
    lines = [wrap(f"Next experiment: which size to measure to shrink the {level} interval of the "
                  f"forecast at {result.target:g} {size_unit} ({title}); now "
                  f"{result.current_median:.2f} {unit}, {level} [{result.current_lo:.2f}, "
                  f"{result.current_hi:.2f}] (width {result.current_width:.2f}); one new point "
                  f"with SE {result.new_se:g} {unit}; cost {result.cost_label}"),
             wrap(f"  {result.notes[0]}; seed {result.seed}", "    ")]
    f = result.to_frame()
    header = ["size", "cost", "exp. width after", "± MC SE", "reduction", "fraction",
              "per cost", "rank red.", "rank /cost", "eq. 14 info"]
    rows = []
    for j in np.argsort(-result.scores(), kind="stable"):
        r = f.iloc[j]
        rows.append([f"{r['size']:g}", f"{r['cost']:.4g}", fmt(r["expected_width"], 2),
                     fmt(r["expected_width_se"], 2), fmt(r["reduction"], 2),
                     f"{r['reduction_fraction']:.3f}", fmt(r["reduction_per_cost"], 3),
                     str(int(r["rank_reduction"])), str(int(r["rank_reduction_per_cost"])),
                     fmt(r["info_value"], 2)])
    lines += ["", f"ranked by {result.criterion} (of the {level} width, {unit}):",
              _table(header, rows), ""]
    lines.append("best: " + "; ".join(f"{c} → {result.ranking(c)[0]:g} {size_unit}"
                                      for c in ("reduction", "reduction_per_cost")))
    lines.append(wrap("(eq. 14 info: the scaling paper's criterion, the laws' weighted "
                      "disagreement at the candidate, for reference; --method paper ranks by the "
                      "laws' eq. 9 variance)"))
    lines += [f"  note: {n}" for n in result.notes[1:]]
    return "\n".join(lines)
