"""The runner's OPSD step side by side with TRL's, on the same tiny model, in one run.

Needs the ``trl`` extra in its own environment (it pins torch==2.13.0 like the runner):

    python -m venv /tmp/trlvenv && /tmp/trlvenv/bin/pip install -e ".[trl]"
    /tmp/trlvenv/bin/python benchmarks/bench_trl.py            # ~20 s (--steps 12: ~45 s) on one core

What it does (all offline: a random-init ``transformers`` Qwen2 model of about 1M parameters over
the runner's 19-symbol character vocabulary, built locally; nothing is downloaded):

1. Loss agreement. On a fixed batch (student and teacher logits of the same model along a
   sampled rollout), the runner's ``opsd_loss`` against TRL's ``GKDTrainer.generalized_jsd_loss``
   (and SDFT's ``compute_divergence``) for beta in {0, 0.5, 1}: per-token values and the batch
   loss (rollouts of equal length, where the runner's mean of per-rollout means equals TRL's
   token mean). TRL special-cases beta = 0 as KL(teacher || student) and beta = 1 as
   KL(student || teacher), with the mixture weight beta on the teacher; the runner follows the
   same convention.
2. Step time. The same model trained for the same number of OPSD steps (batch 32, one rollout
   per problem, rollouts of exactly ``--length`` tokens, full-vocabulary JSD_0.5, frozen initial
   teacher with the reference in context) by the runner's ``train.opsd`` (through a thin
   adapter giving the HF model the runner's model interface, with the HF KV cache) and by TRL's
   experimental ``SDFTTrainer`` (``distillation_mode="full_logits"``, ``teacher_model_kind=
   "base"``, fp32), once with TRL's default ``gradient_checkpointing=True`` and once with it
   off. Also the runner's own nanoGPT model of the same width and depth, and TRL on a
   ``transformers`` GPT-2 with exactly that model's shape and parameter count (the like-for-like
   architecture comparison). Ratios are TRL time / runner time per step (> 1: the runner is
   faster), measured in this run.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never reach the Hub
warnings.filterwarnings("ignore")


def build_tokenizer():
    """A character-level fast tokenizer over the runner's vocabulary (pad 0, bos 1, eos 2)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from scalefit.runner.task import VOCAB

    vocab = {t: i for i, t in enumerate(VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", unk_token="<pad>")
    fast.padding_side = "left"
    return fast


def build_model(hidden: int, layers: int, seed: int = 0):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from scalefit.runner.task import VOCAB

    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(VOCAB), hidden_size=hidden, intermediate_size=4 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=512, tie_word_embeddings=True, pad_token_id=0,
                      bos_token_id=1, eos_token_id=2, use_cache=True)
    return Qwen2ForCausalLM(cfg).float()


def build_gpt2(hidden: int, layers: int, seed: int = 0):
    """A random-init ``transformers`` GPT-2 with exactly the runner GPT's shape and parameter
    count (learned positions, LayerNorm, exact GELU MLP, tied head): the like-for-like
    architecture for timing TRL against the runner's own model."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from scalefit.runner.task import VOCAB

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(VOCAB), n_positions=256, n_embd=hidden, n_layer=layers,
                     n_head=4, activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, tie_word_embeddings=True, pad_token_id=0, bos_token_id=1,
                     eos_token_id=2, use_cache=True)
    return GPT2LMHeadModel(cfg).float()


class HFAdapter:
    """Gives a ``transformers`` causal LM the runner's model interface (``forward(idx,
    pad_mask)`` → logits; ``generate`` with a KV cache), so ``scalefit.runner.train.opsd``
    trains it unchanged. ``ignore_eos`` makes every rollout run to the length cap."""

    def __init__(self, hf, ignore_eos: bool = True):
        self.hf, self.ignore_eos = hf, ignore_eos

    # the bits of nn.Module that opsd() uses
    def parameters(self):
        return self.hf.parameters()

    def train(self, mode=True):
        self.hf.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def __deepcopy__(self, memo):
        return HFAdapter(copy.deepcopy(self.hf, memo), self.ignore_eos)

    def __call__(self, idx, pad_mask=None):
        import torch

        if pad_mask is None:
            pad_mask = torch.ones_like(idx, dtype=torch.bool)
        pos = (pad_mask.long().cumsum(1) - 1).clamp(min=0)
        return self.hf(input_ids=idx, attention_mask=pad_mask.long(), position_ids=pos,
                       use_cache=False).logits

    def generate(self, prompt, prompt_mask, max_new_tokens, eos, *, temperature=1.0,
                 greedy=False, generator=None, use_cache=True):
        import torch
        import torch.nn.functional as F

        b = prompt.shape[0]
        mask = prompt_mask.long()
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        with torch.no_grad():
            out = self.hf(input_ids=prompt, attention_mask=mask, position_ids=pos,
                          use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1]
            toks, alive = [], []
            done = torch.zeros(b, dtype=torch.bool)
            next_pos = pos[:, -1:] + 1
            for _ in range(max_new_tokens):
                if greedy:
                    nxt = logits.argmax(-1)
                else:
                    probs = F.softmax(logits / temperature, -1)
                    nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
                alive.append(~done)
                toks.append(nxt)
                if not self.ignore_eos:
                    done = done | (nxt == eos)
                    if bool(done.all()):
                        break
                mask = torch.cat([mask, torch.ones(b, 1, dtype=mask.dtype)], 1)
                out = self.hf(input_ids=nxt[:, None], attention_mask=mask,
                              position_ids=next_pos, past_key_values=past, use_cache=True)
                past, logits = out.past_key_values, out.logits[:, -1]
                next_pos = next_pos + 1
        return torch.stack(toks, 1), torch.stack(alive, 1)


def problems(n, seed=0):
    from scalefit.runner.task import sample_problems

    return sample_problems(np.random.default_rng(seed), n, (3, 4, 5), 2)


# ----------------------------------------------------------------------------------------------


def loss_agreement(hf, length: int, batch: int = 8) -> list[dict]:
    import torch
    from trl.experimental.gkd import GKDTrainer
    from trl.experimental.sdft.loss_utils import compute_divergence

    from scalefit.runner.losses import generalized_jsd, opsd_loss
    from scalefit.runner.task import EOS, left_pad, student_prompt, teacher_prompt
    from scalefit.runner.train import rollout_logits

    model = HFAdapter(hf)
    probs = problems(batch, 3)
    s_prompts = [student_prompt(p) for p in probs]
    t_prompts = [teacher_prompt(p, 0.0) for p in probs]
    tok, mask = left_pad(s_prompts)
    rollout, valid = model.generate(tok, mask, length, EOS,
                                    generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        s_logits = rollout_logits(model, s_prompts, rollout, valid).double()
        t_logits = rollout_logits(model, t_prompts, rollout, valid).double()
    # make the two distributions differ more than a random-init model's do
    t_logits = t_logits * 3.0
    labels = rollout.clone()
    rows = []
    for beta in (0.0, 0.5, 1.0):
        ours_tok = generalized_jsd(s_logits, t_logits, beta)
        trl_tok = GKDTrainer.generalized_jsd_loss(s_logits, t_logits, labels=None, beta=beta,
                                                 reduction="none").sum(-1)
        sdft_tok = compute_divergence(torch.log_softmax(s_logits, -1),
                                      torch.log_softmax(t_logits, -1), beta)
        ours = opsd_loss(s_logits, t_logits, valid, beta).item()
        trl = GKDTrainer.generalized_jsd_loss(s_logits, t_logits, labels=labels, beta=beta).item()
        rows.append({"beta": beta, "runner_loss": ours, "trl_gkd_loss": trl,
                     "abs_diff": abs(ours - trl),
                     "max_token_diff_gkd": (ours_tok - trl_tok).abs().max().item(),
                     "max_token_diff_sdft": (ours_tok - sdft_tok).abs().max().item()})
    return rows


def time_runner(model, steps: int, batch: int, length: int, lr: float) -> dict:
    from scalefit.runner.config import TrainConfig
    from scalefit.runner.train import opsd

    cfg = TrainConfig(finetune_steps=steps + 1, batch_size=batch, lr=lr, max_new_tokens=length,
                      warmup=0.0)
    timings: dict = {}
    t0 = time.perf_counter()
    step_times = []

    class Clock(dict):  # opsd() adds to these keys once per step; record step boundaries
        def __setitem__(self, k, v):
            super().__setitem__(k, v)
            if k == "update":
                step_times.append(time.perf_counter())

    clock = Clock(timings)
    opsd(model, cfg, problems((steps + 1) * batch, 5), 0.0, True, seed=0, quiet=True,
         timings=clock)
    per_step = np.diff([t0, *step_times])[1:]  # drop the first (warm-up) step
    return {"step_s": float(np.mean(per_step)), "steps": len(per_step),
            "split": {k: v for k, v in clock.items()}}


def time_trl(hf, tokenizer, steps: int, batch: int, length: int, lr: float,
             gradient_checkpointing: bool) -> dict:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl.experimental.sdft import SDFTConfig, SDFTTrainer

    probs = problems((steps + 1) * batch, 5)
    data = Dataset.from_dict({"prompt": [p.prompt + "?" for p in probs],
                              "privileged_context": [p.reference(0.0) for p in probs]})
    stamps = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            stamps.append(time.perf_counter())

        def on_step_begin(self, args, state, control, **kw):
            if not stamps:
                stamps.append(time.perf_counter())

    args = SDFTConfig(
        output_dir="/tmp/bench_trl_out", per_device_train_batch_size=batch, num_generations=1,
        max_completion_length=length, max_steps=steps + 1, learning_rate=lr,
        lr_scheduler_type="constant", warmup_steps=0, logging_steps=10_000, save_strategy="no",
        report_to=[], bf16=False, fp16=False, use_cpu=True,
        gradient_checkpointing=gradient_checkpointing, distillation_mode="full_logits",
        distillation_alpha=0.5, distillation_is_clip=None, teacher_model_kind="base",
        teacher_prompt_template="{prompt}|{privileged_context}", shuffle_dataset=False,
        temperature=1.0, dataloader_num_workers=0, seed=0, disable_tqdm=True,
        generation_kwargs={"min_new_tokens": length}, max_prompt_length=128)
    # TRL builds the frozen "base" teacher by loading the student's path: save it locally
    import tempfile

    student = copy.deepcopy(hf)
    path = tempfile.mkdtemp(prefix="bench_trl_model_")
    student.save_pretrained(path)
    student.config._name_or_path = path
    trainer = SDFTTrainer(model=student, args=args, train_dataset=data,
                          processing_class=tokenizer, callbacks=[Clock()])
    trainer.train()
    per_step = np.diff(stamps)[1:]  # drop the first (warm-up) step
    return {"step_s": float(np.mean(per_step)), "steps": len(per_step)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=128, help="Qwen2 width (default 128)")
    ap.add_argument("--layers", type=int, default=4, help="Qwen2 layers (default 4)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=48, help="rollout length (default 48)")
    ap.add_argument("--steps", type=int, default=4, help="timed steps after one warm-up step")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-checkpointing", action="store_true",
                    help="do not time TRL with its default gradient_checkpointing=True")
    args = ap.parse_args(argv)

    import torch
    import transformers
    import trl

    from scalefit.runner.config import ModelConfig
    from scalefit.runner.model import GPT

    torch.set_num_threads(args.threads)
    hf = build_model(args.hidden, args.layers)
    tokenizer = build_tokenizer()
    n = sum(p.numel() for p in hf.parameters())
    print(f"TRL side-by-side: trl {trl.__version__}, transformers {transformers.__version__}, "
          f"torch {torch.__version__}, {args.threads} thread(s)")
    print(f"model: random-init Qwen2, {args.layers} layers x {args.hidden} wide, {n:,} params; "
          f"batch {args.batch}, rollouts of {args.length} tokens, {args.steps} timed steps\n")

    print("1. loss on a fixed batch: runner opsd_loss vs TRL GKDTrainer.generalized_jsd_loss")
    for row in loss_agreement(hf, args.length):
        print(f"   beta={row['beta']:.1f}: runner {row['runner_loss']:.8f}  TRL "
              f"{row['trl_gkd_loss']:.8f}  |diff| {row['abs_diff']:.1e}  per-token max |diff| "
              f"GKD {row['max_token_diff_gkd']:.1e}, SDFT {row['max_token_diff_sdft']:.1e}")

    lr = 1e-4
    res = {}
    res["runner (HF model)"] = time_runner(HFAdapter(copy.deepcopy(hf)), args.steps, args.batch,
                                           args.length, lr)
    native = GPT(ModelConfig(args.layers, 4, args.hidden, block_size=256))
    res["runner (own GPT)"] = time_runner(_EosFree(native), args.steps, args.batch, args.length,
                                          lr)
    res["TRL SDFT, no grad. ckpt"] = time_trl(hf, tokenizer, args.steps, args.batch,
                                              args.length, lr, False)
    if not args.skip_checkpointing:
        res["TRL SDFT, default"] = time_trl(hf, tokenizer, args.steps, args.batch, args.length,
                                            lr, True)
    gpt2 = build_gpt2(args.hidden, args.layers)
    res["TRL SDFT on GPT-2, no ckpt"] = time_trl(gpt2, tokenizer, args.steps, args.batch,
                                                 args.length, lr, False)
    base = res["runner (HF model)"]["step_s"]
    print(f"\n2. seconds per OPSD step (mean of {args.steps} after a warm-up step); ratio = "
          "TRL / runner on the same HF model")
    for name, r in res.items():
        extra = f"  own GPT: {sum(p.numel() for p in native.parameters()):,} params" \
            if "own" in name else ""
        print(f"   {name:26s} {r['step_s']:7.3f} s   x{r['step_s'] / base:5.2f}{extra}")
    own = res["runner (own GPT)"]["step_s"]
    for name in res:
        if name.startswith("TRL") and "GPT-2" not in name:
            print(f"   speed-up of the runner over {name}: "
                  f"{res[name]['step_s'] / base:.2f}x (same Qwen2 model), "
                  f"{res[name]['step_s'] / own:.2f}x (own GPT, a different model)")
    n_gpt2 = sum(p.numel() for p in gpt2.parameters())
    print(f"   like-for-like architecture: runner's own GPT vs TRL on a GPT-2 of the same shape "
          f"({n_gpt2:,} params): {res['TRL SDFT on GPT-2, no ckpt']['step_s'] / own:.2f}x")
    return 0


class _EosFree:
    """The runner's GPT with rollouts always run to the cap (like the HF adapter)."""

    def __init__(self, gpt):
        self.gpt = gpt

    def __getattr__(self, name):
        return getattr(self.gpt, name)

    def __call__(self, *a, **kw):
        return self.gpt(*a, **kw)

    def __deepcopy__(self, memo):
        return _EosFree(copy.deepcopy(self.gpt, memo))

    def train(self, mode=True):
        self.gpt.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def generate(self, prompt, prompt_mask, max_new_tokens, eos, **kw):
        return self.gpt.generate(prompt, prompt_mask, max_new_tokens, -1, **kw)


if __name__ == "__main__":
    sys.exit(main())
