"""``scalefit run``: measure OPSD gains over a family of small models and write gain tables.

Importing this module does not import torch; ``main`` does, when a run starts. The lead CLI
wires it as ``runner_cli.add_arguments(parser); parser.set_defaults(handler=runner_cli.main)``;
``python -m scalefit.runner.cli ...`` runs it on its own.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace

from scalefit.errors import ScalefitError
from scalefit.runner.config import PRESETS, SIZES, LoraConfig, parse_sizes

DESCRIPTION = """\
Measure On-Policy Self-Distillation (OPSD) gains over model sizes and write gain tables.

Per size: base models (--base-seeds of them), then SFT on the reference solutions and OPSD
(student rollouts, frozen teacher = the base model with the reference in context,
full-vocabulary JSD_beta), each from every base with paired seeds and the same budget, evaluated
on the same held-out problems; models of one shape train side by side as one computation. The models
are either a family of small transformers pretrained here on a synthetic addition task (cached;
id = trained number of terms, ood = more terms), or transformers checkpoints (--models: local
directories or hub names, their tokenizer and chat template; --lora R through peft, the teacher
being the model with its adapters disabled; bf16 on a GPU) on real problems (--data: JSONL or
hf:DATASET; answers checked with math-verify).

Writes to --out: gains.csv (OPSD - SFT, pp; the table `scalefit fit` reads), gains_vs_base.csv
(OPSD - base), gains_all.csv (every row incl. non-distillable ones, with notes), manifest.json,
and gain_vs_size.png/.pdf (gain vs size per richness level).
Checkpoints go to --checkpoint-dir (default OUT/checkpoints); rerunning the same command resumes.

Examples:
  scalefit run --preset smoke --out runs/smoke
  scalefit run --preset study --out runs/study --workers 1   # data/runner_study, 84 min
  scalefit run --models Qwen/Qwen3-0.6B,Qwen/Qwen3-1.7B --data hf:openai/gsm8k:main@train \\
      --eval-data hf:openai/gsm8k:main@test --lora 64 --out runs/gsm8k   # one GPU
  scalefit run --models DIR_A,DIR_B --data problems.jsonl --out runs/mine
  scalefit run --preset small --out runs/small --workers 2
  scalefit run --preset small --sizes 10k,100k --richness 0,0.5,1 --seeds 3
  scalefit run --preset gpu --device cuda --out runs/gpu
  scalefit run --preset small --scheduler tcp://10.0.0.5:8786
  scalefit fit runs/smoke/gains.csv              # one richness level
  scalefit fit runs/small/gains.csv --by richness   # several levels
