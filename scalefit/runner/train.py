"""Pretraining, the SFT baseline, OPSD (the OPSD paper, Algorithm 1) and evaluation, top to bottom.

SFT, OPSD and evaluation are written once, for every kind of model and problem, against two
small interfaces:

- the model (``model.CausalLM``): logits for a left-padded batch and ``generate`` with a KV
  cache; the runner's own ``GPT`` and any transformers causal LM (``hf.HFCausalLM``) implement it;
- the task (``task.AdditionTask`` for the synthetic task, ``problems.ChatTask`` for real
  problems and a tokenizer's chat template): a problem's ``student_prompt(p)``,
  ``teacher_prompt(p, reference)`` and SFT ``target(p, reference)`` as token lists, ``eos``, and
  ``is_correct(p, completion)``.

Every phase is a plain function of a model, a ``TrainConfig`` and a seed, on the model's device.
SFT and OPSD get the same problems (in the same order), the same number of optimiser steps and
the same learning-rate schedule (AdamW, linear warm-up over the first 10% of steps, cosine decay;
the OPSD paper §4). A step's problems can be split into micro-batches whose gradients add up to
the step's (``micro_batch``). Pretraining (synthetic family only) draws batches from a generator
seeded by (seed, step), so a run resumed from a checkpoint at step k sees exactly the batches it
would have seen.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from scalefit.progress import progress
from scalefit.runner.config import Reference, TaskConfig, TrainConfig, pretrain_peak_lr
from scalefit.runner.losses import (divergence_regions, first_disagreement, opsd_loss,
                                    policy_gradient_loss, token_entropy, token_jsd)
from scalefit.runner.model import CausalLM
from scalefit.runner.results import Evaluation, Regions, TimeSplit, TrainStats
from scalefit.runner.task import (ADDITION, Problem, encode, left_pad, sample_problems,
                                  supervised_batch)

# references of these richness levels (answer shown or not) appear in pretraining, so a base
# model can use any of them in context
PRETRAIN_RICHNESS = (0.0, 0.25, 0.5, 0.75, 1.0)

__all__ = ["lr_at", "pretrain", "finetune_problems", "sft", "opsd", "evaluate", "rollout_logits",
           "PRETRAIN_RICHNESS"]


def lr_at(step: int, total: int, base: float, warmup: float) -> float:
    """Linear warm-up over ``warmup`` of the steps, then cosine decay to 0."""
    n_warm = max(1, int(round(warmup * total)))
    if step < n_warm:
        return base * (step + 1) / n_warm
    frac = (step - n_warm) / max(1, total - n_warm)
    return base * 0.5 * (1.0 + math.cos(math.pi * frac))


def _trainable(model) -> list:
    return [p for p in model.parameters() if p.requires_grad]


def _optimizer(model, lr, weight_decay):
    # AdamW is elementwise: on stacked weights it is each model's own AdamW
    return torch.optim.AdamW(_trainable(model), lr=lr, betas=(0.9, 0.95),
                             weight_decay=weight_decay)


def _clip_per_model(params: list, n_models: int, max_norm: float = 1.0) -> None:
    """``clip_grad_norm_`` for each of the ``n_models`` side by side (leading model axis) on its
    own gradient norm, as if it were trained alone."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([g.reshape(n_models, -1).norm(dim=1) for g in grads]).norm(dim=0)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))


def _update(opt, model, lr):
    """One optimiser step on the gradients accumulated since the last one."""
    for group in opt.param_groups:
        group["lr"] = lr
    _clip_per_model(_trainable(model), model.n_models)
    opt.step()
    opt.zero_grad(set_to_none=True)


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _micro_batches(n: int, size: int | None) -> list[slice]:
    size = size or n
    return [slice(a, a + size) for a in range(0, n, size)]


def _rows(groups: list[list], part: slice | None = None) -> list:
    """The rows of a batch of several models: each model's items (its ``part`` of them), model
    after model — the layout ``model.GPT`` expects."""
    return [x for group in groups for x in group[part or slice(None)]]


def _per_model(values, n_models: int):
    """Per-row values (rows grouped by model, equally many each) summed per model: (K,)."""
    return values.view(n_models, -1).sum(1)


