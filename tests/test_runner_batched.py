"""Models side by side: a ``GPT`` stack of K models trains and evaluates as K separate models
would (the same seeds give the same models, to float rounding), and each model's gradient is
clipped on its own."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalefit.runner import train  # noqa: E402
from scalefit.runner.config import ModelConfig, Reference, TaskConfig, TrainConfig  # noqa: E402
from scalefit.runner.model import GPT  # noqa: E402
from scalefit.runner.sweep import finetuning  # noqa: E402
from scalefit.runner.task import ADDITION, left_pad, sample_problems  # noqa: E402

torch.set_num_threads(1)

SHAPE = ModelConfig(1, 2, 16)
SEEDS = [3, 14, 15]
TASK = TaskConfig(terms=(2, 3), ood_terms=(4,), digits=2)
CFG = TrainConfig(pretrain_steps=12, pretrain_batch=8, pretrain_sloppy=0.5, finetune_steps=3,
                  batch_size=4, max_new_tokens=24, eval_problems=12, eval_batch=12)


def _assert_same_model(stack: GPT, k: int, alone: GPT):
    # the stack pads every model's rows to the longest row of all, the model alone to its own:
    # the same sums in another order, so equal to float rounding (Adam amplifies it on weights
    # whose gradients are ~0, hence a looser tolerance on weights than on outputs)
    for name, w in alone.model_state(0).items():
        torch.testing.assert_close(stack.model_state(k)[name], w, atol=1e-4, rtol=1e-3, msg=name)


def test_a_stack_computes_what_its_models_compute_alone():
    stack = GPT(SHAPE, len(SEEDS), seeds=SEEDS)
    alone = [GPT(SHAPE, seeds=[s]) for s in SEEDS]
    for k, model in enumerate(alone):  # the same initial weights, whatever the stack
        assert all(torch.equal(stack.model_state(k)[n], w) for n, w in model.model_state(0).items())
    problems = sample_problems(np.random.default_rng(0), 5, (2, 3), 2)
    tokens, mask = left_pad([ADDITION.student_prompt(p) for p in problems])
    rows = stack(tokens.repeat(len(SEEDS), 1), mask.repeat(len(SEEDS), 1))
    for k, model in enumerate(alone):  # the same padded rows give bit-identical logits
        assert torch.equal(rows[k * len(problems):(k + 1) * len(problems)], model(tokens, mask))
    assert stack.n_params() == alone[0].n_params() == SHAPE.n_params()


def test_training_side_by_side_equals_training_one_at_a_time():
    """Pretraining, SFT, OPSD (its sampled rollouts included) and evaluation of three models in
    one stack against each model trained alone with the same seeds."""
    stack = GPT(SHAPE, len(SEEDS), seeds=SEEDS)
    alone = [GPT(SHAPE, seeds=[s]) for s in SEEDS]
    together = train.pretrain(stack, TASK, CFG, SEEDS, quiet=True)
    separate = [train.pretrain(m, TASK, CFG, [s], quiet=True)[0] for m, s in zip(alone, SEEDS)]
    for k, model in enumerate(alone):
        _assert_same_model(stack, k, model)
        assert together[k].final_loss == pytest.approx(separate[k].final_loss, rel=1e-4)
        assert together[k].tokens_trained == separate[k].tokens_trained
        assert together[k].side_by_side == 3 and separate[k].side_by_side == 1

    problems = [train.finetune_problems(TASK, CFG, s) for s in SEEDS]
    held_out = sample_problems(np.random.default_rng(1), 12, (2, 3), 2)
    ref = Reference(0.0)
    for method in ("sft", "opsd"):
        with finetuning(stack) as (students, teachers):
            if method == "sft":
                stats = train.sft(students, ADDITION, CFG, problems, ref, quiet=True)
            else:
                stats = train.opsd(students, teachers, ADDITION, CFG, problems, ref, SEEDS,
                                   quiet=True)
            evals = train.evaluate(students, ADDITION, held_out, CFG, ref, teacher=teachers)
        for k, model in enumerate(alone):
            with finetuning(model) as (student, teacher):
                if method == "sft":
                    one = train.sft(student, ADDITION, CFG, [problems[k]], ref, quiet=True)[0]
                else:
                    one = train.opsd(student, teacher, ADDITION, CFG, [problems[k]], ref,
                                     [SEEDS[k]], quiet=True)[0]
                ev = train.evaluate(student, ADDITION, held_out, CFG, ref, teacher=teacher)[0]
            _assert_same_model(students, k, student)
            assert stats[k].final_loss == pytest.approx(one.final_loss, rel=1e-4), method
            assert stats[k].tokens_generated == one.tokens_generated  # the same rollouts
            assert evals[k].correct == ev.correct and evals[k].length == ev.length
            assert evals[k].divergence == pytest.approx(ev.divergence, rel=1e-4)
        assert len({round(st.final_loss, 6) for st in stats}) == len(SEEDS)  # three models


def test_each_model_is_clipped_on_its_own_gradient_norm():
    """Model 0's gradient (norm ≫ 1) is scaled as ``clip_grad_norm_`` scales it alone, model
    1's (norm ≪ 1) is left as it is."""
    stack = GPT(SHAPE, 2, seeds=[1, 2])
    torch.manual_seed(0)
    for p in stack.parameters():
        p.grad = torch.randn_like(p) * torch.tensor([30.0, 1e-3]).view(-1, *[1] * (p.dim() - 1))
    separate = []
    for k in range(2):
        params = [torch.nn.Parameter(p[k].detach().clone()) for p in stack.parameters()]
        for q, p in zip(params, stack.parameters()):
            q.grad = p.grad[k].clone()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        separate.append(params)
    train._clip_per_model(list(stack.parameters()), 2)
    for k, params in enumerate(separate):
        for q, p in zip(params, stack.parameters()):
            torch.testing.assert_close(p.grad[k], q.grad)
    norms = torch.stack([p.grad.reshape(2, -1).norm(dim=1) for p in stack.parameters()])
    clipped, untouched = norms.norm(dim=0).tolist()
    assert clipped == pytest.approx(1.0, rel=1e-5) and untouched < 0.1


def test_pretraining_side_by_side_resumes_where_it_stopped():
    """A stack's pretraining stopped at a partial checkpoint and resumed from it (weights and
    optimiser state) ends with the weights of the uninterrupted run, bit for bit."""
    cfg = replace(CFG, pretrain_steps=6)
    full = GPT(SHAPE, 2, seeds=SEEDS[:2])
    train.pretrain(full, TASK, cfg, SEEDS[:2], quiet=True)
    saved = {}
    first = GPT(SHAPE, 2, seeds=SEEDS[:2])

    def keep(step, opt_state):
        saved.setdefault("step", step)
        saved.setdefault("state", copy.deepcopy(first.state_dict()))
        saved.setdefault("optimizer", copy.deepcopy(opt_state))

    train.pretrain(first, TASK, cfg, SEEDS[:2], on_checkpoint=keep, checkpoint_every=3,
                   quiet=True)
    resumed = GPT(SHAPE, 2, seeds=[0, 0])
    resumed.load_state_dict(saved["state"])
    stats = train.pretrain(resumed, TASK, cfg, SEEDS[:2], start_step=saved["step"],
                           opt_state=saved["optimizer"], quiet=True)
    assert saved["step"] == 3 and stats[0].resumed_from_step == 3
    assert all(torch.equal(a, b) for a, b in zip(full.parameters(), resumed.parameters()))
