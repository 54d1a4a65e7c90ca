"""Pretraining, the SFT baseline, OPSD (seed 002, Algorithm 1) and evaluation, top to bottom.

Every phase is a plain function of a model, a ``TrainConfig`` and a seed, on the model's device.
SFT and OPSD get the same problems (in the same order), the same number of optimiser steps and
the same learning-rate schedule (AdamW, linear warm-up over the first 10% of steps, cosine decay;
seed 002 §4). Batches are drawn from a generator seeded by (seed, step), so a pretraining run
resumed from a checkpoint at step k sees exactly the batches it would have seen.
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
from scalefit.runner.config import TaskConfig, TrainConfig
from scalefit.runner.losses import (divergence_regions, first_disagreement, generalized_jsd,
                                    opsd_loss, policy_gradient_loss)
from scalefit.runner.model import GPT
from scalefit.runner.task import (EOS, Problem, encode, left_pad, parse_answer, sample_problems,
                                  student_prompt, supervised_batch, teacher_prompt)

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


def _optimizer(model, lr, weight_decay):
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95),
                             weight_decay=weight_decay)


def _step(opt, loss, model, lr):
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _supervised_loss(model, tokens, mask, loss_mask):
    logits = model(tokens[:, :-1], mask[:, :-1])
    target_mask = loss_mask[:, 1:]
    return F.cross_entropy(logits[target_mask], tokens[:, 1:][target_mask])


def _rate(n: float, seconds: float) -> str:
    return f"{n / max(seconds, 1e-9):.0f}"


def pretrain(model: GPT, task: TaskConfig, cfg: TrainConfig, seed: int, *,
             start_step: int = 0, opt_state: dict | None = None,
             on_checkpoint: Callable[[int, dict], None] | None = None,
             checkpoint_every: int = 100, desc: str = "pretrain", quiet: bool = False) -> dict:
    """Train the base model from scratch: plain problems (problem → solution; for all but a
    ``pretrain_working`` share, the short form ``pretrain_short``) and, for a ``teacher_mix``
    share, problems with a reference of random richness (for a ``pretrain_hint_answer`` share,
    the answer alone) in context followed by the full solution, so that a reference is
    something the model can use.

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
        prompts = [(teacher_prompt(p, 0.0, True, False) if h else teacher_prompt(p, r, True))
                   if w else student_prompt(p)
                   for p, w, r, h in zip(problems, with_ref, richness, hint)]
        short = cfg.pretrain_short == "sums"
        targets = [encode(p.solution() if w or k else p.reference(0.0, True, short))
                   for p, w, k in zip(problems, with_ref, working)]
        tokens, mask, loss_mask = supervised_batch(prompts, targets, device)
        loss = _supervised_loss(model, tokens, mask, loss_mask)
        _step(opt, loss, model, lr_at(step, cfg.pretrain_steps, cfg.pretrain_lr, 0.05))
        tokens_seen += int(mask.sum())
        if not quiet:
            bar.set_postfix(loss=f"{loss.item():.3f}",
                            tok_s=_rate(tokens_seen, time.perf_counter() - start))
        if on_checkpoint is not None and (step + 1) % checkpoint_every == 0 \
                and step + 1 < cfg.pretrain_steps:
            on_checkpoint(step + 1, opt.state_dict())
    model.eval()
    return {"steps": cfg.pretrain_steps - start_step, "tokens_trained": tokens_seen,
            "seconds": time.perf_counter() - start, "final_loss": float(loss.item())}


def finetune_problems(task: TaskConfig, cfg: TrainConfig, seed: int) -> list[Problem]:
    """The fine-tuning problems, shared by SFT and OPSD (same seed → same problems, same order)."""
    rng = np.random.default_rng([seed, 7])
    return sample_problems(rng, cfg.finetune_steps * cfg.batch_size, task.terms, task.digits)