def _length_buckets(examples: list[tuple[list, list]], n: int):
    """A step's (prompts, targets) of several models as ``n`` micro-batches of examples of
    similar length, each model's rows sorted by length and cut into ``n`` equal parts (so
    padding to the longest row of a micro-batch wastes less); rows model after model."""
    parts = []
    for prompts, targets in examples:
        order = np.argsort([len(p) + len(t) for p, t in zip(prompts, targets)], kind="stable")
        parts.append([[(prompts[i], targets[i]) for i in chunk]
                      for chunk in np.array_split(order, n)])
    for j in range(n):
        rows = [row for model in parts for row in model[j]]
        yield [p for p, _ in rows], [t for _, t in rows]


def _supervised_loss(model, tokens, mask, loss_mask, n_targets):
    """Per model (K,): cross-entropy summed over its target tokens (``loss_mask``), divided by
    ``n_targets`` (K,), each model's whole step count, so that micro-batches add up to the
    step's mean."""
    width = int(loss_mask.sum(1).max())  # targets are right-aligned: logits of these only
    logits = model(tokens[:, :-1], mask[:, :-1], last=width)
    target_mask = loss_mask[:, -width:]
    per_token = F.cross_entropy(logits[target_mask].float(), tokens[:, -width:][target_mask],
                                reduction="none")
    row = torch.arange(len(tokens), device=tokens.device)[:, None].expand_as(target_mask)
    per_row = torch.zeros(len(tokens), device=tokens.device).index_add_(
        0, row[target_mask], per_token)
    return _per_model(per_row, model.n_models) / n_targets


def _rate(n: float, seconds: float) -> str:
    return f"{n / max(seconds, 1e-9):.0f}"


def _pretrain_examples(task: TaskConfig, cfg: TrainConfig, seed: int, step: int):
    """One pretraining batch of the base model of ``seed``: prompts and targets, drawn from a
    generator seeded by (seed, step)."""
    rng = np.random.default_rng([seed, step])
    problems = sample_problems(rng, cfg.pretrain_batch, task.terms, task.digits)
    with_ref = rng.random(len(problems)) < cfg.teacher_mix
    richness = rng.choice(PRETRAIN_RICHNESS, size=len(problems))
    working = rng.random(len(problems)) < cfg.pretrain_working
    hint = rng.random(len(problems)) < cfg.pretrain_hint_answer
    sloppy = rng.random(len(problems)) < cfg.pretrain_sloppy
    prompts = [ADDITION.teacher_prompt(p, Reference(0.0, True, False) if h
                                       else Reference(r, True))
               if w else ADDITION.student_prompt(p)
               for p, w, r, h in zip(problems, with_ref, richness, hint)]
    short = Reference(0.0, True, cfg.pretrain_short == "sums")
    targets = [encode(p.solution() if w else p.reference(Reference(1.0) if k else short, s))
               for p, w, k, s in zip(problems, with_ref, working, sloppy)]
    return prompts, targets


