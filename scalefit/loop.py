"""The closed loop: fit, choose the next size, run it, append the row, refit.

Each round of :func:`run_loop`:

1. reads the runner's table (``gains_all.csv`` in the loop's folder) at one reference richness,
   one split and one comparison (OPSD − SFT by default), keeping the distillable rows;
2. forecasts the gain at the ``target`` size (``scalefit.methods``, default ``DEFAULT_METHOD``,
   with the laws' eq. 9 beside it);
3. ranks the candidate sizes not yet run by the expected reduction of the forecast's 95%
   interval width at the target per unit of compute (``scalefit.studies.design.design_forecast``,
   criterion ``reduction_per_cost``; the cost of a size is the runner's estimate of its training
   FLOPs, ``compute_cost``). With fewer than three points there is no trend to weigh, so the
   cheapest candidate is run instead, and the round says so;
4. runs the runner at the chosen size (``run_sweep`` with the sizes run so far plus the new one:
   finished sizes load from their checkpoints), which appends its rows to the tables;
5. refits and records how the interval at the target moved.

The state lives in ``OUT/loop.json`` (written atomically after every step). A round is recorded
as ``running`` before its size is trained, so an interrupted loop resumes that size from its
checkpoints when rerun with the same options; a folder made with other settings is refused.
The budget counts rounds (``budget_runs``) or wall seconds of rounds (``budget_seconds``) over
every invocation; raising it and rerunning continues the same loop.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from scalefit.core.average import fit_laws
from scalefit.data import GainTable, load_gain_table
from scalefit.errors import ScalefitError
from scalefit.io import atomic_write_json
from scalefit.methods import DEFAULT_METHOD
from scalefit.runner.config import RunConfig, compute_cost, model_config, resolve_size, size_name
from scalefit.runner.schema import FILES, selected

STATE_FILE = "loop.json"
STATE_FORMAT = 1
# Below three points every two-parameter law interpolates exactly: no weights, no interval.
MIN_POINTS = 3


@dataclass(frozen=True)
class LoopSettings:
    """What the loop fits and how it chooses (the budget is not part of it: it may grow)."""

    candidates: tuple[str, ...]       # size names or shapes the loop may run next
    target: str                       # size whose predicted gain the loop wants to pin down
    richness: float = 0.0             # reference richness level fitted
    split: str = "id"                 # evaluation split fitted: id or ood
    baseline: str = "sft"             # the gain is OPSD − SFT ("sft") or OPSD − base ("base")
    interval: str = DEFAULT_METHOD    # predictive method of the reported interval
    n_sims: int = 200                 # simulations per candidate in the design criterion
    seed: int = 0


def n_params(cfg: RunConfig, size: str) -> int:
    return model_config(cfg, size).n_params()


def loop_table(out_dir, settings: LoopSettings) -> GainTable | None:
    """The distillable rows of ``gains_all.csv`` at the settings' richness, split and
    comparison, in millions of parameters, read as any gain table is; None before any size
    has a distillable row."""
    path = Path(out_dir) / FILES["gains_all"]
    if not path.exists():
        return None
    frame = pd.read_csv(path)
    rows = frame[selected(frame, settings.baseline, settings.split, settings.richness)
                 & frame["distillable"].astype(bool)].sort_values("size_m")
    if rows.empty:
        return None
    table = load_gain_table(rows.reset_index(drop=True))  # the baseline's accuracy bounds it
    table.source = str(path)
    return table


def interval_at(table: GainTable | None, target_m: float, method: str) -> dict | None:
    """The forecast at the target (median, 95% interval, its width) and eq. 9's model-averaged
    mean ± SD beside it; None with fewer than ``MIN_POINTS`` points."""
    from scalefit.methods import predictive

    if table is None or len(table) < MIN_POINTS:
        return None
    pred = predictive(table, [target_m], method)
    lo, hi = pred.interval(0.95)
    avg = fit_laws(table).predict([target_m])
    return {"points": len(table), "median": float(pred.median[0]),
            "ci95": [float(lo[0]), float(hi[0])], "width95": float(hi[0] - lo[0]),
            "eq9_mean": float(avg.mean[0]), "eq9_sd": float(avg.sd[0]), "method": method}


def choose_next(table: GainTable | None, cfg: RunConfig, remaining: list[str], target_m: float,
                settings: LoopSettings) -> dict:
    """The size to run next among ``remaining``, why, and the ranking behind the choice: the
    largest expected reduction of the forecast's 95% interval width at the target per FLOP
    (``scalefit.studies.design.design_forecast``)."""
    from scalefit.studies.design import design_forecast

    sizes_m = np.array([n_params(cfg, s) / 1e6 for s in remaining])
    costs = np.array([compute_cost(cfg, s) for s in remaining])
    if table is None or len(table) < MIN_POINTS:
        best = int(np.argmin(costs))
        have = 0 if table is None else len(table)
        return {"size": remaining[best], "params_m": float(sizes_m[best]),
                "cost_flops": float(costs[best]), "ranking": [],
                "reason": f"{have} distillable point{'s' * (have != 1)}: fewer than {MIN_POINTS}, "
                          "too few to weigh a trend, so the cheapest candidate is measured first"}
    result = design_forecast(table, sizes_m, target=target_m, method=settings.interval,
                             costs=costs, n_sims=settings.n_sims, seed=settings.seed,
                             criterion="reduction_per_cost")
    helps = np.nan_to_num(result.reduction, nan=-np.inf) > 0
    # per unit of compute among the candidates that help; if none does, the least harmful
    score = np.where(helps, result.reduction_per_cost, -np.inf) if helps.any() \
        else np.nan_to_num(result.reduction, nan=-np.inf)
    order = np.argsort(-score, kind="stable")
    best = int(order[0])
    ranking = [{"size": remaining[j], "params_m": float(sizes_m[j]), "cost_flops": float(costs[j]),
                "expected_width": float(result.expected_width[j]),
                "reduction_fraction": float(result.reduction_fraction[j]),
                "reduction_per_pflop": float(result.reduction[j] / costs[j] * 1e15)}
               for j in order]
    change = (f"{100 * result.reduction_fraction[best]:.3g}% of the 95% width for "
              f"{costs[best] / 1e12:.2f} TFLOP (width {result.current_width:.3g} → "
              f"{result.expected_width[best]:.3g} pp expected)")
    if len(remaining) == 1:
        reason = f"the only candidate left; expected reduction {change}"
    elif not helps.any():
        reason = ("no candidate is expected to narrow the interval at the target (a new noisy "
                  f"point can widen it); this one widens it least: expected reduction {change}")
    else:
        reason = ("largest expected reduction of the forecast's interval at the target per unit "
                  f"of compute: {change}")
        top = int(np.nanargmax(result.reduction))
        if best != top:
            reason += f"; {remaining[top]} would reduce it more, at a higher cost"
    return {"size": remaining[best], "params_m": float(sizes_m[best]),
            "cost_flops": float(costs[best]), "ranking": ranking, "reason": reason}


def _identity(cfg: RunConfig, settings: LoopSettings, initial: tuple[str, ...]) -> dict:
    return {"config": cfg.to_dict(), "settings": asdict(settings), "initial_sizes": list(initial)}


def load_state(out_dir, cfg: RunConfig, settings: LoopSettings, initial: tuple[str, ...]) -> dict:
    """The loop's state in ``out_dir`` (a new one if there is none); refuses a folder whose loop
    was made with other settings."""
    from scalefit.runner.sweep import settings_mismatch

    path = Path(out_dir) / STATE_FILE
    wanted = _identity(cfg, settings, initial)
    if not path.exists():
        return {"format": STATE_FORMAT, **wanted, "rounds": []}
    try:
        state = json.loads(path.read_text())
        saved = {k: state[k] for k in wanted}
    except (ValueError, KeyError, TypeError) as err:
        raise ScalefitError(f"{path} is not a scalefit loop state ({err}); use another --out") \
            from None
    if json.loads(json.dumps(wanted)) != saved:
        raise ScalefitError(f"{out_dir} holds a loop with other settings "
                            f"({settings_mismatch(saved, json.loads(json.dumps(wanted)))}); "
                            "use another --out, or the same options to continue it")
    return state


def budget_left(state: dict, budget_runs: int | None, budget_seconds: float | None) -> bool:
    done = [r for r in state["rounds"] if r["status"] == "done"]
    if budget_runs is not None and len(done) >= budget_runs:
        return False
    if budget_seconds is not None and sum(r["seconds"] for r in done) >= budget_seconds:
        return False
    return True


def _fmt_interval(iv: dict | None) -> str:
    if iv is None:
        return f"no interval yet (fewer than {MIN_POINTS} distillable points)"
    lo, hi = iv["ci95"]
    return (f"{iv['median']:.3g} pp, 95% [{lo:.3g}, {hi:.3g}] (width {iv['width95']:.3g}; "
            f"{iv['method']}, {iv['points']} points; the laws' eq. 9: {iv['eq9_mean']:.3g} ± "
            f"{iv['eq9_sd']:.3g})")


def run_loop(cfg: RunConfig, out_dir, settings: LoopSettings, *, budget_runs: int | None = None,
             budget_seconds: float | None = None, workers: int = 1, scheduler: str | None = None,
             checkpoint_dir=None, quiet: bool = False, echo: Callable[[str], None] = print) -> dict:
    """Run rounds until the budget is spent or no candidate is left; return the state.

    The config's own sizes are the initial table, run first (not counted in the budget).
    """
    from scalefit.report.figures_runner import write_gain_figure
    from scalefit.runner.sweep import run_sweep

    if budget_runs is None and budget_seconds is None:
        raise ScalefitError("give a budget: a number of rounds or a wall time")
    out_dir = Path(out_dir)
    initial = tuple(size_name(s) for s in cfg.sizes)
    candidates = [size_name(s) for s in settings.candidates]
    if settings.richness not in cfg.richness:
        raise ScalefitError(f"richness {settings.richness:g} is not run by this configuration "
                            f"(levels: {', '.join(f'{r:g}' for r in cfg.richness)})")
    target_m = n_params(cfg, settings.target) / 1e6
    state = load_state(out_dir, cfg, settings, initial)
    path = out_dir / STATE_FILE

    def save():
        atomic_write_json(path, state)

    def run_sizes():
        return [*initial, *(r["size"] for r in state["rounds"])]

    def sweep(sizes):
        return run_sweep(cfg, out_dir, sizes=sizes, workers=workers, scheduler=scheduler,
                         checkpoint_dir=checkpoint_dir, quiet=quiet,
                         command="scalefit loop")

    echo(f"target: {settings.target} ({target_m:.3f}M params); fitting OPSD − "
         f"{settings.baseline.upper() if settings.baseline == 'sft' else 'base'} on the "
         f"{settings.split} split at richness {settings.richness:g}")
    if not (out_dir / FILES["gains_all"]).exists() or not state.get("initial_done"):
        echo(f"initial table: {', '.join(initial)}")
        sweep(list(initial))
        state["initial_done"] = True
        save()

    while True:
        pending = state["rounds"][-1] if state["rounds"] and \
            state["rounds"][-1]["status"] == "running" else None
        if pending is None:
            if not budget_left(state, budget_runs, budget_seconds):
                echo("budget spent")
                break
            remaining = [c for c in candidates if c not in run_sizes()]
            if not remaining:
                echo("no candidate size left to run")
                break
            table = loop_table(out_dir, settings)
            before = interval_at(table, target_m, settings.interval)
            choice = choose_next(table, cfg, remaining, target_m, settings)
            pending = {"round": len(state["rounds"]) + 1, "status": "running", **choice,
                       "before": before, "seconds": 0.0}
            state["rounds"].append(pending)
            save()
        else:
            echo(f"resuming round {pending['round']} at {pending['size']}")
        n = pending["round"]
        echo(f"\nround {n}: now at the target: {_fmt_interval(pending['before'])}")
        for row in pending["ranking"][:5]:
            echo(f"  {row['size']:>9} {row['params_m']:8.4f}M  cost {row['cost_flops'] / 1e12:7.2f}"
                 f" TFLOP  expected 95% width after {row['expected_width']:8.3g} pp "
                 f"({-100 * row['reduction_fraction']:+.3g}%)")
        echo(f"  choice: {pending['size']} — {pending['reason']}")
        t0 = time.perf_counter()
        sweep(run_sizes())
        pending["seconds"] += time.perf_counter() - t0
        frame = pd.read_csv(out_dir / FILES["gains_all"])
        frame = frame[frame["size_name"] == pending["size"]]
        pending["rows"] = frame.to_dict("records")
        mine = frame[selected(frame, settings.baseline, settings.split,
                              settings.richness)].to_dict("records")
        pending["after"] = interval_at(loop_table(out_dir, settings), target_m, settings.interval)
        pending["status"] = "done"
        save()
        for r in mine:
            echo(f"  measured {pending['size']} ({r['param_count']:,} params) in "
                 f"{pending['seconds']:.0f} s: gain {r['gain']:+.2f} ± {r['se']:.2f} pp"
                 + ("" if r["distillable"] else "  (not distillable: not fitted)"))
        echo(f"  after: {_fmt_interval(pending['after'])}")
        write_gain_figure(out_dir)
        b, a = pending["before"], pending["after"]
        if b and a:
            echo(f"  the 95% interval at the target went from width {b['width95']:.3g} to "
                 f"{a['width95']:.3g} pp ({100 * (a['width95'] / b['width95'] - 1):+.0f}%)")
    return state


def default_candidates(cfg: RunConfig, largest: str = "300k") -> tuple[str, ...]:
    """Family sizes above the config's smallest and up to ``largest`` that it does not run."""
    from scalefit.runner.config import SIZES

    have = {size_name(s) for s in cfg.sizes}
    low = min(n_params(cfg, s) for s in cfg.sizes)
    top = resolve_size(largest).n_params()
    return tuple(s for s, m in SIZES.items()
                 if s not in have and low < m.n_params() <= top)
