"""The GPU check: the runner's SFT and OPSD on Qwen3-0.6B- and Qwen3-1.7B-shaped models with
1-2k-token rollouts, and TRL's SDFTTrainer on the same models, in one run of at most 5 minutes on
one H100.

    python benchmarks/gpu_check.py                    # one GPU: both shapes, bf16, LoRA 64
    python benchmarks/gpu_check.py --length 2048 --shapes 1.7b
    python benchmarks/gpu_check.py --tiny             # the same script on the CPU, in seconds

Models are random-init from the shapes' configs (nothing is downloaded: the tokenizer is a local
character tokenizer padded to Qwen3's 151,936-token vocabulary, so rollouts of a random model
run to the full length). Per shape it prints, for the runner (the OPSD paper's recipe: LoRA rank
64 / alpha 128, the teacher = the model with its adapters disabled, full-vocabulary JSD_0.5) and
for TRL's SDFTTrainer with the same LoRA, batch, rollout length and prompts: seconds per step
(the first step is a warm-up, not counted), rollout tokens per second, and peak GPU memory.
``--json FILE`` writes the numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_trl  # noqa: E402 - the shared measurements, next to this file

QWEN3_VOCAB = 151_936
# name: (hidden, layers, heads, kv heads, head dim, intermediate), as in the Qwen3 checkpoints'
# config.json (596M and 1.72B parameters with the 151,936-token vocabulary)
SHAPES = {"0.6b": (1024, 28, 16, 8, 128, 3072), "1.7b": (2048, 28, 16, 8, 128, 6144),
          "tiny": (64, 2, 4, 2, 16, 192)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true",
                    help="a tiny Qwen3 on the CPU, short rollouts: the script's smoke test")
    ap.add_argument("--shapes", default="0.6b,1.7b", help="comma-separated: 0.6b, 1.7b")
    ap.add_argument("--length", type=int, default=1024, help="rollout tokens (default 1024)")
    ap.add_argument("--batch", type=int, default=8, help="problems per step (default 8)")
    ap.add_argument("--steps", type=int, default=2,
                    help="OPSD and TRL steps per shape, the first a warm-up (default 2)")
    ap.add_argument("--lora", type=int, default=64, help="LoRA rank, 0 = full (default 64)")
    ap.add_argument("--budget", type=float, default=280,
                    help="seconds: a shape that would not end within them (judged from the "
                         "previous shape's time) is skipped and said so (default 280)")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)

    import torch
    import transformers
    import trl

    from scalefit.io import atomic_write_json
    from scalefit.runner.hf import char_tokenizer

    start = time.perf_counter()
    if args.tiny:
        device, dtype, shapes = torch.device("cpu"), torch.float32, ["tiny"]
        length, batch, vocab = min(args.length, 16), min(args.batch, 4), None
        torch.set_num_threads(1)
    else:
        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device (use --tiny for the CPU smoke test)", file=sys.stderr)
            return 2
        device, dtype = torch.device("cuda"), torch.bfloat16
        shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
        length, batch, vocab = args.length, args.batch, QWEN3_VOCAB
    tokenizer = char_tokenizer(bench_trl.ALPHABET, size=vocab)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"GPU check on {device_name}: torch {torch.__version__}, transformers "
          f"{transformers.__version__}, trl {trl.__version__}; {dtype}, LoRA {args.lora or 'off'}, "
          f"batch {batch}, rollouts of {length} tokens, {args.steps} steps (first a warm-up)")
    report = {"device": device_name, "dtype": str(dtype), "lora": args.lora,
              "batch": batch, "rollout_tokens": length, "models": []}
    shape_seconds = 0.0
    for shape in shapes:
        elapsed = time.perf_counter() - start
        if elapsed + 1.5 * shape_seconds > args.budget:  # a larger shape takes longer
            print(f"\nQwen3-{shape}: skipped, it would not end within --budget {args.budget:.0f} s")
            report.setdefault("skipped", []).append(shape)
            continue
        model = bench_trl.qwen3(*SHAPES[shape], len(tokenizer), device=device, dtype=dtype)
        n = sum(p.numel() for p in model.parameters())
        common = dict(steps=args.steps, batch=batch, length=length, lr=2e-5,
                      lora=args.lora or None)
        ours = bench_trl.time_runner(model, tokenizer, sft_steps=args.steps, **common)
        theirs = bench_trl.time_trl(model, tokenizer, **common)
        row = {"shape": shape, "n_params": n, **ours, "trl_sdft": theirs,
               "trl_over_runner": theirs["step_s"] / ours["opsd"]["step_s"]}
        report["models"].append(row)

        def mem(r):
            return "n/a" if r["peak_gib"] is None else f"{r['peak_gib']:.1f} GiB"

        print(f"\nQwen3-{shape} shape, {n / 1e6:,.1f}M params")
        print(f"  runner SFT   {ours['sft']['step_s']:7.2f} s/step  "
              f"{ours['sft']['trained_tokens_per_s']:9.0f} trained tokens/s  peak {mem(ours['sft'])}")
        print(f"  runner OPSD  {ours['opsd']['step_s']:7.2f} s/step  "
              f"{ours['opsd']['rollout_tokens_per_s']:9.0f} rollout tokens/s  "
              f"peak {mem(ours['opsd'])}")
        print("               " + ", ".join(f"{k} {v:.2f} s" for k, v in ours["opsd"]["split_s"].items()))
        print(f"  TRL SDFT     {theirs['step_s']:7.2f} s/step  "
              f"{batch * length / theirs['step_s']:9.0f} rollout tokens/s  peak {mem(theirs)}")
        print(f"  TRL / runner step time: {row['trl_over_runner']:.2f}x")
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
        shape_seconds = time.perf_counter() - start - elapsed
    report["seconds"] = time.perf_counter() - start
    print(f"\n{report['seconds']:.0f} s in all")
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