def pretrain(model: CausalLM, task: TaskConfig, cfg: TrainConfig, seeds: list[int], *,
             start_step: int = 0, opt_state: dict | None = None,
             on_checkpoint: Callable[[int, dict], None] | None = None,
             checkpoint_every: int = 100, desc: str = "pretrain",
             quiet: bool = False) -> list[TrainStats]:
    """Train synthetic-family base models from scratch, one per seed (``model`` holds them side
    by side): plain problems (problem → solution; for all but a ``pretrain_working`` share, the
    short form ``pretrain_short``; for a ``pretrain_sloppy`` share, written by the sloppy writer
    who drops carries) and, for a ``teacher_mix`` share, problems with a reference of random
    richness (for a ``pretrain_hint_answer`` share, the answer alone) in context followed by the
    careful full solution, so that a reference is something the model can use.

    ``on_checkpoint(step, optimizer_state)`` is called every ``checkpoint_every`` steps (the
    caller saves the model); ``start_step`` and ``opt_state`` resume from such a checkpoint.
    """
    device = _device(model)
    model.train()
    peak_lr = pretrain_peak_lr(cfg, model.cfg.n_embd)
    opt = _optimizer(model, peak_lr, 0.0)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    tokens_seen, start = [0] * len(seeds), time.perf_counter()
    bar = progress(range(start_step, cfg.pretrain_steps), desc=desc, quiet=quiet, unit="step")
    loss = torch.full((len(seeds),), float("nan"))
    for step in bar:
        examples = [_pretrain_examples(task, cfg, seed, step) for seed in seeds]
        n_targets = torch.tensor([sum(len(t) + 1 for t in targets) for _, targets in examples],
                                 dtype=torch.float32, device=device)  # each target and its eos
        loss = torch.zeros(len(seeds), device=device)
        for prompts, targets in _length_buckets(examples, cfg.length_buckets):
            tokens, mask, loss_mask = supervised_batch(prompts, targets, device)
            part_loss = _supervised_loss(model, tokens, mask, loss_mask, n_targets)
            part_loss.sum().backward()
            loss += part_loss.detach()
            for k, n in enumerate(_per_model(mask.sum(1), len(seeds)).tolist()):
                tokens_seen[k] += n
        _update(opt, model, lr_at(step, cfg.pretrain_steps, peak_lr, 0.05))
        if not quiet:
            bar.set_postfix(loss=f"{loss.mean().item():.3f}",
                            tok_s=_rate(sum(tokens_seen), time.perf_counter() - start))
        if on_checkpoint is not None and (step + 1) % checkpoint_every == 0 \
                and step + 1 < cfg.pretrain_steps:
            on_checkpoint(step + 1, opt.state_dict())
    return _finish(model, start, loss, dict(steps=cfg.pretrain_steps - start_step,
                                            resumed_from_step=start_step),
                   tokens_trained=tokens_seen)


def _finish(model: CausalLM, start: float, loss, shared: dict, **per_model) -> list[TrainStats]:
    """The end of a training phase of ``len(loss)`` models side by side: the model back in eval
    mode and each model's ``TrainStats`` (``shared`` fields, and model k's entry of each list in
    ``per_model``); the wall time is all of theirs."""
    model.eval()
    seconds = time.perf_counter() - start
    return [TrainStats(seconds=seconds, final_loss=float(loss[k]), side_by_side=len(loss),
                       **shared, **{name: values[k] for name, values in per_model.items()})
            for k in range(len(loss))]


def finetune_problems(task: TaskConfig, cfg: TrainConfig, seed: int) -> list[Problem]:
    """The synthetic fine-tuning problems, shared by SFT and OPSD (same seed → same problems,
    same order)."""
    rng = np.random.default_rng([seed, 7])
    return sample_problems(rng, cfg.finetune_steps * cfg.batch_size, task.terms, task.digits)


def sft(model: CausalLM, task, cfg: TrainConfig, problems: list[list], ref: Reference, *,
        desc: str = "sft", quiet: bool = False) -> list[TrainStats]:
    """The SFT baseline: cross-entropy on the reference solutions (at this richness) after the
    student's prompt. ``problems[k]`` are model k's fine-tuning problems (``model`` holds
    ``len(problems)`` models side by side)."""
    device = _device(model)
    model.train()
    opt = _optimizer(model, cfg.lr, cfg.weight_decay)
    n_models, size = len(problems), cfg.batch_size
    tokens_seen, start, step_seconds = [0] * n_models, time.perf_counter(), []
    bar = progress(range(cfg.finetune_steps), desc=desc, quiet=quiet, unit="step")
    loss = torch.full((n_models,), float("nan"))
    for step in bar:
        tic = time.perf_counter()
        batches = [ps[step * size:(step + 1) * size] for ps in problems]
        targets = [[task.target(p, ref) for p in batch] for batch in batches]
        counts = [sum(len(t) + 1 for t in ts) for ts in targets]  # each target and its eos
        n_targets = torch.tensor(counts, dtype=torch.float32, device=device)
        loss = torch.zeros(n_models, device=device)
        for part in _micro_batches(size, cfg.micro_batch):
            tokens, mask, loss_mask = supervised_batch(
                [task.student_prompt(p) for p in _rows(batches, part)], _rows(targets, part),
                device, eos=task.eos)
            part_loss = _supervised_loss(model, tokens, mask, loss_mask, n_targets)
            part_loss.sum().backward()
            loss += part_loss.detach()
        _update(opt, model, lr_at(step, cfg.finetune_steps, cfg.lr, cfg.warmup))
        tokens_seen = [a + b for a, b in zip(tokens_seen, counts)]
        step_seconds.append(time.perf_counter() - tic)
        if not quiet:
            bar.set_postfix(loss=f"{loss.mean().item():.3f}",
                            tok_s=_rate(sum(tokens_seen), time.perf_counter() - start))
    return _finish(model, start, loss, dict(steps=cfg.finetune_steps, step_seconds=step_seconds),
                   tokens_trained=tokens_seen)


