"""Sizes × richness × paired seeds: resumable runs, gain tables and the run manifest.

Python API (what ``scalefit run`` and ``scalefit loop`` call)::

    from scalefit.runner import RunConfig, PRESETS
    from scalefit.runner.sweep import run_sweep, run_size, size_rows

    cfg = PRESETS["smoke"]
    out = run_sweep(cfg, "runs/smoke")                 # → Path to runs/smoke/gains.csv
    res = run_size(cfg, "300k", "runs/smoke/checkpoints")   # one size (resumes from checkpoints)
    rows = size_rows(res, cfg)                         # its gain-table rows (list of dicts)

``run_size`` trains (or loads) one size's base model, evaluates it as student and as teacher,
fine-tunes SFT and OPSD from it for every richness level and seed, evaluates each, and returns a
picklable dict. Every phase is a checkpoint file under ``checkpoint_dir/<size>/``, written
atomically with a key (a hash of the settings that determine it) and the settings themselves; a
rerun loads finished phases instead of redoing them, and refuses a corrupt checkpoint or one
made with other settings (``ScalefitError``, one line). Pretraining also saves a partial
checkpoint every 100 steps and resumes from it.

``run_sweep`` runs the sizes as independent jobs through a ``concurrent.futures.Executor``
(yours, a Dask cluster's with ``scheduler=ADDRESS``, a local process pool with ``workers>1``,
or inline), and after each size rewrites ``gains.csv`` (OPSD − SFT), ``gains_vs_base.csv``
(OPSD − base), ``gains_all.csv`` (every row, with ``distillable`` and ``note``) and
``manifest.json`` in ``out_dir``, atomically.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import sys
import time
from concurrent.futures import Executor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.executor import InlineExecutor, describe_executor, make_executor
from scalefit.io import atomic_path, atomic_write_csv, atomic_write_json
from scalefit.runner.config import (FORMAT_VERSION, RunConfig, base_eval_key, base_key,
                                    base_settings, eval_settings, finetune_key, finetune_seeds,
                                    finetune_settings, model_config, resolve_size, size_name,
                                    size_seed)
from scalefit.runner.schema import BASELINES, COLUMNS, COMPARISON, FILES, SPLIT
from scalefit.runner.schema import SPLITS as SPLIT_NAMES
from scalefit.runner.stats import paired_gain

__all__ = ["run_sweep", "run_size", "size_rows", "write_tables", "resolve_device"]

METHODS = ("sft", "opsd")
SPLITS = tuple(SPLIT_NAMES)  # the evaluation splits, in table order


# ----------------------------------------------------------------------------------------------
# checkpoints


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def settings_mismatch(saved: dict, wanted: dict) -> str:
    a, b = _flatten(saved or {}), _flatten(wanted)
    diffs = [f"{k} {a.get(k, '<unset>')!r} → {b.get(k, '<unset>')!r}"
             for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return "; ".join(diffs[:3]) + (f" (+{len(diffs) - 3} more)" if len(diffs) > 3 else "")


def load_checkpoint(path: Path, kind: str, key: str, settings: dict) -> dict | None:
    """The checkpoint at ``path`` if it exists and was made with these settings; None if it does
    not exist; ``ScalefitError`` if it is unreadable or was made with other settings."""
    import torch

    if not path.exists():
        return None
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(ck, dict) or "key" not in ck:
            raise ValueError("not a scalefit runner checkpoint")
    except Exception as err:  # noqa: BLE001 - anything unreadable is refused the same way
        msg = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise ScalefitError(f"checkpoint {path} is corrupt or unreadable ({msg}); delete it to "
                            "redo that phase") from None
    if ck.get("format") != FORMAT_VERSION or ck.get("kind") != kind or ck["key"] != key:
        raise ScalefitError(f"checkpoint {path} was made with different settings "
                            f"({settings_mismatch(ck.get('settings'), settings) or 'format/kind'}); "
                            "use another --out (or --checkpoint-dir), or delete it to redo it")
    return ck


def _plain(obj):
    """Plain Python containers and numbers (numpy scalars → float/int); tensors kept."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def save_checkpoint(path: Path, kind: str, key: str, settings: dict, **payload) -> None:
    """Write a checkpoint atomically (a temporary file renamed over ``path``)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(_plain({"format": FORMAT_VERSION, "kind": kind, "key": key,
                           "settings": settings, **payload}), tmp)


# ----------------------------------------------------------------------------------------------
# one size


def resolve_device(name: str):
    """``auto`` → cuda when available, else cpu; ``cuda`` without a GPU is a ScalefitError."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ScalefitError("--device cuda was requested but torch sees no CUDA device "
                            "(use --device auto or cpu)")
    if name not in ("cpu", "cuda"):
        raise ScalefitError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def eval_problems(cfg: RunConfig) -> dict:
    """The held-out problems, the same for every size, method and seed: ``id`` (training's
    number of terms) and ``ood`` (more terms)."""
    from scalefit.runner.task import sample_problems

    rng = np.random.default_rng([cfg.seed, 99991])
    n, t = cfg.train.eval_problems, cfg.task
    return {"id": sample_problems(rng, n, t.terms, t.digits),
            "ood": sample_problems(rng, n, t.ood_terms, t.digits)}


