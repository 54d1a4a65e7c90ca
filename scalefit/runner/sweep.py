"""Models × base models × richness × paired seeds: resumable runs, gain tables and the run
manifest.

Python API (what ``scalefit run`` and ``scalefit loop`` call)::

    from scalefit.runner import RunConfig, PRESETS
    from scalefit.runner.sweep import run_sweep, run_size, size_rows

    cfg = PRESETS["smoke"]
    out = run_sweep(cfg, "runs/smoke")                 # → Path to runs/smoke/gains.csv
    res = run_size(cfg, "300k", "runs/smoke/checkpoints")   # one size (resumes from checkpoints)
    rows = size_rows(res, cfg)                         # its gain-table rows (list of dicts)

``run_size`` gets one size's base models (``base_seeds`` of the family's, pretrained here side by
side, or a transformers checkpoint loaded as it is), evaluates each as student and as teacher,
fine-tunes SFT and OPSD from every base for every richness level and seed — the runs of one
richness level and method side by side, as one ``GPT`` stack —, evaluates each, and returns a
``results.SizeResult``. Every model's phase is a checkpoint file under
``checkpoint_dir/<size>/b<base>/`` (``cached_phases``: those missing are computed together),
written atomically with a key (a hash of the settings that determine it, derived from the
config) and the settings themselves; a rerun loads finished phases instead of redoing them, and
refuses a corrupt checkpoint or one made with other settings (``ScalefitError``, one line).
Pretraining also saves a partial checkpoint every 100 steps and resumes from it.

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
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.executor import InlineExecutor, describe_executor, make_executor
from scalefit.io import atomic_path, atomic_write_csv, atomic_write_json
from scalefit.runner.config import (FORMAT_VERSION, Reference, RunConfig, base_eval_settings,
                                    base_seed, base_settings, finetune_seeds, finetune_settings,
                                    model_config, model_label, resolve_size, settings_key,
                                    size_name)
from scalefit.runner.results import (BaseEvaluation, Evaluation, FinetuneRun, Phase, SizeResult,
                                     TrainStats, from_plain)
from scalefit.runner.schema import BASELINES, COLUMNS, COMPARISON, FILES, SPLIT
from scalefit.runner.schema import SPLITS as SPLIT_NAMES
from scalefit.runner.stats import paired_gain

if TYPE_CHECKING:  # torch is imported when a run starts, not with this module
    from scalefit.runner.model import CausalLM
    from scalefit.runner.problems import ChatTask
    from scalefit.runner.task import AdditionTask

__all__ = ["run_sweep", "run_size", "size_rows", "write_tables", "resolve_device",
           "cached_phases", "finetuning", "check_run"]

TRAINING_ARMS = ("sft", "opsd")
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


def load_checkpoint(path: Path, kind: str, settings: dict) -> dict | None:
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
    if ck.get("format") != FORMAT_VERSION or ck.get("kind") != kind \
            or ck["key"] != settings_key(settings):
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


def save_checkpoint(path: Path, kind: str, settings: dict, **payload) -> None:
    """Write a checkpoint atomically (a temporary file renamed over ``path``)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(_plain({"format": FORMAT_VERSION, "kind": kind, "key": settings_key(settings),
                           "settings": settings, **payload}), tmp)


def cached_phases(paths: list[Path], kind: str, settings: list[dict],
                  compute: Callable[[list[int]], Iterable[dict]]) -> list[tuple[dict, str]]:
    """Each phase's payload, and ``"loaded"`` where ``paths[i]`` holds it, made with
    ``settings[i]``; the others are computed together — ``compute(missing indices)`` gives
    their payloads (plain data and tensors) in that order, each saved as it comes —, and
    ``"trained"``."""
    out = [(load_checkpoint(p, kind, st), "loaded") for p, st in zip(paths, settings)]
    missing = [i for i, (ck, _) in enumerate(out) if ck is None]
    if missing:
        for i, payload in zip(missing, compute(missing)):
            save_checkpoint(paths[i], kind, settings[i], **payload)
            out[i] = (payload, "trained")
    return out


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
    """The synthetic task's held-out problems, the same for every size, method and seed: ``id``
    (training's number of terms) and ``ood`` (more terms)."""
    from scalefit.runner.task import sample_problems

    rng = np.random.default_rng([cfg.seed, 99991])
    n, t = cfg.train.eval_problems, cfg.task
    return {"id": sample_problems(rng, n, t.terms, t.digits),
            "ood": sample_problems(rng, n, t.ood_terms, t.digits)}