def rollout_logits(model: CausalLM, prompts: list[list[int]], rollout, rollout_mask):
    """Logits predicting each rollout token (B, T, V): one batched forward of the left-padded
    ``prompts`` followed by the rollout (positions after a rollout's end are masked later)."""
    prompt_tokens, prompt_mask = left_pad(prompts, rollout.device)
    tokens = torch.cat([prompt_tokens, rollout], dim=1)
    mask = torch.cat([prompt_mask, torch.ones_like(rollout_mask)], dim=1)
    return model(tokens[:, :-1], mask[:, :-1], last=rollout.shape[1])


def opsd(model: CausalLM, teacher: CausalLM, task, cfg: TrainConfig, problems: list[list],
         ref: Reference, seeds: list[int], *, desc: str = "opsd",
         quiet: bool = False) -> list[TrainStats]:
    """On-Policy Self-Distillation (the OPSD paper, Algorithm 1), for ``len(problems)`` models
    side by side: model k trains on ``problems[k]`` and samples from a generator seeded by
    ``seeds[k]``; ``teacher`` holds its teachers in the same order.

    Each step: the student (``model``, problem only) samples ``rollouts_per_prompt`` rollouts per
    problem; the ``teacher`` (the frozen initial policy: the base model, or the same model with
    its LoRA adapters disabled; with ``teacher_ema`` an EMA of the student instead) scores them
    with problem + reference in context (Figure 2's prompt shape); the loss is the per-token
    full-vocabulary JSD_β along the rollouts (or eq. 9's sampled-token policy gradient), with
    gradients through the student only; with ``mask_after_divergence`` only the tokens up to
    each rollout's first student–teacher argmax disagreement carry loss. The returned
    ``loss_regions`` say where the (unmasked) divergence mass fell relative to that
    disagreement, averaged over steps; ``time_split`` the seconds spent sampling, in the
    teacher's forward, in the student's forward + loss, and in backward + update.
    """
    device = _device(model)
    if cfg.teacher_ema is not None:  # starts at the initial policy, then follows the student
        teacher = copy.deepcopy(model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    opt = _optimizer(model, cfg.lr, cfg.weight_decay)
    gens = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]
    n_models, size = len(problems), cfg.batch_size * cfg.rollouts_per_prompt
    split, step_seconds = TimeSplit(), []
    regions: list[list[Regions]] = [[] for _ in range(n_models)]
    generated, start = [0] * n_models, time.perf_counter()
    bar = progress(range(cfg.finetune_steps), desc=desc, quiet=quiet, unit="step")
    loss = torch.full((n_models,), float("nan"))
    for step in bar:
        step_start = time.perf_counter()
        batches = [[p for p in ps[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                    for _ in range(cfg.rollouts_per_prompt)] for ps in problems]
        s_prompts = [[task.student_prompt(p) for p in batch] for batch in batches]
        t_prompts = [[task.teacher_prompt(p, ref) for p in batch] for batch in batches]

        tic = time.perf_counter()
        model.eval()
        prompt_tokens, prompt_mask = left_pad(_rows(s_prompts), device)
        rollout, valid = model.generate(prompt_tokens, prompt_mask, cfg.max_new_tokens, task.eos,
                                        temperature=cfg.temperature, generators=gens)
        generated = [a + b for a, b in zip(generated, _per_model(valid.sum(1), n_models).tolist())]
        split.sampling += time.perf_counter() - tic
        loss = torch.zeros(n_models, device=device)
        by_model = torch.arange(n_models * size, device=device).view(n_models, size)
        for part in _micro_batches(size, cfg.micro_batch):
            rows = by_model[:, part].reshape(-1)
            tic = time.perf_counter()
            model.eval()  # a LoRA teacher is the same modules: score in eval mode
            with torch.no_grad():
                teacher_logits = rollout_logits(teacher, _rows(t_prompts, part), rollout[rows],
                                                valid[rows])
            tic2 = time.perf_counter()
            model.train()
            student_logits = rollout_logits(model, _rows(s_prompts, part), rollout[rows],
                                            valid[rows])
            first = first_disagreement(student_logits.detach(), teacher_logits, valid[rows])
            for k, mine in enumerate(torch.arange(len(rows), device=device).chunk(n_models)):
                regions[k].append(divergence_regions(student_logits[mine], teacher_logits[mine],
                                                     valid[rows][mine], cfg.beta,
                                                     first=first[mine]))
            keep = None
            if cfg.mask_after_divergence:  # the teacher past a disagreement contradicts the prefix
                keep = torch.arange(valid.shape[1], device=device)[None] <= first[:, None]
            if cfg.objective == "pg":
                per_rollout = policy_gradient_loss(student_logits, teacher_logits, rollout[rows],
                                                   valid[rows], temperature=cfg.loss_temperature,
                                                   keep=keep, reduction="none")
            else:
                per_rollout = opsd_loss(student_logits, teacher_logits, valid[rows], cfg.beta,
                                        temperature=cfg.loss_temperature, top_k=cfg.top_k,
                                        chunk_size=cfg.chunk_size, keep=keep, reduction="none")
            part_loss = _per_model(per_rollout, n_models) / size  # each model's step mean
            tic3 = time.perf_counter()
            part_loss.sum().backward()
            loss += part_loss.detach()
            del teacher_logits, student_logits
            split.teacher += tic2 - tic
            split.student += tic3 - tic2
            split.update += time.perf_counter() - tic3
        tic = time.perf_counter()
        _update(opt, model, lr_at(step, cfg.finetune_steps, cfg.lr, cfg.warmup))
        if cfg.teacher_ema is not None:
            with torch.no_grad():
                for pt, ps in zip(teacher.parameters(), model.parameters()):
                    pt.mul_(cfg.teacher_ema).add_(ps, alpha=1 - cfg.teacher_ema)
        split.update += time.perf_counter() - tic
        step_seconds.append(time.perf_counter() - step_start)
        if not quiet:
            bar.set_postfix(loss=f"{loss.mean().item():.4f}",
                            tok_s=_rate(sum(generated), time.perf_counter() - start))
    return _finish(model, start, loss, dict(steps=cfg.finetune_steps, step_seconds=step_seconds,
                                            time_split=split),
                   tokens_generated=generated, loss_regions=[Regions.mean(r) for r in regions])


@torch.no_grad()
def evaluate(model: CausalLM, task, problems: list, cfg: TrainConfig, ref: Reference, *,
             teacher: CausalLM | None = None, teacher_view: bool = False,
             seed: int = 0) -> list[Evaluation]:
    """Evaluation of each model of ``model`` (``model.n_models`` side by side) on the same
    ``problems``, one ``Evaluation`` per model: greedy, and with ``cfg.eval_samples`` = k > 0
    also k samples per problem at ``eval_temperature`` (avg@k, drawn from a generator seeded by
    ``seed``, so every model sees the same random stream).

    As the student (default): per-problem correctness (kept for paired standard errors),
    accuracy and its SE, mean response length, the model's mean per-token entropy along its own
    greedy rollouts, and the JSD_0.5 between ``teacher`` (default: the model itself; else its
    teachers in the same order) with the reference ``ref`` in context and the model, along the
    same rollouts, with where it lies relative to each rollout's first argmax disagreement
    (``div_regions``). With ``teacher_view`` the model itself answers with the reference in
    context (the teacher's accuracy); no divergence is computed. ``seconds`` is the time of the
    whole evaluation (all models).
    """
    model.eval()
    device, n_models = _device(model), model.n_models
    teacher = teacher if teacher is not None else model
    correct, lengths = [[] for _ in range(n_models)], [[] for _ in range(n_models)]
    entropy, divergence = [[] for _ in range(n_models)], [[] for _ in range(n_models)]
    regions: list[list[Regions]] = [[] for _ in range(n_models)]
    generated, start = np.zeros(n_models, dtype=int), time.perf_counter()
    for i in range(0, len(problems), cfg.eval_batch):
        batch = problems[i:i + cfg.eval_batch]
        s_prompts = [task.student_prompt(p) for p in batch]
        t_prompts = [task.teacher_prompt(p, ref) for p in batch]
        tokens, mask = left_pad((t_prompts if teacher_view else s_prompts) * n_models, device)
        out, valid = model.generate(tokens, mask, cfg.max_new_tokens, task.eos, greedy=True)
        generated += _per_model(valid.sum(1), n_models).cpu().numpy()
        for k, (rows, vs) in enumerate(zip(out.cpu().chunk(n_models), valid.cpu().chunk(n_models))):
            for p, row, v in zip(batch, rows, vs):
                correct[k].append(task.is_correct(p, row[v].tolist()))
                lengths[k].append(int(v.sum()))
        by_model = torch.arange(n_models * len(batch), device=device).view(n_models, len(batch))
        for part in [] if teacher_view else _micro_batches(len(batch), cfg.micro_batch):
            rows = by_model[:, part].reshape(-1)
            s_logits = rollout_logits(model, s_prompts[part] * n_models, out[rows], valid[rows])
            t_logits = rollout_logits(teacher, t_prompts[part] * n_models, out[rows], valid[rows])
            ent = token_entropy(s_logits, cfg.chunk_size)
            jsd = token_jsd(s_logits, t_logits, 0.5, cfg.chunk_size)
            m = valid[rows].float()
            for k, mine in enumerate(torch.arange(len(rows), device=device).chunk(n_models)):
                entropy[k].extend(((ent[mine] * m[mine]).sum(1) / m[mine].sum(1)).tolist())
                divergence[k].extend(((jsd[mine] * m[mine]).sum(1) / m[mine].sum(1)).tolist())
                regions[k].append(divergence_regions(s_logits[mine], t_logits[mine],
                                                     valid[rows][mine], divergence=jsd[mine]))
    scores = [np.array(c, dtype=int) for c in correct]
    metric = "greedy"
    if cfg.eval_samples > 0:
        scores, sampled = _sampled_scores(model, task, problems, cfg, ref, teacher_view, seed)
        generated += sampled
        metric = f"avg@{cfg.eval_samples}"
    seconds = time.perf_counter() - start
    results = []
    for k in range(n_models):
        c = np.asarray(scores[k], dtype=float)
        res = Evaluation(accuracy=100.0 * c.mean(),
                         se=100.0 * c.std(ddof=1) / np.sqrt(len(c)) if len(c) > 1 else float("nan"),
                         length=float(np.mean(lengths[k])), correct=scores[k].tolist(),
                         tokens_generated=int(generated[k]), seconds=seconds, metric=metric,
                         greedy_accuracy=100.0 * float(np.mean(correct[k])))
        if entropy[k]:
            res.entropy = float(np.mean(entropy[k]))
            res.divergence = float(np.mean(divergence[k]))
            res.div_regions = Regions.mean(regions[k])
        results.append(res)
    return results


def _sampled_scores(model, task, problems, cfg, ref, teacher_view, seed):
    """Per model, per problem, the share of its ``eval_samples`` samples that are right; and the
    tokens each model generated. Each model samples from its own generator seeded by ``seed``."""
    k, n_models = cfg.eval_samples, model.n_models
    gens = [torch.Generator(device=_device(model)).manual_seed(seed) for _ in range(n_models)]
    repeated = [p for p in problems for _ in range(k)]
    hits, generated = [[] for _ in range(n_models)], np.zeros(n_models, dtype=int)
    for i in range(0, len(repeated), cfg.eval_batch):
        batch = repeated[i:i + cfg.eval_batch]
        prompts = [task.teacher_prompt(p, ref) if teacher_view else task.student_prompt(p)
                   for p in batch]
        tokens, mask = left_pad(prompts * n_models, _device(model))
        out, valid = model.generate(tokens, mask, cfg.max_new_tokens, task.eos,
                                    temperature=cfg.eval_temperature, generators=gens)
        generated += _per_model(valid.sum(1), n_models).cpu().numpy()
        for m, (rows, vs) in enumerate(zip(out.cpu().chunk(n_models), valid.cpu().chunk(n_models))):
            hits[m].extend(task.is_correct(p, row[v].tolist()) for p, row, v in zip(batch, rows, vs))
    return [np.asarray(h, dtype=float).reshape(len(problems), k).mean(1) for h in hits], generated