def _rkey(r: float) -> str:
    return f"r{r:g}"


def _strip_eval(ev: dict) -> dict:
    return {k: v for k, v in ev.items() if k != "correct"}


def run_size(cfg: RunConfig, size: str, checkpoint_dir, *, quiet: bool = False) -> dict:
    """Run (or resume) one size; return a picklable dict (see the module docstring).

    The dict has ``size``, ``n_params``, ``phases`` (one entry per phase: name, ``status``
    ``trained`` or ``loaded``, seconds, tokens), ``base`` (student and teacher evaluations per
    richness) and ``runs`` (``runs[richness][method]`` = list over seeds of evaluations, each
    with per-problem correctness ``correct`` for the id and ood splits).
    """
    import torch

    from scalefit.runner.model import GPT
    from scalefit.runner.train import evaluate, finetune_problems, opsd, pretrain, sft

    t_start = time.perf_counter()
    torch.set_num_threads(max(1, cfg.threads))
    device = resolve_device(cfg.device)
    size = size_name(size)
    mcfg = model_config(cfg, size)
    ck_dir = Path(checkpoint_dir) / size
    phases = []
    label = f"{size:>6}"

    # --- base model: pretrained once, cached ---------------------------------------------
    key, settings = base_key(cfg, size), base_settings(cfg, size)
    base_path, partial_path = ck_dir / "base.pt", ck_dir / "base.partial.pt"
    torch.manual_seed(size_seed(cfg, size))
    base = GPT(mcfg).to(device)
    ck = load_checkpoint(base_path, "base", key, settings)
    if ck is not None:
        base.load_state_dict(ck["state"])
        phases.append({"phase": "pretrain", "status": "loaded", **ck["stats"]})
    else:
        part = load_checkpoint(partial_path, "base-partial", key, settings)
        start_step, opt_state = 0, None
        if part is not None:
            base.load_state_dict(part["state"])
            start_step, opt_state = part["step"], part["optimizer"]

        def save_partial(step, opt_sd):
            save_checkpoint(partial_path, "base-partial", key, settings,
                            state=base.state_dict(), optimizer=opt_sd, step=step)

        stats = pretrain(base, cfg.task, cfg.train, size_seed(cfg, size), start_step=start_step,
                         opt_state=opt_state, on_checkpoint=save_partial,
                         desc=f"{label} pretrain", quiet=quiet)
        stats["resumed_from_step"] = start_step
        save_checkpoint(base_path, "base", key, settings, state=base.state_dict(), stats=stats)
        partial_path.unlink(missing_ok=True)
        phases.append({"phase": "pretrain", "status": "trained", **stats})
    base.eval()
    for p in base.parameters():
        p.requires_grad_(False)

    problems = eval_problems(cfg)

    # --- base evaluations: as the student, and as the teacher with each richness ------------
    base_evals = {}
    for r in cfg.richness:
        path = ck_dir / f"base_eval_{_rkey(r)}.pt"
        bkey = base_eval_key(cfg, size, r)
        bset = {"base": key, "eval": eval_settings(cfg), "teacher_richness": r}
        ck = load_checkpoint(path, "base-eval", bkey, bset)
        if ck is None:
            tic = time.perf_counter()
            res = {"student": {s: evaluate(base, problems[s], cfg.train, teacher=base,
                                           richness=r, show_answer=cfg.show_answer,
                                           show_sums=cfg.show_sums)
                               for s in SPLITS},
                   "teacher": {s: evaluate(base, problems[s], cfg.train, richness=r,
                                           show_answer=cfg.show_answer,
                                           show_sums=cfg.show_sums, teacher_view=True)
                               for s in SPLITS}}
            seconds = time.perf_counter() - tic
            save_checkpoint(path, "base-eval", bkey, bset, result=res, seconds=seconds)
            status = "trained"
        else:
            res, seconds, status = ck["result"], ck["seconds"], "loaded"
        base_evals[r] = res
        phases.append({"phase": f"eval base {_rkey(r)}", "status": status, "seconds": seconds,
                       "tokens_generated": sum(res[v][s]["tokens_generated"]
                                               for v in res for s in SPLITS)})

    # --- SFT and OPSD, paired seeds -------------------------------------------------------
    runs = {}
    for r in cfg.richness:
        runs[r] = {m: [] for m in METHODS}
        for seed in finetune_seeds(cfg):
            ft_problems = None
            for method in METHODS:
                path = ck_dir / _rkey(r) / f"seed{seed}" / f"{method}.pt"
                fkey = finetune_key(cfg, size, r, seed, method)
                fset = finetune_settings(cfg, size, r, seed, method)
                ck = load_checkpoint(path, method, fkey, fset)
                if ck is None:
                    if ft_problems is None:
                        ft_problems = finetune_problems(cfg.task, cfg.train, seed)
                    torch.manual_seed(seed)
                    model = copy.deepcopy(base)
                    for p in model.parameters():
                        p.requires_grad_(True)
                    desc = f"{label} {method} {_rkey(r)} s{seed}"
                    if method == "sft":
                        stats = sft(model, cfg.train, ft_problems, r, cfg.show_answer,
                                    cfg.show_sums, desc=desc, quiet=quiet)
                    else:
                        stats = opsd(model, cfg.train, ft_problems, r, cfg.show_answer, seed,
                                     show_sums=cfg.show_sums, desc=desc, quiet=quiet)
                    tic = time.perf_counter()
                    evals = {s: evaluate(model, problems[s], cfg.train, teacher=base, richness=r,
                                         show_answer=cfg.show_answer,
                                         show_sums=cfg.show_sums) for s in SPLITS}
                    stats["eval_seconds"] = time.perf_counter() - tic
                    save_checkpoint(path, method, fkey, fset, state=model.state_dict(),
                                    stats=stats, result=evals)
                    status = "trained"
                    del model
                else:
                    stats, evals, status = ck["stats"], ck["result"], "loaded"
                runs[r][method].append({"seed": seed, "stats": stats, "eval": evals})
                phases.append({"phase": f"{method} {_rkey(r)} seed{seed}", "status": status,
                               **{k: v for k, v in stats.items() if k != "time_split"},
                               "eval_tokens_generated": sum(evals[s]["tokens_generated"]
                                                            for s in SPLITS)})
                if "time_split" in stats:
                    phases[-1]["time_split"] = stats["time_split"]
    return {"size": size, "n_params": int(mcfg.n_params()), "model": mcfg.to_dict(),
            "base_key": key, "phases": phases, "base": base_evals, "runs": runs,
            "device": str(device), "wall_seconds": time.perf_counter() - t_start,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


# ----------------------------------------------------------------------------------------------
# gain-table rows




def _mean(xs):
    return float(np.mean(xs)) if len(xs) else float("nan")


def required_advantage(cfg: RunConfig, acc_student: float) -> float:
    """The teacher advantage (pp) a row needs to be reported: ``min_teacher_advantage``, or
    ``min_headroom_share`` of the student's headroom (100 − its accuracy) if that is smaller —
    a teacher at 100% over a student at 90% has everything to teach that can be taught."""
    return min(cfg.min_teacher_advantage, cfg.min_headroom_share * (100.0 - acc_student))


def size_rows(result: dict, cfg: RunConfig, *, baseline: str = "sft") -> list[dict]:
    """Gain-table rows of one size's result: one per (richness, split), OPSD − ``baseline``
    (``"sft"`` or ``"base"``). Every row carries ``distillable`` (on that split's problems the
    teacher — the base model with the reference — beats the base student by at least
    ``required_advantage``) and a ``note``."""
    rows = []
    for r, methods in result["runs"].items():
        r = float(r)
        base = result["base"][r] if r in result["base"] else result["base"][str(r)]
        for split in SPLITS:
            opsd_c = np.array([run["eval"][split]["correct"] for run in methods["opsd"]])
            sft_c = np.array([run["eval"][split]["correct"] for run in methods["sft"]])
            base_c = np.asarray(base["student"][split]["correct"])[None, :]
            ref = sft_c if baseline == "sft" else np.repeat(base_c, len(opsd_c), axis=0)
            g = paired_gain(opsd_c, ref)
            acc_student = base["student"][split]["accuracy"]
            advantage = base["teacher"][split]["accuracy"] - acc_student
            needed = required_advantage(cfg, acc_student)
            distillable = bool(advantage >= needed and advantage > 0)
            note = "" if distillable else (
                f"not distillable: the teacher beats the base student by {advantage:.1f} pp < "
                f"{needed:.1f} pp on these problems; not in gains.csv")
            if not note and g["n_seeds"] == 1:
                note = "one seed: SE over problems only"

            def ev(method, key):
                return _mean([run["eval"][split][key] for run in methods[method]])

            def base_region(key):
                return base["student"][split].get("div_regions", {}).get(key, float("nan"))

            def loss_region(key):  # OPSD's training rollouts (the split does not apply)
                return _mean([run["stats"]["loss_regions"][key] for run in methods["opsd"]
                              if "loss_regions" in run["stats"]])

            def acc_se(c):
                c = np.atleast_2d(c)
                return paired_gain(c, np.zeros_like(c))["se"]

            rows.append({
                "size_m": result["n_params"] / 1e6, "gain": g["gain"], "se": g["se"],
                SPLIT: split, "richness": r, "distillable": distillable,
                "param_count": result["n_params"], "size_name": result["size"],
                "show_answer": cfg.show_answer, "show_sums": cfg.show_sums,
                "teacher_advantage": advantage,
                "acc_base": base["student"][split]["accuracy"],
                "acc_teacher": base["teacher"][split]["accuracy"],
                "acc_sft": 100 * sft_c.mean(), "acc_opsd": 100 * opsd_c.mean(),
                "se_base": base["student"][split]["se"], "se_teacher": base["teacher"][split]["se"],
                "se_sft": acc_se(sft_c), "se_opsd": acc_se(opsd_c),
                "se_problems": g["se_problems"], "se_seeds": g["se_seeds"],
                "n_problems": g["n_problems"], "n_seeds": g["n_seeds"],
                "len_base": base["student"][split]["length"], "len_sft": ev("sft", "length"),
                "len_opsd": ev("opsd", "length"),
                "entropy_base": base["student"][split].get("entropy", float("nan")),
                "entropy_sft": ev("sft", "entropy"), "entropy_opsd": ev("opsd", "entropy"),
                "div_base": base["student"][split].get("divergence", float("nan")),
                "div_sft": ev("sft", "divergence"), "div_opsd": ev("opsd", "divergence"),
                "sft_seconds": _mean([run["stats"]["seconds"] for run in methods["sft"]]),
                "opsd_seconds": _mean([run["stats"]["seconds"] for run in methods["opsd"]]),
                "opsd_tokens_generated": _mean([run["stats"]["tokens_generated"]
                                                for run in methods["opsd"]]),
                # where the divergence lies relative to the first student–teacher argmax
                # disagreement: along the base student's greedy rollouts, and in OPSD's loss
                "div_at_base": base_region("at"), "div_after_base": base_region("after"),
                "opsd_loss_at": loss_region("at"), "opsd_loss_after": loss_region("after"),
                "opsd_first_disagreement": loss_region("first_position"),
                "note": note,
            })
    return rows


def write_tables(out_dir, results: list[dict], cfg: RunConfig) -> dict:
    """Write gains.csv, gains_vs_base.csv and gains_all.csv for ``results`` (atomically);
    return their paths and row counts."""
    import pandas as pd

    out_dir = Path(out_dir)
    results = sorted(results, key=lambda res: res["n_params"])
    vs_sft = pd.DataFrame([row for res in results for row in size_rows(res, cfg)],
                          columns=COLUMNS)
    vs_base = pd.DataFrame([row for res in results for row in size_rows(res, cfg,
                                                                        baseline="base")],
                           columns=COLUMNS)
    vs_sft, vs_base = (frame.astype({"richness": float})
                       .sort_values(["richness", SPLIT, "size_m"], kind="stable")
                       for frame in (vs_sft, vs_base))

    def rounded(frame):
        out = frame.copy()
        for c in out.columns:
            if out[c].dtype.kind == "f" and c not in ("size_m", "richness"):
                out[c] = out[c].round(4)
        return out

    paths = {key: out_dir / name for key, name in FILES.items()}
    atomic_write_csv(paths["gains"], rounded(vs_sft[vs_sft["distillable"]]))
    atomic_write_csv(paths["gains_vs_base"], rounded(vs_base[vs_base["distillable"]]))
    both = pd.concat([vs_sft.assign(**{COMPARISON: BASELINES["sft"]}),
                      vs_base.assign(**{COMPARISON: BASELINES["base"]})], ignore_index=True)
    atomic_write_csv(paths["gains_all"], rounded(both))
    return {k: {"path": str(v), "rows": int(len(vs_sft[vs_sft["distillable"]]) if k == "gains"
                                            else len(vs_base[vs_base["distillable"]])
                                            if k == "gains_vs_base" else len(both))}
            for k, v in paths.items()}


# ----------------------------------------------------------------------------------------------
# the sweep


def _versions() -> dict:
    import torch

    from scalefit import __version__
    out = {"scalefit": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
           "numpy": np.__version__, "platform": platform.platform(), "processor":
           platform.processor() or platform.machine()}
    try:
        import pandas
        out["pandas"] = pandas.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def _summary(res: dict) -> dict:
    """Per-size totals by kind of phase (pretrain, eval, sft, opsd): seconds and tokens as
    measured when each phase was computed (also for phases loaded from checkpoints), and how
    many phases this invocation trained or loaded."""
    phases = res["phases"]
    totals: dict[str, dict] = {}

    def bucket(kind):
        return totals.setdefault(kind, {"seconds": 0.0, "tokens_generated": 0,
                                        "tokens_trained": 0, "trained": 0, "loaded": 0})

    for ph in phases:
        kind = "eval" if ph["phase"].startswith("eval") else ph["phase"].split()[0]
        t = bucket(kind)
        t["seconds"] += ph.get("seconds", 0.0)
        t["tokens_generated"] += int(ph.get("tokens_generated", 0))
        t["tokens_trained"] += int(ph.get("tokens_trained", 0))
        t[ph["status"]] += 1
        if "eval_seconds" in ph:
            e = bucket("eval")
            e["seconds"] += ph["eval_seconds"]
            e["tokens_generated"] += int(ph.get("eval_tokens_generated", 0))
    return {"size": res["size"], "n_params": res["n_params"], "model": res["model"],
            "base_key": res["base_key"], "device": res["device"],
            "wall_seconds": res["wall_seconds"], "finished_at": res["finished_at"],
            "per_phase_kind": totals, "phases": phases}


def run_sweep(cfg: RunConfig, out_dir, *, sizes=None, executor: Executor | None = None,
              workers: int = 1, scheduler: str | None = None, checkpoint_dir=None,
              quiet: bool = False, command: str | None = None) -> Path:
    """Run every size of ``cfg`` (or ``sizes``) and write the tables and manifest to
    ``out_dir``; return the path of ``gains.csv``.

    Sizes run as independent jobs: through ``executor`` if given, else a Dask cluster at
    ``scheduler``, else a spawn-based process pool of ``workers`` processes (each with
    ``cfg.threads`` torch threads), else inline. Largest sizes are submitted first. The tables
    and manifest are rewritten as each size finishes, so an interrupted sweep leaves a valid
    partial table, and a rerun resumes from the checkpoints in ``checkpoint_dir`` (default
    ``out_dir/checkpoints``).
    """
    from scalefit.progress import progress

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else out_dir / "checkpoints"
    sizes = tuple(size_name(s) for s in (sizes or cfg.sizes))
    if len(set(sizes)) != len(sizes):
        raise ScalefitError(f"a size is listed twice: {', '.join(sizes)}")
    order = sorted(sizes, key=lambda s: -resolve_size(s).n_params())
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    results: dict[str, dict] = {}
    manifest = {"tool": "scalefit run", "format": FORMAT_VERSION, "command": command,
                "started_at": started, "config": cfg.to_dict(), "sizes": list(sizes),
                "seeds": {"master": cfg.seed, "finetune": finetune_seeds(cfg)},
                "checkpoint_dir": str(checkpoint_dir), "versions": _versions(),
                "executor": None}

    previous = out_dir / "manifest.json"
    history = []
    if previous.exists():
        try:
            old = json.loads(previous.read_text())
            history = old.get("history") or [{
                "started_at": old.get("started_at"), "command": old.get("command"),
                "wall_seconds": old.get("wall_seconds"),
                "finished_sizes": old.get("finished_sizes"),
                "phases": {k: {"trained": v.get("trained"), "loaded": v.get("loaded")}
                           for k, v in (old.get("totals") or {}).items()}}]
        except (ValueError, OSError, AttributeError):
            history = []
    this_run = {"started_at": started, "command": command}
    manifest["history"] = [*history, this_run]

    def record(res):
        results[res["size"]] = res
        tables = write_tables(out_dir, list(results.values()), cfg)
        done = [results[s] for s in sizes if s in results]
        manifest.update({
            "tables": tables, "finished_sizes": [r["size"] for r in done],
            "pending_sizes": [s for s in sizes if s not in results],
            "wall_seconds": time.perf_counter() - t0,
            "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "totals": _totals(done), "per_size": [_summary(r) for r in done]})
        this_run.update({"wall_seconds": manifest["wall_seconds"],
                         "finished_sizes": manifest["finished_sizes"],
                         "phases": {k: {"trained": v["trained"], "loaded": v["loaded"]}
                                    for k, v in manifest["totals"].items()}})
        atomic_write_json(out_dir / "manifest.json", manifest)

    owned = executor is None
    if owned:
        executor = make_executor(workers, scheduler)
    manifest["executor"] = describe_executor(executor)
    bar = progress(total=len(sizes), desc="sizes", quiet=quiet, unit="size")
    try:
        if isinstance(executor, InlineExecutor):  # record each size as it finishes
            for s in order:
                record(run_size(cfg, s, checkpoint_dir, quiet=quiet))
                bar.update(1)
        else:
            futures = {executor.submit(run_size, cfg, s, str(checkpoint_dir), quiet=quiet): s
                       for s in order}
            try:
                for fut in as_completed(futures):
                    record(fut.result())
                    bar.update(1)
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    finally:
        bar.close()
        if owned:
            executor.shutdown(wait=True, cancel_futures=True)
    return out_dir / "gains.csv"


def _totals(results: list[dict]) -> dict:
    tot: dict[str, dict] = {}
    for res in results:
        for kind, t in _summary(res)["per_phase_kind"].items():
            agg = tot.setdefault(kind, {"seconds": 0.0, "tokens_generated": 0,
                                        "tokens_trained": 0, "trained": 0, "loaded": 0})
            for k in agg:
                agg[k] += t[k]
    return tot


def default_workers() -> int:
    """One worker per core, at most 2 (each runs one torch thread)."""
    return max(1, min(2, os.cpu_count() or 1))