"""

SIZE_HELP = ", ".join(f"{k} ({v.n_params():,})" for k, v in SIZES.items())


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    if not vals or any(not 0.0 <= v <= 1.0 for v in vals):
        raise argparse.ArgumentTypeError(f"richness levels must be in [0, 1], got {text!r}")
    return vals


def sizes_type(text: str) -> tuple[str, ...]:
    try:
        return parse_sizes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err))


def _nonnegative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise argparse.ArgumentTypeError("no models given")
    return names


def _ints(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"numbers of terms must be >= 1, got {text!r}")
    return vals


def positive_type(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return v
    return parse


def unit_type(text):
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every ``scalefit run`` option to ``parser``."""
    if parser.description is None:
        parser.description = DESCRIPTION
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    g = parser.add_argument_group("what to run")
    g.add_argument("--preset", choices=sorted(PRESETS), default="smoke",
                   help="tiny: 2 tiny sizes of an easy task, ~1 minute (tests, demos); smoke: 3 "
                        "sizes, richness 0, 2 seeds, a few minutes on 2 cores; study: 7 sizes "
                        "60k-2m, 2 base models x 2 seeds, richness 0,1, pretrained with a careful "
                        "and a sloppy writer so that OPSD has a learnable job, 84 min on one core; "
                        "small: 6 "
                        "sizes (10k-300k) x richness 0,1 x 2 base models x 5 seeds (one base model: "
                        "52 min on 2 cores); gpu: "
                        "8 sizes up to 30m params x richness 0,0.5,1, for one GPU; latent: 6 "
                        "sizes (10k-300k) whose base students leave the working latent, where "
                        "OPSD has something to do; latent-tiny: its CI-sized version; gsm8k: "
                        "Qwen3 0.6B/1.7B/4B on GSM8K with the OPSD paper's recipe (LoRA 64) on "
                        "one GPU. With --models or --data the defaults are gsm8k's unless the "
                        "preset is another real-model one (default: %(default)s)")
    g.add_argument("--sizes", type=sizes_type, metavar="LIST",
                   help=f"comma-separated sizes instead of the preset's: {SIZE_HELP}, or a "
                        "shape like L4H4D96 (layers, heads, width)")
    g.add_argument("--richness", type=_floats, metavar="LIST",
                   help="reference richness levels in [0, 1]: the fraction of the reference "
                        "solution's steps that keep their working (0 = running sums only, 1 = "
                        "the format the student writes); e.g. 0,0.5,1")
    g.add_argument("--hide-answer", action="store_true",
                   help="references end without '#answer' (default: the answer is shown)")
    g.add_argument("--hide-sums", action="store_true",
                   help="references drop the running sums of steps without working (richness 0: "
                        "the answer alone, a hint rather than the solution)")
    g.add_argument("--seeds", type=positive_type(int), metavar="N",
                   help="paired fine-tuning seeds per size and richness (preset: 2 smoke, 5 "
                        "small/gpu)")
    g.add_argument("--base-seeds", type=positive_type(int), metavar="K",
                   help="base models per size, pretrained from different seeds and each "
                        "fine-tuned with every seed; the gains' SEs then include the variance "
                        "between base models (preset: 2 in the study presets, else 1)")
    g.add_argument("--seed", type=int, metavar="N",
                   help="master seed: base models, fine-tuning seeds, evaluation problems "
                        "(default 0)")
    g = parser.add_argument_group("transformers models on real problems (instead of the family)")
    g.add_argument("--models", type=_names, metavar="LIST",
                   help="comma-separated causal LMs: local directories (with config.json and "
                        "the tokenizer) or hub names such as Qwen/Qwen3-1.7B; each is a size of "
                        "the table, its own parameter count the size")
    g.add_argument("--data", metavar="FILE",
                   help="training problems: JSONL with problem (or question), solution and "
                        "answer (read from the solution's '#### 42' or \\boxed{} when missing), "
                        "or hf:NAME[:CONFIG][@SPLIT] through `datasets`")
    g.add_argument("--eval-data", metavar="FILE",
                   help="the id split (default: --eval-problems held out of --data at random)")
    g.add_argument("--ood-data", metavar="FILE", help="an ood split (default: none)")
    g.add_argument("--lora", type=_nonnegative_int, metavar="R",
                   help="LoRA adapters of rank R on every linear layer (peft); the teacher is "
                        "the model with its adapters disabled; 0 = full fine-tuning (default: "
                        "the preset's; gsm8k: 64)")
    g.add_argument("--lora-alpha", type=positive_type(float), metavar="A",
                   help="LoRA alpha (default 2R, the OPSD paper's 128 for rank 64)")
    g.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default=None,
                   help="weights and activations: auto = bfloat16 on CUDA, float32 on the CPU")
    g.add_argument("--student-template", metavar="TEXT",
                   help="the student's prompt, with {problem} (default: 'Problem: {problem}' and "
                        "an instruction to reason step by step and box the answer)")
    g.add_argument("--teacher-template", metavar="TEXT",
                   help="the teacher's prompt, with {problem} and {reference} (default: the OPSD "
                        "paper's Figure 2: the problem, 'Here is a reference solution:', the "
                        "reference, 'After understanding the reference solution, please try to "
                        "solve this problem using your own approach below.', the instruction)")
    g.add_argument("--thinking", action="store_true",
                   help="chat templates that have it (Qwen3): thinking mode on (default off)")
    g.add_argument("--eval-samples", type=positive_type(int), metavar="K",
                   help="accuracy as avg@K: K samples per problem at --eval-temperature "
                        "(default: greedy)")
    g.add_argument("--eval-temperature", type=positive_type(float), metavar="T",
                   help="sampling temperature of avg@K (default 1.0)")
    g.add_argument("--micro-batch", type=positive_type(int), metavar="N",
                   help="rollouts per forward/backward; a step's gradients are accumulated "
                        "(default: the whole batch)")
    g.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute activations in backward (long rollouts on a GPU)")
    g = parser.add_argument_group("where and how")
    g.add_argument("--out", default=None, metavar="DIR",
                   help="output folder for the tables and manifest (default runs/PRESET)")
    g.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="checkpoints (default OUT/checkpoints); rerunning resumes from them")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="auto picks cuda when torch sees a GPU (default auto)")
    g.add_argument("--workers", type=positive_type(int), default=None, metavar="N",
                   help="local worker processes, one size each, 1 torch thread per process "
                        "(default: min(2, cores); 1 runs inline)")
    g.add_argument("--threads", type=positive_type(int), default=None, metavar="N",
                   help="torch threads per worker (default 1: on a shared CPU more threads "
                        "per process are much slower)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="run sizes on a Dask distributed cluster (e.g. tcp://host:8786) "
                        "instead of local processes")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g = parser.add_argument_group("training (override the preset)")
    g.add_argument("--pretrain-steps", type=positive_type(int), metavar="N",
                   help="base-model pretraining steps")
    g.add_argument("--pretrain-batch", type=positive_type(int), metavar="N",
                   help="problems per pretraining step")
    g.add_argument("--pretrain-lr", type=positive_type(float), help="pretraining learning rate (peak)")
    g.add_argument("--pretrain-lr-width", type=positive_type(int), metavar="W",
                   help="models wider than W pretrain at --pretrain-lr x W / width (Adam's "
                        "step proportional to 1/width; default: one learning rate for all)")
    g.add_argument("--pretrain-working", type=unit_type, metavar="F",
                   help="share of the plain pretraining problems written with their working; "
                        "the others in --pretrain-short form (default 1)")
    g.add_argument("--pretrain-short", choices=("answer", "sums"),
                   help="short form of the other plain pretraining problems: the answer alone "
                        "or the running sums (default answer)")
    g.add_argument("--pretrain-hint-answer", type=unit_type, metavar="F",
                   help="share of pretraining references that are the answer alone (default 0)")
    g.add_argument("--pretrain-sloppy", type=unit_type, metavar="F",
                   help="share of the plain pretraining problems written by a sloppy writer who "
                        "drops every units carry (68+67=125); problems with a reference are "
                        "always written carefully (default 0)")
    g.add_argument("--mask-after-divergence", action="store_true",
                   help="ablation: OPSD loss only up to each rollout's first student-teacher "
                        "argmax disagreement")
    g.add_argument("--steps", dest="finetune_steps", type=positive_type(int), metavar="N",
                   help="optimiser steps of SFT and of OPSD (the same for both)")
    g.add_argument("--batch-size", type=positive_type(int), metavar="N",
                   help="problems per fine-tuning step (SFT and OPSD)")
    g.add_argument("--lr", type=positive_type(float), help="fine-tuning learning rate (peak)")
    g.add_argument("--objective", choices=("jsd", "pg"),
                   help="OPSD loss: jsd = full-vocabulary JSD_beta (eq. 6-8), pg = sampled-token "
                        "policy gradient (eq. 9) (default jsd)")
    g.add_argument("--beta", type=unit_type,
                   help="JSD_beta weight: 0 = forward KL(teacher||student), 1 = reverse "
                        "KL(student||teacher) (default 0.5)")
    g.add_argument("--top-k", type=positive_type(int), metavar="K",
                   help="distil over the teacher's top-k tokens only (default: full vocabulary)")
    g.add_argument("--teacher-ema", type=unit_type, metavar="DECAY",
                   help="EMA teacher with this decay (default: the frozen initial policy)")
    g.add_argument("--temperature", type=positive_type(float),
                   help="sampling temperature of the student's rollouts (default 1.0; the "
                        "paper used 1.2)")
    g.add_argument("--rollouts-per-prompt", type=positive_type(int), metavar="N",
                   help="student rollouts per problem (default 1)")
    g.add_argument("--max-new-tokens", type=positive_type(int), metavar="N",
                   help="rollout and evaluation length cap (default 80)")
    g.add_argument("--eval-problems", type=positive_type(int), metavar="N",
                   help="held-out problems per split (id and ood)")
    g.add_argument("--terms", type=_ints, metavar="LIST",
                   help="numbers of terms in training and the id split (default 3,4,5)")
    g.add_argument("--ood-terms", type=_ints, metavar="LIST",
                   help="numbers of terms in the ood split (default 6)")
    g.add_argument("--digits", type=positive_type(int), metavar="D", help="operand digits (default 2)")
    g.add_argument("--min-teacher-advantage", type=float, metavar="PP",
                   help="report a gain only where the teacher (base model + reference) beats the "
                        "base student by at least this many pp on that split (default 15), or by "
                        "--min-headroom-share of the student's headroom if that is smaller")
    g.add_argument("--min-headroom-share", type=unit_type, metavar="F",
                   help="see --min-teacher-advantage (default 0.5: a teacher that closes half "
                        "of the gap between the student and 100%% is enough)")


def preset_name(args: argparse.Namespace) -> str:
    """The preset the arguments start from: ``--preset``, or gsm8k (the real-model defaults)
    when --models or --data is given and ``--preset`` is a synthetic-family one."""
    real_args = getattr(args, "models", None) or getattr(args, "data", None)
    return "gsm8k" if real_args and not PRESETS[args.preset].real else args.preset


def config_from_args(args: argparse.Namespace):
    """The ``RunConfig`` the arguments ask for: the preset with every given option applied."""
    cfg = PRESETS[preset_name(args)]
    if getattr(args, "models", None) and getattr(args, "sizes", None):
        raise ScalefitError("--sizes is the synthetic family; with --models the models are the "
                            "sizes")
    over = {k: getattr(args, k, None) for k in (
        "sizes", "richness", "seeds", "base_seeds", "seed", "device", "threads", "min_teacher_advantage",
        "min_headroom_share",
        "pretrain_steps", "pretrain_batch", "pretrain_lr", "pretrain_lr_width",
        "pretrain_working", "pretrain_short", "pretrain_hint_answer", "pretrain_sloppy",
        "finetune_steps", "batch_size", "lr", "objective", "beta", "top_k", "teacher_ema", "temperature", "rollouts_per_prompt", "max_new_tokens", "eval_problems",
        "terms", "ood_terms", "digits", "models", "data", "eval_data", "ood_data", "dtype",
        "student_template", "teacher_template", "eval_samples", "eval_temperature",
        "micro_batch")}
    for flag, name, value in (("hide_answer", "show_answer", False),
                              ("hide_sums", "show_sums", False),
                              ("mask_after_divergence", "mask_after_divergence", True),
                              ("thinking", "thinking", True),
                              ("gradient_checkpointing", "gradient_checkpointing", True)):
        if getattr(args, flag, False):
            over[name] = value
    if getattr(args, "lora", None) is not None:
        cfg = replace(cfg, lora=LoraConfig(args.lora, args.lora_alpha) if args.lora else None)
    if getattr(args, "data", None):  # a new problem set: the preset's test sets go with its own
        cfg = replace(cfg, problems=None)
    cfg = cfg.with_overrides(**over)
    if cfg.real and not cfg.show_sums:
        raise ScalefitError("--hide-sums belongs to the synthetic task (real references have "
                            "no running sums)")
    longest = max(cfg.task.terms + cfg.task.ood_terms)
    if not cfg.real and (cfg.task.digits > 4 or longest > 10):
        raise ScalefitError("the task is sized for at most 10 terms of at most 4 digits "
                            f"(got {longest} terms, {cfg.task.digits} digits)")
    return cfg


def main(args: argparse.Namespace) -> int:
    """Run the sweep the arguments describe; print where the tables went and what they say."""
    from scalefit.runner.sweep import default_workers, run_sweep

    cfg = config_from_args(args)
    out = args.out or f"runs/{preset_name(args)}"
    workers = args.workers or default_workers()
    command = shlex.join(sys.argv) if sys.argv else None
    gains = run_sweep(cfg, out, workers=workers, scheduler=args.scheduler,
                      checkpoint_dir=args.checkpoint_dir, quiet=args.quiet, command=command)
    from scalefit.report.figures_runner import write_gain_figure

    write_gain_figure(gains.parent)
    print(summary_text(gains.parent))
    return 0


def summary_text(out_dir) -> str:
    """A short plain-text summary of a finished run's tables."""
    import json
    from pathlib import Path

    import pandas as pd

    from scalefit.runner.schema import BASELINES, COMPARISON, FILES, SPLIT

    out_dir = Path(out_dir)
    allrows = pd.read_csv(out_dir / FILES["gains_all"])
    manifest = json.loads((out_dir / "manifest.json").read_text())
    sft = allrows[allrows[COMPARISON] == BASELINES["sft"]]
    bases = manifest["config"].get("base_seeds", 1)
    lines = [f"{out_dir}: {len(manifest['finished_sizes'])} sizes in "
             f"{manifest['wall_seconds']:.0f} s; OPSD - SFT and OPSD - base in pp (paired SE "
             f"over problems, seeds and base models; {bases} base model(s) per size)", ""]
    w = max([7, *sft["size_name"].astype(str).str.len()])
    lines.append(f"{'size':>{w}} {'params':>13} {'richness':>8} {'split':>5}  {'base':>5} "
                 f"{'teacher':>7} {'SFT':>5} {'OPSD':>5}  {'OPSD-SFT':>14}  {'OPSD-base':>14}")
    base_rows = allrows[allrows[COMPARISON] == BASELINES["base"]].set_index(
        ["size_name", "richness", SPLIT])
    for _, r in sft.iterrows():
        b = base_rows.loc[(r["size_name"], r["richness"], r[SPLIT])]
        flag = "" if r["distillable"] else "  not distillable"
        lines.append(f"{r['size_name']:>{w}} {int(r['param_count']):>13,} {r['richness']:>8g} "
                     f"{r[SPLIT]:>5}  {r['acc_base']:5.1f} {r['acc_teacher']:7.1f} "
                     f"{r['acc_sft']:5.1f} {r['acc_opsd']:5.1f}  "
                     f"{r['gain']:+6.1f} ± {r['se']:4.1f}  {b['gain']:+6.1f} ± {b['se']:4.1f}"
                     f"{flag}")
    n_rep = int(sft["distillable"].sum())
    lines.append("")
    lines.append(f"gains.csv: {n_rep} of {len(sft)} rows (distillable ones); "
                 + ("fit it with: scalefit fit " + str(out_dir / "gains.csv")
                    + (" --by richness" if sft["richness"].nunique() > 1 else "")
                    if n_rep else "nothing distillable to fit: see gains_all.csv"))
    return "\n".join(lines)


def _standalone(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scalefit.runner.cli")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return main(args)
    except ScalefitError as err:
        print(f"scalefit run: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scalefit run: interrupted (rerun the same command to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(_standalone())