def _rkey(r: float) -> str:
    return f"r{r:g}"


@dataclass
class _Base:
    """What a size's fine-tuning runs start from, whichever kind of model: the frozen base
    models (a ``GPT`` stack of the family's base models side by side, or one transformers
    model), the task their problems speak through, each base's key, the parameter count and
    shape, the evaluation splits, the fine-tuning problems of a seed, and how the bases were
    obtained."""

    model: "CausalLM"
    task: "AdditionTask | ChatTask"
    keys: list[str]
    n_params: int
    description: dict
    splits: dict[str, list]
    finetune_problems: Callable[[int], list]
    phases: list[Phase]

    @property
    def stackable(self) -> bool:
        """Whether several runs from these bases train side by side (the family's GPT)."""
        from scalefit.runner.model import GPT

        return isinstance(self.model, GPT)


def _frozen(stack: "CausalLM", models: list[int]) -> "CausalLM":
    """The frozen models ``models`` of ``stack`` side by side: the stack itself when that is
    all of them (a transformers model is one), else a frozen copy."""
    if models == list(range(stack.n_models)):
        return stack
    return stack.select(models).eval().requires_grad_(False)


def _base_dir(ck_dir: Path, base: int) -> Path:
    return ck_dir / f"b{base}"


def _pretrained_bases(cfg: RunConfig, size: str, ck_dir: Path, device, quiet: bool) -> _Base:
    """A family size's ``cfg.base_seeds`` base models, pretrained here once and cached; those
    not cached are pretrained side by side (resuming from their partial checkpoint)."""
    from scalefit.runner.model import GPT
    from scalefit.runner.task import ADDITION
    from scalefit.runner.train import finetune_problems, pretrain

    mcfg = model_config(cfg, size)
    seeds = [base_seed(cfg, size, b) for b in range(cfg.base_seeds)]
    settings = [base_settings(cfg, size, b) for b in range(cfg.base_seeds)]
    partial_path = ck_dir / "bases.partial.pt"

    def compute(todo):
        stack = GPT(mcfg, len(todo), seeds=[seeds[b] for b in todo]).to(device)
        stack_settings = {"bases": [settings[b] for b in todo]}
        part = load_checkpoint(partial_path, "base-partial", stack_settings)
        start_step, opt_state = 0, None
        if part is not None:
            stack.load_state_dict(part["state"])
            start_step, opt_state = part["step"], part["optimizer"]

        def save_partial(step, opt_sd):
            save_checkpoint(partial_path, "base-partial", stack_settings,
                            state=stack.state_dict(), optimizer=opt_sd, step=step)

        stats = pretrain(stack, cfg.task, cfg.train, [seeds[b] for b in todo],
                         start_step=start_step, opt_state=opt_state, on_checkpoint=save_partial,
                         desc=f"{size:>6} pretrain ×{len(todo)}", quiet=quiet)
        return [{"state": stack.model_state(i), "stats": asdict(st)}
                for i, st in enumerate(stats)]

    done = cached_phases([_base_dir(ck_dir, b) / "base.pt" for b in range(cfg.base_seeds)],
                         "base", settings, compute)
    partial_path.unlink(missing_ok=True)
    bases = GPT.stack(mcfg, [ck["state"] for ck, _ in done]).to(device).eval()
    bases.requires_grad_(False)
    phases = []
    for b, (ck, status) in enumerate(done):
        stats = from_plain(TrainStats, ck["stats"])
        phases.append(Phase(f"pretrain b{b}", status, stats.share(stats.seconds),
                            tokens_trained=stats.tokens_trained))
    return _Base(bases, ADDITION, [settings_key(st) for st in settings], int(mcfg.n_params()),
                 mcfg.to_dict(), eval_problems(cfg),
                 lambda seed: finetune_problems(cfg.task, cfg.train, seed), phases)


