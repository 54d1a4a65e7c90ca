"""The runner's OPSD step side by side with TRL's SDFTTrainer, on the same transformers model, in
one run.

Needs the ``trl`` extra (``pip install -e ".[dev]"`` has it):

    python benchmarks/bench_trl.py            # ~1 minute on one core
    python benchmarks/bench_trl.py --hidden 256 --layers 6 --steps 6

What it does, all offline (a random-init ``transformers`` Qwen3 built from its config and a
character tokenizer with a chat template built with ``tokenizers``; nothing is downloaded):

1. Loss agreement. On one batch (student and teacher logits of the model along sampled rollouts
   of different lengths), the runner's ``opsd_loss`` against TRL's SDFT loss
   (``SDFTTrainer._compute_self_distillation_loss``: full-vocabulary divergence per token, mean
   per rollout, mean over rollouts) for beta 0, 0.5 and 1.
2. Step time. The same model trained for the same OPSD steps (full fine-tuning, one rollout per
   problem, rollouts of exactly ``--length`` tokens, JSD_0.5 over the full vocabulary, the frozen
   initial policy as teacher with the reference in the OPSD paper's Figure-2 prompt) by the
   runner (``scalefit.runner.train.opsd`` on ``hf.HFCausalLM``) and by TRL's experimental
   ``SDFTTrainer`` (``distillation_mode="full_logits"``, ``teacher_model_kind="base"``), with
   activation checkpointing off (as the runner) and with TRL's default (on). The ratio is TRL's
   step time over the runner's, measured in this run (> 1: the runner is faster).

``benchmarks/gpu_check.py`` runs the same measurements on Qwen3-0.6B and -1.7B shapes on a GPU.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
import warnings

import numpy as np

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never reach the hub
warnings.filterwarnings("ignore")

# The OPSD paper's Figure 2 without braces (TRL fills its template with str.format)
STUDENT = "Problem: {problem}"
TEACHER = ("Problem: {problem}\nHere is a reference solution:\n{reference}\nAfter understanding "
           "the reference solution, please try to solve this problem using your own approach "
           "below.")
TRL_TEACHER = TEACHER.replace("Problem: {problem}", "{prompt}").replace("{reference}",
                                                                       "{privileged_context}")
ALPHABET = "".join(chr(c) for c in range(32, 127)) + "\n"


def qwen3(hidden: int, layers: int, heads: int, kv_heads: int, head_dim: int, intermediate: int,
          vocab: int, *, seed: int = 0, device="cpu", dtype=None):
    """A random-init Qwen3 causal LM of this shape (tied embeddings, as Qwen3 up to 4B), built
    from its config on ``device``."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=kv_heads, head_dim=head_dim,
                         max_position_embeddings=40960, tie_word_embeddings=True, pad_token_id=0)
    with torch.device(device):
        model = Qwen3ForCausalLM(config)
    return model.to(dtype) if dtype is not None else model


def problems(n: int, seed: int = 0):
    """GSM8K-like problems whose references are a few sentences of working."""
    from scalefit.runner.problems import MathProblem

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a, b, c = (int(x) for x in rng.integers(2, 99, 3))
        working = (f"First, {a} apples and {b} more make {a}+{b}={a + b}.\n"
                   f"Then {c} are eaten, which leaves {a + b}-{c}={a + b - c}.")
        out.append(MathProblem(f"Ann has {a} apples and buys {b}. She eats {c}. How many are "
                               f"left? (case {i})", working, str(a + b - c)))
    return out


def runner_task(tokenizer, length_forced: bool = True):
    """The runner's task for these problems; with ``length_forced`` rollouts never stop early
    (eos -1: OPSD only, SFT trains on the eos), so both sides generate exactly the same number
    of tokens."""
    from scalefit.runner.problems import ChatTask

    task = ChatTask(tokenizer, STUDENT, TEACHER)
    if length_forced:
        task.eos = -1
    return task