def sft(model: GPT, cfg: TrainConfig, problems: list[Problem], richness: float,
        show_answer: bool = True, show_sums: bool = True, *, desc: str = "sft",
        quiet: bool = False) -> dict:
    """The SFT baseline: cross-entropy on the reference solutions (at this richness)."""
    device = _device(model)
    model.train()
    opt = _optimizer(model, cfg.lr, cfg.weight_decay)
    tokens_seen, start = 0, time.perf_counter()
    bar = progress(range(cfg.finetune_steps), desc=desc, quiet=quiet, unit="step")
    for step in bar:
        batch = problems[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        targets = [encode(p.reference(richness, show_answer, show_sums)) for p in batch]
        tokens, mask, loss_mask = supervised_batch([student_prompt(p) for p in batch], targets,
                                                   device)
        loss = _supervised_loss(model, tokens, mask, loss_mask)
        _step(opt, loss, model, lr_at(step, cfg.finetune_steps, cfg.lr, cfg.warmup))
        tokens_seen += int(loss_mask.sum())
        if not quiet:
            bar.set_postfix(loss=f"{loss.item():.3f}",
                            tok_s=_rate(tokens_seen, time.perf_counter() - start))
    model.eval()
    return {"steps": cfg.finetune_steps, "tokens_trained": tokens_seen, "tokens_generated": 0,
            "seconds": time.perf_counter() - start, "final_loss": float(loss.item())}


def rollout_logits(model: GPT, prompts: list[list[int]], rollout, rollout_mask):
    """Logits predicting each rollout token (B, T, V): one batched forward of the left-padded
    ``prompts`` followed by the rollout (positions after a rollout's end are masked later)."""
    prompt_tokens, prompt_mask = left_pad(prompts, rollout.device)
    tokens = torch.cat([prompt_tokens, rollout], dim=1)
    mask = torch.cat([prompt_mask, torch.ones_like(rollout_mask)], dim=1)
    logits = model(tokens[:, :-1], mask[:, :-1])
    return logits[:, prompt_tokens.shape[1] - 1:]


def opsd(model: GPT, cfg: TrainConfig, problems: list[Problem], richness: float,
         show_answer: bool = True, seed: int = 0, *, show_sums: bool = True, desc: str = "opsd",
         quiet: bool = False, timings: dict | None = None) -> dict:
    """On-Policy Self-Distillation (seed 002, Algorithm 1).

    Each step: the student (the model, problem only) samples ``rollouts_per_prompt`` rollouts per
    problem; the teacher (the frozen initial policy, or an EMA of the student with
    ``teacher_ema``) scores them with problem + reference in context (Figure 2's prompt shape);
    the loss is the per-token full-vocabulary JSD_β along the rollouts (or eq. 9's sampled-token
    policy gradient), with gradients through the student only; with ``mask_after_divergence``
    only the tokens up to each rollout's first student–teacher argmax disagreement carry loss.
    The returned ``loss_regions`` say where the (unmasked) divergence mass fell relative to that
    disagreement, averaged over steps (``losses.divergence_regions``). ``timings`` accumulates
    seconds spent in sampling, the teacher forward, the student forward + loss, and backward +
    update.
    """
    device = _device(model)
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = _optimizer(model, cfg.lr, cfg.weight_decay)
    gen = torch.Generator(device=device).manual_seed(seed)
    t = timings if timings is not None else {}
    for key in ("sampling", "teacher", "student", "update"):
        t.setdefault(key, 0.0)
    generated, start, regions = 0, time.perf_counter(), []
    bar = progress(range(cfg.finetune_steps), desc=desc, quiet=quiet, unit="step")
    loss = torch.tensor(float("nan"))
    for step in bar:
        batch = problems[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        batch = [p for p in batch for _ in range(cfg.rollouts_per_prompt)]
        s_prompts = [student_prompt(p) for p in batch]
        t_prompts = [teacher_prompt(p, richness, show_answer, show_sums) for p in batch]

        tic = time.perf_counter()
        model.eval()
        prompt_tokens, prompt_mask = left_pad(s_prompts, device)
        rollout, valid = model.generate(prompt_tokens, prompt_mask, cfg.max_new_tokens, EOS,
                                        temperature=cfg.temperature, generator=gen)
        model.train()
        generated += int(valid.sum())
        tic2 = time.perf_counter()
        with torch.no_grad():
            teacher_logits = rollout_logits(teacher, t_prompts, rollout, valid)
        tic3 = time.perf_counter()
        student_logits = rollout_logits(model, s_prompts, rollout, valid)
        first = first_disagreement(student_logits.detach(), teacher_logits, valid)
        regions.append(divergence_regions(student_logits, teacher_logits, valid, cfg.beta,
                                          first=first))
        keep = None
        if cfg.mask_after_divergence:  # the teacher past a disagreement contradicts the prefix
            keep = torch.arange(valid.shape[1], device=device)[None] <= first[:, None]
        if cfg.objective == "pg":
            loss = policy_gradient_loss(student_logits, teacher_logits, rollout, valid,
                                        temperature=cfg.loss_temperature, keep=keep)
        else:
            loss = opsd_loss(student_logits, teacher_logits, valid, cfg.beta,
                             temperature=cfg.loss_temperature, top_k=cfg.top_k,
                             chunk_size=cfg.chunk_size, keep=keep)
        tic4 = time.perf_counter()
        _step(opt, loss, model, lr_at(step, cfg.finetune_steps, cfg.lr, cfg.warmup))
        if cfg.teacher_ema is not None:
            with torch.no_grad():
                for pt, ps in zip(teacher.parameters(), model.parameters()):
                    pt.mul_(cfg.teacher_ema).add_(ps, alpha=1 - cfg.teacher_ema)
        tic5 = time.perf_counter()
        t["sampling"] += tic2 - tic
        t["teacher"] += tic3 - tic2
        t["student"] += tic4 - tic3
        t["update"] += tic5 - tic4
        if not quiet:
            bar.set_postfix(loss=f"{loss.item():.4f}",
                            tok_s=_rate(generated, time.perf_counter() - start))
    model.eval()
    return {"steps": cfg.finetune_steps, "tokens_generated": generated,
            "seconds": time.perf_counter() - start, "final_loss": float(loss.item()),
            "loss_regions": {k: float(np.mean([r[k] for r in regions])) for k in regions[0]},
            "time_split": {k: round(v, 3) for k, v in t.items()}}


@torch.no_grad()
def evaluate(model: GPT, problems: list[Problem], cfg: TrainConfig, *,
             teacher: GPT | None = None, richness: float = 1.0, show_answer: bool = True,
             show_sums: bool = True, teacher_view: bool = False) -> dict:
    """Greedy evaluation on ``problems``.

    As the student (default): per-problem correctness (kept for paired standard errors),
    accuracy and its SE, mean response length, the model's mean per-token entropy along its own
    rollouts, and the JSD_0.5 between ``teacher`` (default: the model itself) with the reference
    of this richness in context and the model, along the same rollouts, with the share of it
    at and after each rollout's first argmax disagreement (``div_regions``).
    With ``teacher_view`` the model itself answers with the reference in context (the teacher's
    accuracy); no divergence is computed.
    """
    model.eval()
    device = _device(model)
    teacher = teacher if teacher is not None else model
    correct, lengths, entropy, divergence, regions = [], [], [], [], []
    generated, start = 0, time.perf_counter()
    for i in range(0, len(problems), cfg.eval_batch):
        batch = problems[i:i + cfg.eval_batch]
        s_prompts = [student_prompt(p) for p in batch]
        t_prompts = [teacher_prompt(p, richness, show_answer, show_sums) for p in batch]
        tokens, mask = left_pad(t_prompts if teacher_view else s_prompts, device)
        out, valid = model.generate(tokens, mask, cfg.max_new_tokens, EOS, greedy=True)
        generated += int(valid.sum())
        rows, valids = out.cpu(), valid.cpu()
        for p, row, v in zip(batch, rows, valids):
            correct.append(parse_answer(row[v].tolist()) == p.answer)
            lengths.append(int(v.sum()))
        if not teacher_view:
            s_logits = rollout_logits(model, s_prompts, out, valid).float()
            t_logits = rollout_logits(teacher, t_prompts, out, valid).float()
            m = valid.float()
            logp = F.log_softmax(s_logits, -1)
            ent = -(logp.exp() * logp).sum(-1)
            jsd = generalized_jsd(s_logits, t_logits, 0.5)
            entropy.extend(((ent * m).sum(1) / m.sum(1)).cpu().tolist())
            divergence.extend(((jsd * m).sum(1) / m.sum(1)).cpu().tolist())
            regions.append(divergence_regions(s_logits, t_logits, valid,
                                              divergence=jsd))
    c = np.array(correct, dtype=float)
    res = {"accuracy": 100.0 * c.mean(),
           "se": 100.0 * c.std(ddof=1) / np.sqrt(len(c)) if len(c) > 1 else float("nan"),
           "length": float(np.mean(lengths)), "correct": c.astype(int).tolist(),
           "tokens_generated": generated, "seconds": time.perf_counter() - start}
    if entropy:
        res["entropy"] = float(np.mean(entropy))
        res["divergence"] = float(np.mean(divergence))
        res["div_regions"] = {k: float(np.mean([r[k] for r in regions])) for k in regions[0]}
    return res
