"""How fast is the OPSD runner on this machine? Everything measured in one run.

0. Models side by side: models x steps per second of pretraining, SFT, OPSD and evaluation
   when K models of one shape are trained as one stack (``model.GPT`` with K models), against
   the same K models one at a time, for the study preset's shapes; the ratio of the two.
1. The machine's fp32 matmul throughput (1024 x 1024, torch, the same thread count).
2. Rollout tokens/s with and without the KV cache at the longest rollout length.
3. One OPSD step split into sampling / teacher forward / student forward + loss / backward +
   update, with the model FLOP/s each part reaches as a share of the matmul throughput, and the
   teacher and student forwards compared with one plain batched forward of the same tokens.
4. Peak memory of the full-vocabulary divergence (forward + backward) against the number of
   position chunks, each in a fresh subprocess (peak RSS above the inputs).

    python benchmarks/bench_runner.py                 # ~8 minutes on one core
    python benchmarks/bench_runner.py --size 1m --threads 1 --json runs/bench_runner.json
    python benchmarks/bench_runner.py --side-by-side-only --shapes 60k,300k --runs 8

No timing is asserted anywhere; the numbers are for reading.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def side_by_side(shape: str, n_bases: int, n_runs: int, preset: str, repeats: int = 2) -> dict:
    """Seconds of each phase with the models of one shape as one stack and one at a time (the
    best of ``repeats`` alternating runs each, so that a burst of load elsewhere on the machine
    hits both), with the preset's task and batch sizes: ``n_bases`` base models' pretraining
    steps; ``n_runs`` runs' SFT and OPSD steps and one evaluation of the preset's held-out
    problems (greedy, as the student, with the teacher's divergence), as a sweep stacks them."""
    from dataclasses import replace

    from scalefit.runner import train
    from scalefit.runner.config import PRESETS, Reference, model_config
    from scalefit.runner.model import GPT
    from scalefit.runner.sweep import eval_problems, finetuning
    from scalefit.runner.task import ADDITION

    run = PRESETS[preset]
    cfg = replace(run.train, pretrain_steps=8, finetune_steps=4)
    mcfg, ref = model_config(run, shape), Reference(0.0)
    seeds = list(range(n_runs))
    problems = [train.finetune_problems(run.task, cfg, s) for s in seeds]
    held_out = eval_problems(run)["id"]
    bases = GPT(mcfg, n_runs, seeds=seeds)
    train.pretrain(bases, run.task, replace(cfg, pretrain_steps=20), seeds, quiet=True)

    def phases(models: list[int]) -> dict:
        """Seconds of every phase for these models as one stack (pretraining: the first
        ``n_bases`` of them; with one model also without length buckets, as the runner
        pretrained before it had them)."""
        out = {}
        for key, buckets in [("pretrain", cfg.length_buckets)] + (
                [("pretrain, one batch per step", 1)] if len(models) == 1 else []):
            pretraining = bases.select(models[:n_bases])
            tic = time.perf_counter()
            train.pretrain(pretraining, run.task, replace(cfg, length_buckets=buckets),
                           [seeds[k] for k in models[:n_bases]], quiet=True)
            out[key] = time.perf_counter() - tic
        for method in ("sft", "opsd"):
            with finetuning(bases, models=models) as (student, teacher):
                tic = time.perf_counter()
                if method == "sft":
                    train.sft(student, ADDITION, cfg, [problems[k] for k in models], ref,
                              quiet=True)
                else:
                    train.opsd(student, teacher, ADDITION, cfg, [problems[k] for k in models],
                               ref, [seeds[k] for k in models], quiet=True)
                out[method] = time.perf_counter() - tic
        stack = bases.select(models)
        tic = time.perf_counter()
        train.evaluate(stack, ADDITION, held_out, cfg, ref, teacher=stack)
        out["evaluate"] = time.perf_counter() - tic
        return out

    phases([0])  # warm-up
    together, alone = [], []
    for _ in range(repeats):
        together.append(phases(seeds))
        singles = [phases([k]) for k in seeds]
        alone.append({k: sum(one[k] for one in singles[:n_bases if "pretrain" in k else None])
                      for k in singles[0]})
    best_together = {k: min(r[k] for r in together) for k in together[0]}
    best_alone = {k: min(r[k] for r in alone) for k in alone[0]}
    unbucketed = best_alone.pop("pretrain, one batch per step")
    work = {"pretrain": n_bases * cfg.pretrain_steps, "sft": n_runs * cfg.finetune_steps,
            "opsd": n_runs * cfg.finetune_steps, "evaluate": n_runs * len(held_out)}
    return {"shape": shape, "n_params": mcfg.n_params(), "bases": n_bases, "runs": n_runs,
            "phases": {k: {"per_s_together": work[k] / best_together[k],
                           "per_s_alone": work[k] / best_alone[k],
                           "ratio": best_alone[k] / best_together[k]} for k in work},
            "pretrain_vs_one_batch_per_step": unbucketed / best_together["pretrain"],
            "seconds_together": best_together, "seconds_alone": best_alone,
            "seconds_pretrain_one_batch_per_step": unbucketed}


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def _problems(n, terms=(5,), seed=0):
    from scalefit.runner.task import sample_problems

    return sample_problems(np.random.default_rng(seed), n, terms, 2)


def rollout_speed(model, batch: int, length: int) -> dict:
    """Tokens/s of sampled generation of exactly ``length`` tokens (no early stop)."""
    import torch

    from scalefit.runner.task import left_pad, student_prompt

    tokens, mask = left_pad([student_prompt(p) for p in _problems(batch)])
    out = {}
    for cache in (True, False):
        gen = torch.Generator().manual_seed(0)
        model.generate(tokens, mask, 4, eos=-1, generators=[gen], use_cache=cache)  # warm-up
        t = time.perf_counter()
        seq, _ = model.generate(tokens, mask, length, eos=-1, generators=[gen], use_cache=cache)
        dt = time.perf_counter() - t
        out["cached" if cache else "uncached"] = batch * seq.shape[1] / dt
    out["speedup"] = out["cached"] / out["uncached"]
    out["length"], out["batch"] = length, batch
    return out


def opsd_split(model, steps: int, batch: int) -> dict:
    """Average seconds per OPSD step in each part, from ``scalefit.runner.train.opsd``."""
    from scalefit.runner.config import Reference, TrainConfig
    from scalefit.runner.sweep import finetuning
    from scalefit.runner.task import ADDITION
    from scalefit.runner.train import opsd

    cfg = TrainConfig(finetune_steps=steps, batch_size=batch)
    with finetuning(model) as (student, teacher):
        stats = opsd(student, teacher, ADDITION, cfg, [_problems(steps * batch, (3, 4, 5), 1)],
                     Reference(0.0), [0], quiet=True)[0]
    per = {k: v / steps for k, v in vars(stats.time_split).items()}
    per["total"] = stats.seconds / steps
    per["tokens_generated_per_step"] = stats.tokens_generated / steps
    return per


def forward_compare(model, batch: int) -> dict:
    """The OPSD step's teacher forward (problem + reference + rollout) and student forward +
    backward, against one plain batched forward (and backward) over the same token count."""
    import torch

    from scalefit.runner.config import Reference
    from scalefit.runner.task import EOS, left_pad, student_prompt, teacher_prompt
    from scalefit.runner.train import rollout_logits

    probs = _problems(batch, (3, 4, 5), 2)
    s_prompts = [student_prompt(p) for p in probs]
    t_prompts = [teacher_prompt(p, Reference(0.0)) for p in probs]
    tok, mask = left_pad(s_prompts)
    rollout, valid = model.generate(tok, mask, 60, EOS,
                                    generators=[torch.Generator().manual_seed(0)])

    def timeit(fn, n=5):
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n

    with torch.no_grad():
        t_teacher = timeit(lambda: rollout_logits(model, t_prompts, rollout, valid))
        width = left_pad(t_prompts)[0].shape[1] + rollout.shape[1] - 1
        plain = torch.randint(3, model.cfg.vocab_size, (batch, width))
        t_plain = timeit(lambda: model(plain))

    def student():
        model.zero_grad(set_to_none=True)
        rollout_logits(model, s_prompts, rollout, valid).float().logsumexp(-1).mean().backward()

    def plain_student():
        model.zero_grad(set_to_none=True)
        width_s = left_pad(s_prompts)[0].shape[1] + rollout.shape[1] - 1
        model(plain[:, :width_s]).float().logsumexp(-1).mean().backward()

    return {"teacher_forward_s": t_teacher, "plain_forward_s": t_plain,
            "teacher_vs_plain": t_teacher / t_plain,
            "student_fwd_bwd_s": timeit(student), "plain_fwd_bwd_s": timeit(plain_student),
            "teacher_tokens": batch * width}


_MEM_CHILD = r"""
import sys, torch
torch.set_num_threads(1)
from scalefit.runner.losses import opsd_loss


def status_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])


b, t, v, chunk = map(int, sys.argv[1:5])
chunk = None if chunk == 0 else chunk
g = torch.Generator().manual_seed(0)
s = torch.randn(b, t, v, generator=g).requires_grad_(True)
te = torch.randn(b, t, v, generator=g)
mask = torch.ones(b, t, dtype=torch.bool)
s.grad = torch.zeros_like(s)           # the gradient buffer is part of the inputs
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                       # reset the peak (VmHWM) to the current RSS: inputs only
base = status_kib("VmRSS")
loss = opsd_loss(s, te, mask, 0.5, chunk_size=chunk)
loss.backward()
print((status_kib("VmHWM") - base) / 1024)
"""


def divergence_memory(b: int, t: int, v: int, chunk_counts) -> list[dict]:
    rows = []
    for n in chunk_counts:
        chunk = 0 if n == 1 else int(np.ceil(t / n))
        res = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(b), str(t), str(v),
                              str(chunk)], capture_output=True, text=True, check=True)
        rows.append({"chunks": n, "chunk_size": chunk or t,
                     "peak_extra_mib": float(res.stdout.strip().splitlines()[-1])})
    return rows