def _checkpoint_base(cfg: RunConfig, name: str, device, quiet: bool) -> _Base:
    """A transformers checkpoint as the base model, and the real problems."""
    from scalefit.runner import hf
    from scalefit.runner import problems as real

    tic = time.perf_counter()
    info = hf.model_info(name)
    base, tokenizer = hf.load_base(name, device, cfg.dtype, quiet=quiet,
                                   gradient_checkpointing=cfg.train.gradient_checkpointing)
    task = real.ChatTask(tokenizer, cfg.problems.student_template,
                         cfg.problems.teacher_template, cfg.problems.thinking)
    pool, splits = real.problem_sets(cfg.problems, cfg.train.eval_problems, cfg.seed)
    n = cfg.train.finetune_steps * cfg.train.batch_size
    settings = hf.base_settings(name, info, cfg.dtype)
    return _Base(base, task, [settings_key(settings)], info["n_params"],
                 {"name": name, "architecture": info["architecture"],
                  "dtype": str(next(base.parameters()).dtype)},
                 splits, lambda seed: real.finetune_problems(pool, n, seed),
                 [Phase("load", "loaded", time.perf_counter() - tic)])


@contextmanager
def finetuning(base, lora=None, models: list[int] | None = None):
    """Trainable students from the frozen ``base`` and the teachers that stay the initial
    policy: for a ``GPT`` stack, copies of its models ``models`` (default all; repeats allowed)
    side by side and those models; for a transformers model, a full copy and the base itself,
    or (``lora``) fresh LoRA adapters on the base and the base with them disabled, removed
    again on leaving."""
    from scalefit.runner.model import GPT

    if lora is not None:
        from scalefit.runner.hf import lora_student

        with lora_student(base, lora) as pair:
            yield pair
        return
    if isinstance(base, GPT):
        models = list(range(base.n_models)) if models is None else models
        yield base.select(models), _frozen(base, models)
        return
    student = copy.deepcopy(base)
    for p in student.parameters():
        p.requires_grad_(True)
    yield student, base


def _eval_tokens(evals: dict[str, Evaluation]) -> int:
    return sum(e.tokens_generated for e in evals.values())


def _finetune(base: _Base, cfg: RunConfig, ref: Reference, method: str,
              pairs: list[tuple[int, int]], label: str, quiet: bool) -> list[dict]:
    """SFT or OPSD runs (base model, seed) side by side from their bases, each then evaluated
    on every split; one checkpoint payload per run."""
    import torch

    from scalefit.runner.train import evaluate, opsd, sft

    problems = [base.finetune_problems(seed) for _, seed in pairs]
    seeds = [seed for _, seed in pairs]
    desc = f"{label} {method} {_rkey(ref.richness)} ×{len(pairs)}"
    torch.manual_seed(seeds[0])  # LoRA adapters start from torch's global generator
    with finetuning(base.model, cfg.lora, [b for b, _ in pairs]) as (student, teacher):
        if method == "sft":
            stats = sft(student, base.task, cfg.train, problems, ref, desc=desc, quiet=quiet)
        else:
            stats = opsd(student, teacher, base.task, cfg.train, problems, ref, seeds,
                         desc=desc, quiet=quiet)
        tic = time.perf_counter()
        evals = {s: evaluate(student, base.task, held_out, cfg.train, ref, teacher=teacher)
                 for s, held_out in base.splits.items()}
        eval_seconds = time.perf_counter() - tic
        for st in stats:
            st.eval_seconds = eval_seconds
        return [{"state": _trained_state(student, cfg, i), "stats": asdict(st),
                 "result": {s: asdict(e[i]) for s, e in evals.items()}}
                for i, st in enumerate(stats)]