def loss_agreement(model, tokenizer, length: int, batch: int = 8) -> list[dict]:
    """The runner's OPSD loss against TRL's SDFT loss on one batch of real logits."""
    from types import SimpleNamespace

    import torch
    from trl.experimental.sdft.sdft_trainer import DistillationLogits, SDFTTrainer

    from scalefit.runner.config import Reference
    from scalefit.runner.hf import HFCausalLM
    from scalefit.runner.losses import opsd_loss
    from scalefit.runner.task import left_pad
    from scalefit.runner.train import rollout_logits

    wrapped, task = HFCausalLM(model), runner_task(tokenizer)
    probs = problems(batch, 3)
    s_prompts = [task.student_prompt(p) for p in probs]
    t_prompts = [task.teacher_prompt(p, Reference()) for p in probs]
    tokens, mask = left_pad(s_prompts)
    rollout, valid = wrapped.generate(tokens, mask, length, -1,
                                      generators=[torch.Generator().manual_seed(1)])
    lengths = torch.linspace(1, length, batch).long()
    valid = valid & (torch.arange(valid.shape[1])[None] < lengths[:, None])
    with torch.no_grad():
        student = rollout_logits(wrapped, s_prompts, rollout, valid).double()
        teacher = rollout_logits(wrapped, t_prompts, rollout, valid).double() * 3.0
    rows = []
    for beta in (0.0, 0.5, 1.0):
        trl_self = SimpleNamespace(
            args=SimpleNamespace(distillation_mode="full_logits", distillation_alpha=beta,
                                 distillation_is_clip=None),
            accelerator=SimpleNamespace(gather=lambda x: x),
            _log_self_distillation_metric=lambda *a: None)
        trl = SDFTTrainer._compute_self_distillation_loss(
            trl_self, SimpleNamespace(training=True), {},
            DistillationLogits(rollout, valid.long(), student, teacher)).item()
        ours = opsd_loss(student, teacher, valid, beta).item()
        rows.append({"beta": beta, "runner": ours, "trl": trl, "abs_diff": abs(ours - trl)})
    return rows


def peak_memory_gib(device) -> float | None:
    import torch

    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def time_runner(model, tokenizer, *, steps: int, batch: int, length: int, lr: float,
                lora: int | None = None, sft_steps: int = 0, micro_batch: int | None = None,
                gradient_checkpointing: bool = False) -> dict:
    """Seconds per step of the runner's SFT and OPSD on ``model`` (the first step of each is a
    warm-up and not counted), rollout tokens per second of an OPSD step, and peak GPU memory."""
    from scalefit.runner.config import LoraConfig, Reference, TrainConfig
    from scalefit.runner.hf import HFCausalLM
    from scalefit.runner.sweep import finetuning
    from scalefit.runner.train import opsd, sft

    device = next(model.parameters()).device
    base = HFCausalLM(model).eval()
    for p in base.parameters():
        p.requires_grad_(False)
    if gradient_checkpointing:
        model.activation_checkpointing_enable({"use_reentrant": False})
    out = {}
    for method, n in (("sft", sft_steps), ("opsd", steps)):
        if not n:
            continue
        task = runner_task(tokenizer, length_forced=method == "opsd")
        cfg = TrainConfig(finetune_steps=n + 1, batch_size=batch, lr=lr, warmup=0.0,
                          max_new_tokens=length, micro_batch=micro_batch)
        work = problems(cfg.finetune_steps * batch, 5)
        reset_peak(device)
        with finetuning(base, LoraConfig(lora) if lora else None) as (student, teacher):
            if method == "sft":
                stats = sft(student, task, cfg, [work], Reference(), quiet=True)[0]
            else:
                stats = opsd(student, teacher, task, cfg, [work], Reference(), [0], quiet=True)[0]
        step = float(np.mean(stats.step_seconds[1:]))
        out[method] = {"step_s": step, "steps_timed": n, "peak_gib": peak_memory_gib(device)}
        if method == "sft":
            out[method]["trained_tokens_per_s"] = stats.tokens_trained / stats.seconds
        else:
            out[method]["rollout_tokens_per_s"] = batch * length / step
            out[method]["tokens_per_rollout"] = stats.tokens_generated // cfg.finetune_steps // batch
            out[method]["split_s"] = {k: v / cfg.finetune_steps
                                      for k, v in vars(stats.time_split).items()}
    if gradient_checkpointing:
        model.activation_checkpointing_disable()
    return out