def model_flops(n_params: int, tokens: int, backward: bool) -> float:
    """2 N per token forward (matmuls), 6 N with backward; attention extra not counted."""
    return (6 if backward else 2) * n_params * tokens


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1m", help="runner size to time (default 1m)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--batch", type=int, default=32, help="rollouts per OPSD step (default 32)")
    ap.add_argument("--steps", type=int, default=5, help="OPSD steps to average (default 5)")
    ap.add_argument("--length", type=int, default=0,
                    help="rollout length for the cache comparison (default: the longest the "
                         "model allows after a 5-term prompt)")
    ap.add_argument("--preset", default="study",
                    help="whose task, batch sizes and shapes the side-by-side part uses "
                         "(default study)")
    ap.add_argument("--shapes", help="shapes for the side-by-side part (default: the preset's)")
    ap.add_argument("--bases", type=int, default=0,
                    help="base models pretrained side by side (default: the preset's)")
    ap.add_argument("--runs", type=int, default=0,
                    help="fine-tuning runs side by side (default: the preset's base models x "
                         "seeds)")
    ap.add_argument("--side-by-side-only", action="store_true",
                    help="only part 0")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)

    import torch

    from scalefit.runner.config import PRESETS, parse_sizes, resolve_size
    from scalefit.runner.model import GPT

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    preset = PRESETS[args.preset]
    shapes = parse_sizes(args.shapes) if args.shapes else preset.sizes
    n_bases = args.bases or preset.base_seeds
    n_runs = args.runs or preset.base_seeds * preset.seeds
    load = os.getloadavg()
    res = {"threads": args.threads, "torch": torch.__version__, "load_before": load,
           "side_by_side": []}
    print(f"runner benchmark: {args.threads} torch thread(s), torch {torch.__version__}; load "
          f"average before: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) on "
          f"{os.cpu_count()} cores")
    print(f"\n0. side by side (one stack) vs one at a time, the {args.preset} preset's task and "
          f"batches: {n_bases} base models' pretraining steps, {n_runs} runs' SFT and OPSD steps "
          "and evaluated problems, per second (models x steps)")
    print(f"   {'shape':>8} {'params':>10}  " + "  ".join(
        f"{k:>20}" for k in ("pretrain", "sft", "opsd", "evaluate"))
        + "   pretrain vs one at a time, one batch per step")
    for shape in shapes:
        r = side_by_side(shape, n_bases, n_runs, args.preset)
        res["side_by_side"].append(r)
        print(f"   {shape:>8} {r['n_params']:>10,}  " + "  ".join(
            f"{p['per_s_alone']:7.1f} →{p['per_s_together']:7.1f} {p['ratio']:4.1f}x"
            for p in r["phases"].values()) + f"   {r['pretrain_vs_one_batch_per_step']:4.1f}x")
    print("   (each cell: one at a time → side by side, and the ratio)")
    load = os.getloadavg()
    res["load_after"] = load
    print(f"   load average after: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    if args.side_by_side_only:
        if args.json:
            from scalefit.io import atomic_write_json

            atomic_write_json(Path(args.json), res)
        return 0
    cfg = resolve_size(args.size)
    model = GPT(cfg).eval()
    n = model.n_params()
    res.update({"size": args.size, "n_params": n})
    print(f"\none model of size {args.size} ({n:,} params):")

    gf = matmul_gflops()
    res["matmul_gflops"] = gf
    print(f"\n1. fp32 matmul 1024x1024: {gf:.1f} GFLOP/s")

    length = args.length or cfg.block_size - 16
    r = rollout_speed(model, args.batch, length)
    res["rollout"] = r
    print(f"\n2. rollouts, batch {args.batch}, {r['length']} new tokens each:"
          f"\n   KV cache     {r['cached']:9.0f} tokens/s"
          f"\n   no cache     {r['uncached']:9.0f} tokens/s"
          f"\n   speed-up     {r['speedup']:9.1f}x   (goal >= 5x)")

    sp = opsd_split(model, args.steps, args.batch)
    res["opsd_step"] = sp
    tok = sp["tokens_generated_per_step"]
    print(f"\n3. OPSD step (batch {args.batch}, mean of {args.steps} steps, "
          f"{tok:.0f} rollout tokens/step): {sp['total']:.3f} s")
    for k in ("sampling", "teacher", "student", "update"):
        print(f"   {k:9s} {sp[k]:7.3f} s  {100 * sp[k] / sp['total']:5.1f}%")

    fc = forward_compare(model, args.batch)
    res["forwards"] = fc
    teach_fl = model_flops(n, fc["teacher_tokens"], backward=False) / fc["teacher_forward_s"]
    stud_tokens = fc["teacher_tokens"]  # upper bound on the student's tokens (shorter prompts)
    share_t = teach_fl / 1e9 / gf
    res["teacher_share_of_matmul"] = share_t
    print(f"   teacher forward {fc['teacher_forward_s']:.4f} s vs one plain batched forward of "
          f"the same tokens {fc['plain_forward_s']:.4f} s (ratio {fc['teacher_vs_plain']:.2f})")
    print(f"   student forward+backward {fc['student_fwd_bwd_s']:.4f} s vs plain "
          f"{fc['plain_fwd_bwd_s']:.4f} s (ratio "
          f"{fc['student_fwd_bwd_s'] / fc['plain_fwd_bwd_s']:.2f})")
    upd_fl = model_flops(n, int(stud_tokens * 0.8), backward=True) / (sp["student"] + sp["update"])
    res["train_share_of_matmul"] = upd_fl / 1e9 / gf
    print(f"   model FLOP/s (2N per token forward, 6N with backward; attention not counted): "
          f"teacher forward {teach_fl / 1e9:.1f} GFLOP/s = {100 * share_t:.0f}% of the matmul "
          f"rate; student forward+backward+update ~{upd_fl / 1e9:.1f} GFLOP/s = "
          f"{100 * upd_fl / 1e9 / gf:.0f}%")

    mem = divergence_memory(4, 512, 32000, (1, 2, 4, 8, 16))
    res["divergence_memory"] = mem
    print("\n4. divergence forward+backward, B=4, T=512, V=32000 (inputs 250 MiB each): peak "
          "memory above the inputs")
    for row in mem:
        print(f"   {row['chunks']:3d} chunk(s) of {row['chunk_size']:4d} positions: "
              f"{row['peak_extra_mib']:8.1f} MiB")
    mem_t = [dict(row, length=t) for t in (128, 256, 512, 1024)
             for row in divergence_memory(4, t, 32000, (t // 32,))]
    res["divergence_memory_vs_length"] = mem_t
    print("   with 32 positions per chunk, against rollout length (the gradient buffer, B·T·V "
          "floats, is the part that must grow):")
    for row in mem_t:
        grad_mib = 4 * row["length"] * 32000 * 4 / 2**20
        row["beyond_gradient_mib"] = row["peak_extra_mib"] - grad_mib
        print(f"   T = {row['length']:4d} ({row['chunks']:2d} chunks): "
              f"{row['peak_extra_mib']:8.1f} MiB = gradient {grad_mib:6.1f} + "
              f"{row['beyond_gradient_mib']:6.1f} MiB")
    if args.json:
        from scalefit.io import atomic_write_json

        atomic_write_json(Path(args.json), res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