def run_size(cfg: RunConfig, size: str, checkpoint_dir, *, quiet: bool = False) -> SizeResult:
    """Run (or resume) one size of the family, or one transformers model of ``cfg.models``
    (``size`` is then its name or path); return its ``SizeResult``. The family's base models
    are pretrained side by side, and so are the SFT (and the OPSD) runs of a richness level —
    every base model with every seed."""
    import torch

    from scalefit.runner.train import evaluate

    t_start = time.perf_counter()
    torch.set_num_threads(max(1, cfg.threads))
    device = resolve_device(cfg.device)
    if cfg.real:
        label = model_label(size)
        ck_dir = Path(checkpoint_dir) / label.replace("/", "--")
        base = _checkpoint_base(cfg, size, device, quiet)
    else:
        label = size = size_name(size)
        ck_dir = Path(checkpoint_dir) / size
        base = _pretrained_bases(cfg, size, ck_dir, device, quiet)
    phases = list(base.phases)
    n_bases = len(base.keys)
    tag = f"{label:>6}"

    # --- base evaluations: as the student, and as the teacher with each reference ------------
    base_evals = {}
    for ref in cfg.references():
        def evaluate_bases(todo):
            tic = time.perf_counter()
            models = _frozen(base.model, todo)
            student = {s: evaluate(models, base.task, problems, cfg.train, ref)
                       for s, problems in base.splits.items()}
            teacher = {s: evaluate(models, base.task, problems, cfg.train, ref, teacher_view=True)
                       for s, problems in base.splits.items()}
            seconds = (time.perf_counter() - tic) / len(todo)
            return [{"result": asdict(BaseEvaluation({s: e[i] for s, e in student.items()},
                                                     {s: e[i] for s, e in teacher.items()})),
                     "seconds": seconds} for i in range(len(todo))]

        rk = _rkey(ref.richness)
        done = cached_phases([_base_dir(ck_dir, b) / f"base_eval_{rk}.pt" for b in range(n_bases)],
                             "base-eval", [base_eval_settings(k, cfg, ref) for k in base.keys],
                             evaluate_bases)
        base_evals[ref.richness] = []
        for b, (ck, status) in enumerate(done):
            res = from_plain(BaseEvaluation, ck["result"])
            base_evals[ref.richness].append(res)
            phases.append(Phase(f"eval base b{b} {rk}", status, ck["seconds"],
                                tokens_generated=_eval_tokens(res.student)
                                + _eval_tokens(res.teacher)))

    # --- SFT and OPSD: every base model × every seed, side by side -----------------------
    runs = {}
    pairs = [(b, seed) for b in range(n_bases) for seed in finetune_seeds(cfg)]
    for ref in cfg.references():
        rk = _rkey(ref.richness)
        runs[ref.richness] = {}
        for method in TRAINING_ARMS:
            def train_and_evaluate(todo):
                todo_pairs = [pairs[i] for i in todo]
                groups = [todo_pairs] if base.stackable else [[p] for p in todo_pairs]
                return (payload for group in groups  # saved as each group finishes
                        for payload in _finetune(base, cfg, ref, method, group, tag, quiet))

            done = cached_phases(
                [_base_dir(ck_dir, b) / rk / f"seed{seed}" / f"{method}.pt" for b, seed in pairs],
                method, [finetune_settings(base.keys[b], cfg, ref, seed, method)
                         for b, seed in pairs], train_and_evaluate)
            runs[ref.richness][method] = []
            for (b, seed), (ck, status) in zip(pairs, done):
                run = FinetuneRun(seed, from_plain(TrainStats, ck["stats"]),
                                  from_plain(dict[str, Evaluation], ck["result"]), base=b)
                runs[ref.richness][method].append(run)
                st = run.stats
                phases.append(Phase(f"{method} b{b} {rk} seed{seed}", status,
                                    st.share(st.seconds), st.tokens_trained, st.tokens_generated,
                                    st.share(st.eval_seconds), _eval_tokens(run.eval),
                                    st.time_split))
    return SizeResult(size=label, n_params=base.n_params, model=base.description,
                      base_keys=base.keys, phases=phases, base=base_evals, runs=runs,
                      device=str(device), wall_seconds=time.perf_counter() - t_start,
                      finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _trained_state(student, cfg: RunConfig, k: int) -> dict | None:
    """What a fine-tuning checkpoint keeps of model ``k`` of the students: the runner's own
    models whole, a LoRA run's adapters; a fully fine-tuned transformers model is not kept
    (gigabytes per run)."""
    if not cfg.real:
        return student.model_state(k)
    if cfg.lora is not None:
        from scalefit.runner.hf import adapter_state

        return adapter_state(student)
    return None


# ----------------------------------------------------------------------------------------------
# gain-table rows


def _mean(xs):
    return float(np.mean(xs)) if len(xs) else float("nan")


def _value(x):
    return float("nan") if x is None else x


def required_advantage(cfg: RunConfig, acc_student: float) -> float:
    """The teacher advantage (pp) a row needs to be reported: ``min_teacher_advantage``, or
    ``min_headroom_share`` of the student's headroom (100 − its accuracy) if that is smaller —
    a teacher at 100% over a student at 90% has everything to teach that can be taught."""
    return min(cfg.min_teacher_advantage, cfg.min_headroom_share * (100.0 - acc_student))


def _by_base_and_seed(runs: list[FinetuneRun], values) -> np.ndarray:
    """``values(run)`` arranged (base model, seed, …) for runs that cover every base × seed."""
    bases = sorted({run.base for run in runs})
    seeds = sorted({run.seed for run in runs})
    at = {(run.base, run.seed): run for run in runs}
    return np.array([[values(at[b, s]) for s in seeds] for b in bases])


def size_rows(result: SizeResult, cfg: RunConfig, *, baseline: str = "sft") -> list[dict]:
    """Gain-table rows of one size's result: one per (richness, split), OPSD − ``baseline``
    (``"sft"`` or ``"base"``), over every base model and seed (``stats.paired_gain``). Base
    and teacher accuracies are means over the base models. Every row carries ``distillable``
    (on that split's problems the teacher — the base model with the reference — beats the
    base student by at least ``required_advantage``) and a ``note``."""
    rows = []
    for r, methods in result.runs.items():
        bases = result.base[r]
        for split in [s for s in SPLITS if s in bases[0].student]:
            opsd_runs, sft_runs = methods["opsd"], methods["sft"]
            opsd_c = _by_base_and_seed(opsd_runs, lambda run: run.eval[split].correct)
            sft_c = _by_base_and_seed(sft_runs, lambda run: run.eval[split].correct)
            students = [base.student[split] for base in bases]
            teachers = [base.teacher[split] for base in bases]
            base_c = np.array([st.correct for st in students], dtype=float)[:, None, :]
            teacher_c = np.array([t.correct for t in teachers], dtype=float)[:, None, :]
            ref = sft_c if baseline == "sft" else np.broadcast_to(base_c, opsd_c.shape)
            g = paired_gain(opsd_c, ref)
            acc_base, acc_teacher = 100 * base_c.mean(), 100 * teacher_c.mean()
            advantage = acc_teacher - acc_base
            needed = required_advantage(cfg, acc_base)
            distillable = bool(advantage >= needed and advantage > 0)
            note = "" if distillable else (
                f"not distillable: the teacher beats the base student by {advantage:.1f} pp < "
                f"{needed:.1f} pp on these problems; not in gains.csv")
            if not note and g["n_seeds"] * g["n_bases"] == 1:
                note = "one seed and one base model: SE over problems only"

            def ev(runs, key):
                return _mean([_value(getattr(run.eval[split], key)) for run in runs])

            def base_mean(key):
                return _mean([_value(getattr(st, key)) for st in students])

            def base_region(key):
                return _mean([_value(getattr(st.div_regions, key, None)) for st in students])

            def loss_region(key):  # OPSD's training rollouts (the split does not apply)
                return _mean([getattr(run.stats.loss_regions, key) for run in opsd_runs
                              if run.stats.loss_regions is not None])

            def acc_se(c):
                return paired_gain(c, np.zeros_like(c))["se"]

            def seconds(runs):  # each run's part of the time of the runs trained with it
                return _mean([run.stats.share(run.stats.seconds) for run in runs])

            rows.append({
                "size_m": result.n_params / 1e6, "gain": g["gain"], "se": g["se"],
                SPLIT: split, "richness": r, "distillable": distillable,
                "param_count": result.n_params, "size_name": result.size,
                "show_answer": cfg.show_answer, "show_sums": cfg.show_sums,
                "teacher_advantage": advantage,
                "acc_base": acc_base, "acc_teacher": acc_teacher,
                "acc_sft": 100 * sft_c.mean(), "acc_opsd": 100 * opsd_c.mean(),
                "accuracy_baseline": 100 * ref.mean(),  # narrows the gain's possible range
                "se_base": acc_se(base_c), "se_teacher": acc_se(teacher_c),
                "se_sft": acc_se(sft_c), "se_opsd": acc_se(opsd_c),
                "se_problems": g["se_problems"], "se_seeds": g["se_seeds"],
                "se_bases": g["se_bases"],
                "n_problems": g["n_problems"], "n_seeds": g["n_seeds"], "n_bases": g["n_bases"],
                "len_base": base_mean("length"), "len_sft": ev(sft_runs, "length"),
                "len_opsd": ev(opsd_runs, "length"),
                "entropy_base": base_mean("entropy"),
                "entropy_sft": ev(sft_runs, "entropy"), "entropy_opsd": ev(opsd_runs, "entropy"),
                "div_base": base_mean("divergence"),
                "div_sft": ev(sft_runs, "divergence"), "div_opsd": ev(opsd_runs, "divergence"),
                "sft_seconds": seconds(sft_runs), "opsd_seconds": seconds(opsd_runs),
                "opsd_tokens_generated": _mean([run.stats.tokens_generated
                                                for run in opsd_runs]),
                # where the divergence lies relative to the first student–teacher argmax
                # disagreement: along the base student's greedy rollouts, and in OPSD's loss
                "div_at_base": base_region("at"), "div_after_base": base_region("after"),
                "opsd_loss_at": loss_region("at"), "opsd_loss_after": loss_region("after"),
                "opsd_first_disagreement": loss_region("first_position"),
                "note": note, "eval_metric": students[0].metric,
            })
    return rows


def write_tables(out_dir, results: list[SizeResult], cfg: RunConfig) -> dict:
    """Write gains.csv, gains_vs_base.csv and gains_all.csv for ``results`` (atomically);
    return their paths and row counts."""
    import pandas as pd

    out_dir = Path(out_dir)
    results = sorted(results, key=lambda res: res.n_params)
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


def _summary(res: SizeResult) -> dict:
    """Per-size totals by kind of phase (pretrain or load, eval, sft, opsd): seconds and tokens
    as measured when each phase was computed (also for phases loaded from checkpoints; a phase
    computed side by side with others counts its share), and how many phases this invocation
    trained or loaded; and each base model's accuracy as the student and as the teacher."""
    totals: dict[str, dict] = {}

    def bucket(kind):
        return totals.setdefault(kind, {"seconds": 0.0, "tokens_generated": 0,
                                        "tokens_trained": 0, "trained": 0, "loaded": 0})

    for ph in res.phases:
        kind = "eval" if ph.phase.startswith("eval") else ph.phase.split()[0]
        t = bucket(kind)
        t["seconds"] += ph.seconds
        t["tokens_generated"] += ph.tokens_generated
        t["tokens_trained"] += ph.tokens_trained
        t[ph.status] += 1
        if ph.eval_seconds:
            e = bucket("eval")
            e["seconds"] += ph.eval_seconds
            e["tokens_generated"] += ph.eval_tokens_generated
    accuracy = {f"{_rkey(r)} {split} {view}": [getattr(e, view)[split].accuracy for e in evals]
                for r, evals in res.base.items() for split in evals[0].student
                for view in ("student", "teacher")}
    return {"size": res.size, "n_params": res.n_params, "model": res.model,
            "base_keys": res.base_keys, "base_accuracy": accuracy, "device": res.device,
            "wall_seconds": res.wall_seconds, "finished_at": res.finished_at,
            "per_phase_kind": totals, "phases": [asdict(ph) for ph in res.phases]}


def run_sweep(cfg: RunConfig, out_dir, *, sizes=None, executor: Executor | None = None,
              workers: int = 1, scheduler: str | None = None, checkpoint_dir=None,
              quiet: bool = False, command: str | None = None) -> Path:
    """Run every size of ``cfg`` (or ``sizes``; with ``cfg.models``, every model) and write the
    tables and manifest to ``out_dir``; return the path of ``gains.csv``. The models and problem
    sets are checked first (``check_run``), so that a bad path or row is one line, not a failed
    worker.

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
    n_params = check_run(cfg, sizes)
    units = tuple(n_params)
    labels = tuple(model_label(u) if cfg.real else u for u in units)
    if len(set(labels)) != len(labels):
        raise ScalefitError(f"a size or model is listed twice: {', '.join(labels)}")
    order = sorted(units, key=lambda u: -n_params[u])
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    results: dict[str, SizeResult] = {}
    manifest = {"tool": "scalefit run", "format": FORMAT_VERSION, "command": command,
                "started_at": started, "config": cfg.to_dict(), "sizes": list(labels),
                "seeds": {"master": cfg.seed, "finetune": finetune_seeds(cfg),
                          "bases": {} if cfg.real else {
                              u: [base_seed(cfg, u, b) for b in range(cfg.base_seeds)]
                              for u in units}},
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

    def record(res: SizeResult):
        results[res.size] = res
        tables = write_tables(out_dir, list(results.values()), cfg)
        done = [results[s] for s in labels if s in results]
        manifest.update({
            "tables": tables, "finished_sizes": [r.size for r in done],
            "pending_sizes": [s for s in labels if s not in results],
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
    bar = progress(total=len(units), desc="sizes", quiet=quiet, unit="size")
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


def _totals(results: list[SizeResult]) -> dict:
    tot: dict[str, dict] = {}
    for res in results:
        for kind, t in _summary(res)["per_phase_kind"].items():
            agg = tot.setdefault(kind, {"seconds": 0.0, "tokens_generated": 0,
                                        "tokens_trained": 0, "trained": 0, "loaded": 0})
            for k in agg:
                agg[k] += t[k]
    return tot


def check_run(cfg: RunConfig, sizes=None) -> dict[str, int]:
    """What a sweep will run, checked before anything starts: the units (``sizes`` or the
    config's; with ``cfg.models`` the models) and their parameter counts. ScalefitError (one
    line) on an option that does not apply to the kind of model, an unknown size, a model that
    cannot be loaded, a bad template, or a problem row that cannot be used."""
    if not cfg.real:
        if cfg.problems is not None or cfg.lora is not None:
            raise ScalefitError("--data and --lora apply to transformers models: give --models")
        units = tuple(size_name(s) for s in (sizes or cfg.sizes))
        return {u: resolve_size(u).n_params() for u in units}
    from scalefit.runner import hf
    from scalefit.runner import problems as real

    if cfg.base_seeds > 1:
        raise ScalefitError("--base-seeds pretrains several base models of the family; a "
                            "transformers checkpoint is one base model")
    if cfg.problems is None:
        raise ScalefitError("--models needs problems: --data FILE.jsonl (or hf:DATASET)")
    if cfg.lora is not None and cfg.train.teacher_ema is not None:
        raise ScalefitError("--teacher-ema needs full fine-tuning: with --lora the teacher is "
                            "the model with its adapters disabled")
    real.check_templates(cfg.problems)
    real.problem_sets(cfg.problems, cfg.train.eval_problems, cfg.seed)
    return {name: hf.model_info(name)["n_params"] for name in (sizes or cfg.models)}


def default_workers() -> int:
    """One worker per core, at most 2 (each runs one torch thread)."""
    return max(1, min(2, os.cpu_count() or 1))
