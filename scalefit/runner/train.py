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
from scalefit.runner.config import Reference, TaskConfig, TrainConfig
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
    return torch.optim.AdamW(_trainable(model), lr=lr, betas=(0.9, 0.95),
                             weight_decay=weight_decay)


def _update(opt, model, lr):
    """One optimiser step on the gradients accumulated since the last one."""
    for group in opt.param_groups:
        group["lr"] = lr
    torch.nn.utils.clip_grad_norm_(_trainable(model), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _micro_batches(n: int, size: int | None) -> list[slice]:
    size = size or n
    return [slice(a, a + size) for a in range(0, n, size)]


def _supervised_loss(model, tokens, mask, loss_mask, n_targets: int):
    """Cross-entropy summed over the target tokens (``loss_mask``), divided by ``n_targets``
    (the whole step's count, so that micro-batches add up to the step's mean)."""
    width = int(loss_mask.sum(1).max())  # targets are right-aligned: logits of these only
    logits = model(tokens[:, :-1], mask[:, :-1], last=width)
    target_mask = loss_mask[:, -width:]
    return F.cross_entropy(logits[target_mask].float(), tokens[:, -width:][target_mask],
                           reduction="sum") / n_targets


def _rate(n: float, seconds: float) -> str:
    return f"{n / max(seconds, 1e-9):.0f}"


def pretrain(model: CausalLM, task: TaskConfig, cfg: TrainConfig, seed: int, *,
             start_step: int = 0, opt_state: dict | None = None,
             on_checkpoint: Callable[[int, dict], None] | None = None,
             checkpoint_every: int = 100, desc: str = "pretrain",
             quiet: bool = False) -> TrainStats:
    """Train a synthetic-family base model from scratch: plain problems (problem → solution; for
    all but a ``pretrain_working`` share, the short form ``pretrain_short``) and, for a
    ``teacher_mix`` share, problems with a reference of random richness (for a
    ``pretrain_hint_answer`` share, the answer alone) in context followed by the full solution,
    so that a reference is something the model can use.

    ``on_checkpoint(step, optimizer_state)`` is called every ``checkpoint_every`` steps (the
    caller saves the model); ``start_step`` and ``opt_state`` resume from such a checkpoint.
    """
    device = _device(model)
    model.train()
    opt = _optimizer(model, cfg.pretrain_lr, 0.0)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    tokens_seen, start = 0, time.perf_counter()
    bar = progress(range(start_step, cfg.pretrain_steps), desc=desc, quiet=quiet, unit="step")
    loss = torch.tensor(float("nan"))
    for step in bar:
        rng = np.random.default_rng([seed, step])
        problems = sample_problems(rng, cfg.pretrain_batch, task.terms, task.digits)
        with_ref = rng.random(len(problems)) < cfg.teacher_mix
        richness = rng.choice(PRETRAIN_RICHNESS, size=len(problems))
        working = rng.random(len(problems)) < cfg.pretrain_working
        hint = rng.random(len(problems)) < cfg.pretrain_hint_answer
        prompts = [ADDITION.teacher_prompt(p, Reference(0.0, True, False) if h
                                           else Reference(r, True))
                   if w else ADDITION.student_prompt(p)
                   for p, w, r, h in zip(problems, with_ref, richness, hint)]
        short = Reference(0.0, True, cfg.pretrain_short == "sums")
        targets = [encode(p.solution() if w or k else p.reference(short))
                   for p, w, k in zip(problems, with_ref, working)]
        tokens, mask, loss_mask = supervised_batch(prompts, targets, device)
        loss = _supervised_loss(model, tokens, mask, loss_mask, int(loss_mask.sum()))
        loss.backward()
        _update(opt, model, lr_at(step, cfg.pretrain_steps, cfg.pretrain_lr, 0.05))
        tokens_seen += int(mask.sum())
        if not quiet:
            bar.set_postfix(loss=f"{loss.item():.3f}",
                            tok_s=_rate(tokens_seen, time.perf_counter() - start))
        if on_checkpoint is not None and (step + 1) % checkpoint_every == 0 \
                and step + 1 < cfg.pretrain_steps:
            on_checkpoint(step + 1, opt.state_dict())
    model.eval()
    return TrainStats(steps=cfg.pretrain_steps - start_step, tokens_trained=tokens_seen,
                      seconds=time.perf_counter() - start, final_loss=float(loss.item()),
                      resumed_from_step=start_step)


def finetune_problems(task: TaskConfig, cfg: TrainConfig, seed: int) -> list[Problem]:
    """The synthetic fine-tuning problems, shared by SFT and OPSD (same seed → same problems,
    same order)."""
    rng = np.random.default_rng([seed, 7])
    return sample_problems(rng, cfg.finetune_steps * cfg.batch_size, task.terms, task.digits)


def sft(model: CausalLM, task, cfg: TrainConfig, problems: list, ref: Reference, *,
        desc: str = "sft", quiet: bool = False) -> TrainStats:
    """The SFT baseline: cross-entropy on the reference solutions (at this richness) after the
    student's prompt."""
    device = _device(model)
    model.train()
    opt = _optimizer(model, cfg.lr, cfg.weight_decay)
    tokens_seen, start, step_seconds = 0, time.perf_counter(), []
    bar = progress(range(cfg.finetune_steps), desc=desc, quiet=quiet, unit="step")
    loss = torch.tensor(float("nan"))
    for step in bar:
        tic = time.perf_counter()
        batch = problems[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        targets = [task.target(p, ref) for p in batch]
        n_targets = sum(len(t) + 1 for t in targets)  # each target and its eos
        loss = 0.0
        for part in _micro_batches(len(batch), cfg.micro_batch):
            tokens, mask, loss_mask = supervised_batch(
                [task.student_prompt(p) for p in batch[part]], targets[part], device,
                eos=task.eos)
            part_loss = _supervised_loss(model, tokens, mask, loss_mask, n_targets)
            part_loss.backward()
            loss += part_loss.detach()
        _update(opt, model, lr_at(step, cfg.finetune_steps, cfg.lr, cfg.warmup))
        tokens_seen += n_targets
        step_seconds.append(time.perf_counter() - tic)
        if not quiet:
            bar.set_postfix(loss=f"{float(loss):.3f}",
                            tok_s=_rate(tokens_seen, time.perf_counter() - start))
    model.eval()
    return TrainStats(steps=cfg.finetune_steps, tokens_trained=tokens_seen,
                      seconds=time.perf_counter() - start, final_loss=float(loss),
                      step_seconds=step_seconds)


def rollout_logits(model: CausalLM, prompts: list[list[int]], rollout, rollout_mask):
    """Logits predicting each rollout token (B, T, V): one batched forward of the left-padded
    ``prompts`` followed by the rollout (positions after a rollout's end are masked later)."""
    prompt_tokens, prompt_mask = left_pad(prompts, rollout.device)
    tokens = torch.cat([prompt_tokens, rollout], dim=1)
    mask = torch.cat([prompt_mask, torch.ones_like(rollout_mask)], dim=1)
    return model(tokens[:, :-1], mask[:, :-1], last=rollout.shape[1])


def opsd(model: CausalLM, teacher: CausalLM, task, cfg: TrainConfig, problems: list,
         ref: Reference, seed: int = 0, *, desc: str = "opsd", quiet: bool = False) -> TrainStats:
    """On-Policy Self-Distillation (the OPSD paper, Algorithm 1).

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
    gen = torch.Generator(device=device).manual_seed(seed)
    split, step_seconds, regions = TimeSplit(), [], []
    generated, start = 0, time.perf_counter()
    bar = progress(range(cfg.finetune_steps), desc=desc, quiet=quiet, unit="step")
    loss = torch.tensor(float("nan"))
    for step in bar:
        step_start = time.perf_counter()
        batch = problems[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        batch = [p for p in batch for _ in range(cfg.rollouts_per_prompt)]
        s_prompts = [task.student_prompt(p) for p in batch]
        t_prompts = [task.teacher_prompt(p, ref) for p in batch]

        tic = time.perf_counter()
        model.eval()
        prompt_tokens, prompt_mask = left_pad(s_prompts, device)
        rollout, valid = model.generate(prompt_tokens, prompt_mask, cfg.max_new_tokens, task.eos,
                                        temperature=cfg.temperature, generator=gen)
        generated += int(valid.sum())
        split.sampling += time.perf_counter() - tic
        loss = 0.0
        for part in _micro_batches(len(batch), cfg.micro_batch):
            tic = time.perf_counter()
            model.eval()  # a LoRA teacher is the same modules: score in eval mode
            with torch.no_grad():
                teacher_logits = rollout_logits(teacher, t_prompts[part], rollout[part],
                                                valid[part])
            tic2 = time.perf_counter()
            model.train()
            student_logits = rollout_logits(model, s_prompts[part], rollout[part], valid[part])
            first = first_disagreement(student_logits.detach(), teacher_logits, valid[part])
            regions.append(divergence_regions(student_logits, teacher_logits, valid[part],
                                              cfg.beta, first=first))
            keep = None
            if cfg.mask_after_divergence:  # the teacher past a disagreement contradicts the prefix
                keep = torch.arange(valid.shape[1], device=device)[None] <= first[:, None]
            if cfg.objective == "pg":
                part_loss = policy_gradient_loss(student_logits, teacher_logits, rollout[part],
                                                 valid[part], temperature=cfg.loss_temperature,
                                                 keep=keep)
            else:
                part_loss = opsd_loss(student_logits, teacher_logits, valid[part], cfg.beta,
                                      temperature=cfg.loss_temperature, top_k=cfg.top_k,
                                      chunk_size=cfg.chunk_size, keep=keep)
            part_loss = part_loss * (len(student_logits) / len(batch))  # the step's mean
            tic3 = time.perf_counter()
            part_loss.backward()
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
            bar.set_postfix(loss=f"{float(loss):.4f}",
                            tok_s=_rate(generated, time.perf_counter() - start))
    model.eval()
    return TrainStats(steps=cfg.finetune_steps, tokens_generated=generated,
                      seconds=time.perf_counter() - start, final_loss=float(loss),
                      step_seconds=step_seconds, loss_regions=Regions.mean(regions),
                      time_split=split)


@torch.no_grad()
def evaluate(model: CausalLM, task, problems: list, cfg: TrainConfig, ref: Reference, *,
             teacher: CausalLM | None = None, teacher_view: bool = False,
             seed: int = 0) -> Evaluation:
    """Evaluation on ``problems``: greedy, and with ``cfg.eval_samples`` = k > 0 also k samples
    per problem at ``eval_temperature`` (avg@k, drawn from a generator seeded by ``seed``, so
    every model sees the same random stream).

    As the student (default): per-problem correctness (kept for paired standard errors),
    accuracy and its SE, mean response length, the model's mean per-token entropy along its own
    greedy rollouts, and the JSD_0.5 between ``teacher`` (default: the model itself) with the
    reference ``ref`` in context and the model, along the same rollouts, with where it lies
    relative to each rollout's first argmax disagreement (``div_regions``). With
    ``teacher_view`` the model itself answers with the reference in context (the teacher's
    accuracy); no divergence is computed.
    """
    model.eval()
    device = _device(model)
    teacher = teacher if teacher is not None else model
    correct, lengths, entropy, divergence, regions = [], [], [], [], []
    generated, start = 0, time.perf_counter()
    for i in range(0, len(problems), cfg.eval_batch):
        batch = problems[i:i + cfg.eval_batch]
        s_prompts = [task.student_prompt(p) for p in batch]
        t_prompts = [task.teacher_prompt(p, ref) for p in batch]
        tokens, mask = left_pad(t_prompts if teacher_view else s_prompts, device)
        out, valid = model.generate(tokens, mask, cfg.max_new_tokens, task.eos, greedy=True)
        generated += int(valid.sum())
        for p, row, v in zip(batch, out.cpu(), valid.cpu()):
            correct.append(task.is_correct(p, row[v].tolist()))
            lengths.append(int(v.sum()))
        for part in [] if teacher_view else _micro_batches(len(batch), cfg.micro_batch):
            s_logits = rollout_logits(model, s_prompts[part], out[part], valid[part])
            t_logits = rollout_logits(teacher, t_prompts[part], out[part], valid[part])
            ent = token_entropy(s_logits, cfg.chunk_size)
            jsd = token_jsd(s_logits, t_logits, 0.5, cfg.chunk_size)
            m = valid[part].float()
            entropy.extend(((ent * m).sum(1) / m.sum(1)).cpu().tolist())
            divergence.extend(((jsd * m).sum(1) / m.sum(1)).cpu().tolist())
            regions.append(divergence_regions(s_logits, t_logits, valid[part], divergence=jsd))
    greedy = np.array(correct, dtype=float)
    scores, metric = greedy.astype(int), "greedy"
    if cfg.eval_samples > 0:
        scores, sampled = _sampled_scores(model, task, problems, cfg, ref, teacher_view, seed)
        generated += sampled
        metric = f"avg@{cfg.eval_samples}"
    c = np.asarray(scores, dtype=float)
    res = Evaluation(accuracy=100.0 * c.mean(),
                     se=100.0 * c.std(ddof=1) / np.sqrt(len(c)) if len(c) > 1 else float("nan"),
                     length=float(np.mean(lengths)), correct=scores.tolist(),
                     tokens_generated=generated, seconds=time.perf_counter() - start,
                     metric=metric, greedy_accuracy=100.0 * greedy.mean())
    if entropy:
        res.entropy = float(np.mean(entropy))
        res.divergence = float(np.mean(divergence))
        res.div_regions = Regions.mean(regions)
    return res


def _sampled_scores(model, task, problems, cfg, ref, teacher_view, seed):
    """Per problem, the share of its ``eval_samples`` samples that are right; and the number of
    tokens generated."""
    k = cfg.eval_samples
    gen = torch.Generator(device=_device(model)).manual_seed(seed)
    repeated = [p for p in problems for _ in range(k)]
    hits, generated = [], 0
    for i in range(0, len(repeated), cfg.eval_batch):
        batch = repeated[i:i + cfg.eval_batch]
        tokens, mask = left_pad([task.teacher_prompt(p, ref) if teacher_view
                                 else task.student_prompt(p) for p in batch], _device(model))
        out, valid = model.generate(tokens, mask, cfg.max_new_tokens, task.eos,
                                    temperature=cfg.eval_temperature, generator=gen)
        generated += int(valid.sum())
        hits.extend(task.is_correct(p, row[v].tolist())
                    for p, row, v in zip(batch, out.cpu(), valid.cpu()))
    return np.asarray(hits, dtype=float).reshape(len(problems), k).mean(1), generated