def time_trl(model, tokenizer, *, steps: int, batch: int, length: int, lr: float,
             lora: int | None = None, gradient_checkpointing: bool = False) -> dict:
    """Seconds per step of TRL's SDFTTrainer on (a copy of) ``model``, the first step being a
    warm-up, and peak GPU memory."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl.experimental.sdft import SDFTConfig, SDFTTrainer

    from scalefit.runner.config import Reference

    device = next(model.parameters()).device
    probs = problems((steps + 1) * batch, 5)
    data = Dataset.from_dict({"prompt": [[{"role": "user", "content": f"Problem: {p.problem}"}]
                                         for p in probs],
                              "privileged_context": [p.reference(Reference()) for p in probs]})
    stamps = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            if not stamps:
                stamps.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            stamps.append(time.perf_counter())

    student = copy.deepcopy(model)
    for p in student.parameters():
        p.requires_grad_(True)
    path = tempfile.mkdtemp(prefix="bench_trl_model_")  # TRL loads a full-model teacher by path
    if not lora:
        student.save_pretrained(path)
        student.config._name_or_path = path
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=lora, lora_alpha=2 * lora, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    cuda = device.type == "cuda"
    args = SDFTConfig(
        output_dir=path, per_device_train_batch_size=batch, num_generations=1,
        max_completion_length=length, max_steps=steps + 1, learning_rate=lr,
        lr_scheduler_type="constant", warmup_steps=0, logging_steps=10_000, save_strategy="no",
        report_to=[], bf16=cuda and model.dtype == torch.bfloat16, fp16=False, use_cpu=not cuda,
        gradient_checkpointing=gradient_checkpointing, distillation_mode="full_logits",
        distillation_alpha=0.5, distillation_is_clip=None, teacher_model_kind="base",
        teacher_prompt_template=TRL_TEACHER, shuffle_dataset=False, temperature=1.0,
        dataloader_num_workers=0, seed=0, disable_tqdm=True,
        generation_kwargs={"min_new_tokens": length}, max_prompt_length=512)
    reset_peak(device)
    trainer = SDFTTrainer(model=student, args=args, train_dataset=data,
                          processing_class=tokenizer, callbacks=[Clock()], peft_config=peft_config)
    trainer.train()
    out = {"step_s": float(np.mean(np.diff(stamps)[1:])), "steps_timed": steps,
           "peak_gib": peak_memory_gib(device)}
    del trainer, student
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=128, help="Qwen3 width (default 128)")
    ap.add_argument("--layers", type=int, default=4, help="Qwen3 layers (default 4)")
    ap.add_argument("--batch", type=int, default=32, help="problems per step (default 32)")
    ap.add_argument("--length", type=int, default=48, help="rollout length (default 48)")
    ap.add_argument("--steps", type=int, default=4, help="timed steps after one warm-up step")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-checkpointing", action="store_true",
                    help="do not time TRL with its default gradient_checkpointing=True")
    args = ap.parse_args(argv)

    import torch
    import transformers
    import trl

    from scalefit.runner.hf import char_tokenizer

    torch.set_num_threads(args.threads)
    tokenizer = char_tokenizer(ALPHABET)
    model = qwen3(args.hidden, args.layers, 4, 2, args.hidden // 4, 3 * args.hidden, len(tokenizer))
    n = sum(p.numel() for p in model.parameters())
    print(f"TRL side-by-side: trl {trl.__version__}, transformers {transformers.__version__}, "
          f"torch {torch.__version__}, {args.threads} thread(s)")
    print(f"model: random-init Qwen3, {args.layers} layers x {args.hidden} wide, {n:,} params, "
          f"vocabulary {len(tokenizer)}; batch {args.batch}, rollouts of {args.length} tokens, "
          f"{args.steps} timed steps after a warm-up step\n")

    print("1. loss on one batch: runner opsd_loss vs TRL SDFT (per rollout mean, then mean)")
    for row in loss_agreement(model, tokenizer, args.length):
        print(f"   beta={row['beta']:.1f}: runner {row['runner']:.10f}  TRL {row['trl']:.10f}  "
              f"|diff| {row['abs_diff']:.1e}")

    common = dict(steps=args.steps, batch=args.batch, length=args.length, lr=1e-4)
    res = {"runner": time_runner(model, tokenizer, **common)["opsd"],
           "TRL SDFT, no grad. ckpt": time_trl(model, tokenizer, **common)}
    if not args.skip_checkpointing:
        res["TRL SDFT, default (ckpt)"] = time_trl(model, tokenizer, gradient_checkpointing=True,
                                                   **common)
    base = res["runner"]["step_s"]
    print("\n2. seconds per OPSD step on the same model; ratio = TRL / runner (> 1: runner faster)")
    for name, r in res.items():
        print(f"   {name:26s} {r['step_s']:7.3f} s   x{r['step_s'] / base:5.2f}")
    split = res["runner"]["split_s"]
    print("   runner's step: " + ", ".join(f"{k} {v:.3f} s" for k, v in split.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
