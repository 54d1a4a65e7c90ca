"""Configuration of a runner sweep: the task, the model family, training, evaluation, presets.

Everything here is plain dataclasses and numbers (no torch), so ``scalefit run --help`` and the
analysis side can read presets without importing torch.

A run is a :class:`RunConfig`: one :class:`TaskConfig` (the synthetic task and its difficulty),
one :class:`TrainConfig` (pretraining, fine-tuning, OPSD options, evaluation), a list of sizes
from :data:`SIZES`, a list of reference-richness levels and a number of paired seeds.

Checkpoints are keyed by hashes of exactly the settings that determine them
(:func:`base_key`, :func:`finetune_key`), so a rerun reuses what it can and refuses a checkpoint
made with different settings.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

FORMAT_VERSION = 1  # bump when checkpoints written by older code can no longer be read

# Tokens: 3 specials + the task's characters (see scalefit.runner.task). Kept here so parameter
# counts can be computed without torch.
CHARS = "0123456789+=;#?|"
SPECIALS = ("<pad>", "<bos>", "<eos>")
VOCAB_SIZE = len(SPECIALS) + len(CHARS)


@dataclass(frozen=True)
class TaskConfig:
    """Sum K numbers of D digits, writing the running sums (see ``scalefit.runner.task``)."""

    terms: tuple[int, ...] = (3, 4, 5)  # K in training and in the in-distribution split
    ood_terms: tuple[int, ...] = (6,)   # K in the out-of-distribution split (never trained on)
    digits: int = 2                     # D: every operand has exactly D digits

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelConfig:
    """A nanoGPT-style decoder: ``n_layer`` blocks of width ``n_embd`` with ``n_head`` heads."""

    n_layer: int
    n_head: int
    n_embd: int
    vocab_size: int = VOCAB_SIZE
    block_size: int = 160

    def n_params(self) -> int:
        """Trainable parameters (the output head is tied to the token embedding)."""
        d, layer = self.n_embd, 0
        layer += 2 * 2 * d                      # two LayerNorms
        layer += 3 * d * d + 3 * d + d * d + d  # qkv and output projections
        layer += 4 * d * d + 4 * d + 4 * d * d + d  # MLP
        return self.n_layer * layer + (self.vocab_size + self.block_size) * d + 2 * d

    def to_dict(self) -> dict:
        return asdict(self)


# The model family, ~1e4 to ~3e7 parameters. Names are rounded sizes; the gain table records
# the exact count (``n_params`` and ``size_m``).
SIZES: dict[str, ModelConfig] = {
    "10k": ModelConfig(2, 2, 16),
    "30k": ModelConfig(2, 2, 32),
    "60k": ModelConfig(3, 2, 40),
    "100k": ModelConfig(3, 3, 48),
    "150k": ModelConfig(3, 4, 64),
    "200k": ModelConfig(4, 4, 64),
    "300k": ModelConfig(4, 4, 80),
    "600k": ModelConfig(4, 4, 112),
    "1m": ModelConfig(4, 4, 144),
    "3m": ModelConfig(6, 6, 192),
    "10m": ModelConfig(8, 8, 320),
    "30m": ModelConfig(10, 10, 480),
}


@dataclass(frozen=True)
class TrainConfig:
    """Pretraining of the base model, the shared fine-tuning budget, OPSD options, evaluation."""

    # base model (trained once per size, cached, shared by every richness level and seed)
    pretrain_steps: int = 1500
    pretrain_batch: int = 64
    pretrain_lr: float = 3e-3
    teacher_mix: float = 0.5           # share of pretraining examples with a reference in context
    # the plain (no-reference) examples show their working only for this share; the others are
    # written short, so a base student can leave the step-by-step skill latent
    pretrain_working: float = 1.0
    pretrain_short: str = "answer"     # the short form: "answer" (#147) or "sums" (68;135;147#147)
    pretrain_hint_answer: float = 0.0  # share of pretraining references that are the answer alone
    # fine-tuning: identical for SFT and OPSD (same problems, steps, schedule, optimiser)
    finetune_steps: int = 100
    batch_size: int = 32
    lr: float = 3e-4
    warmup: float = 0.1                # linear warm-up share of steps, then cosine decay (seed 002)
    weight_decay: float = 0.0
    # OPSD (seed 002 §3.2 and §4)
    objective: str = "jsd"             # "jsd": full-vocabulary JSD_β (eq. 6-8); "pg": eq. 9
    beta: float = 0.5                  # JSD_β weight; 0 = forward KL(T‖S), 1 = reverse KL(S‖T)
    top_k: int | None = None           # distil over the teacher's top-k tokens only (None: all)
    teacher_ema: float | None = None   # None: frozen initial policy; else EMA decay of the teacher
    temperature: float = 1.0           # sampling temperature of the student's rollouts
    loss_temperature: float = 1.0      # temperature applied to both logits inside the loss
    rollouts_per_prompt: int = 1
    max_new_tokens: int = 80           # rollout (and evaluation) length cap
    chunk_size: int | None = 32        # rollout positions per divergence chunk (None: one chunk)
    mask_after_divergence: bool = False  # ablation: no OPSD loss past the first disagreement
    # evaluation
    eval_problems: int = 400           # per split (id and ood); the same problems for every model
    eval_batch: int = 250

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunConfig:
    """A sweep: sizes × richness levels × paired seeds."""

    sizes: tuple[str, ...] = ("10k", "30k", "100k", "150k", "200k", "300k")
    richness: tuple[float, ...] = (0.0, 1.0)
    show_answer: bool = True           # the reference ends with "#answer"
    show_sums: bool = True             # steps without working show their running sum (richness 0
                                       # without sums and with the answer: the answer alone)
    seeds: int = 5                     # fine-tuning seeds per (size, richness), paired SFT/OPSD
    seed: int = 0                      # master seed (base models, seeds, evaluation problems)
    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # a gain is reported only where the teacher (base + reference) beats the base student by at
    # least min(min_teacher_advantage pp, min_headroom_share × the student's headroom 100 − acc)
    min_teacher_advantage: float = 15.0
    min_headroom_share: float = 0.5
    device: str = "auto"               # auto | cpu | cuda
    threads: int = 1                   # torch threads per worker process

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        task = TaskConfig(**{k: tuple(v) if isinstance(v, list) else v
                             for k, v in d.pop("task", {}).items()})
        train = TrainConfig(**d.pop("train", {}))
        for k in ("sizes", "richness"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(task=task, train=train, **d)

    def with_overrides(self, **kw) -> "RunConfig":
        """A copy with top-level fields or ``train`` / ``task`` fields replaced by name."""
        top = {f.name for f in fields(self)}
        tr = {f.name for f in fields(TrainConfig)}
        ta = {f.name for f in fields(TaskConfig)}
        mine, train, task = {}, {}, {}
        for k, v in kw.items():
            if v is None:
                continue
            if k in top:
                mine[k] = v
            elif k in tr:
                train[k] = v
            elif k in ta:
                task[k] = v
            else:
                raise KeyError(k)
        return replace(self, train=replace(self.train, **train),
                       task=replace(self.task, **task), **mine)


PRESETS: dict[str, RunConfig] = {
    # Under a minute on one core, for tests, notebooks and closed-loop demos: an easier task (2-3
    # terms), two tiny custom shapes, richness 0, two seeds, a few fine-tuning steps. Real (the
    # larger one learns to use the reference before it learns to add), but very noisy.
    "tiny": RunConfig(
        sizes=("L2H2D32", "L2H4D48"), richness=(0.0,), seeds=2,
        task=TaskConfig(terms=(2, 3), ood_terms=(4,), digits=2),
        train=TrainConfig(pretrain_steps=800, pretrain_batch=32, finetune_steps=8,
                          batch_size=16, eval_problems=150, eval_batch=150, max_new_tokens=40)),
    # A few minutes on 2 CPU cores: the easier task, three sizes, richness 0, two seeds.
    "smoke": RunConfig(
        sizes=("30k", "60k", "100k"), richness=(0.0,), seeds=2,
        task=TaskConfig(terms=(2, 3), ood_terms=(4,), digits=2),
        train=TrainConfig(pretrain_steps=1000, pretrain_batch=32, finetune_steps=30,
                          batch_size=16, eval_problems=200, max_new_tokens=40)),
    # Under an hour on 2 CPU cores: six sizes (1e4-3e5 params) × richness 0 and 1 × five
    # paired seeds, on the full task (2-digit operands, 3-5 terms; ood: 6 terms).
    "small": RunConfig(),
    # Where OPSD has something to do (docs/runner.md): the plain pretraining problems show their
    # working on only 20% of problems and the running sums alone on the rest, so the base student
    # answers without working while the teacher (who saw references with full working after
    # them) works step by step; ood is one term more than training. Six sizes, 34× in params.
    "latent": RunConfig(
        sizes=("10k", "30k", "60k", "100k", "200k", "300k"), richness=(0.0,), seeds=2,
        task=TaskConfig(terms=(2, 3), ood_terms=(4,), digits=2),
        train=TrainConfig(pretrain_steps=3000, pretrain_batch=32, pretrain_working=0.2,
                          pretrain_short="sums", pretrain_hint_answer=0.3, finetune_steps=30,
                          batch_size=16, eval_problems=200, eval_batch=200, max_new_tokens=40)),
    # The same design at CI size (about a minute): two small shapes, an easier task.
    "latent-tiny": RunConfig(
        sizes=("L2H2D32", "L2H4D48"), richness=(0.0,), seeds=2,
        task=TaskConfig(terms=(2, 3), ood_terms=(4,), digits=2),
        train=TrainConfig(pretrain_steps=1500, pretrain_batch=32, pretrain_working=0.2,
                          pretrain_short="sums", pretrain_hint_answer=0.3, finetune_steps=8,
                          batch_size=16, eval_problems=150, eval_batch=150, max_new_tokens=40)),
    # One GPU: the whole family, three richness levels, longer training, more problems.
    "gpu": RunConfig(
        sizes=("10k", "30k", "100k", "300k", "1m", "3m", "10m", "30m"),
        richness=(0.0, 0.5, 1.0), device="auto",
        train=TrainConfig(pretrain_steps=3000, pretrain_batch=128, finetune_steps=200,
                          batch_size=64, eval_problems=2000, eval_batch=1000)),
}


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def size_seed(cfg: RunConfig, size: str) -> int:
    """The base model's seed: a stable function of the master seed and the size name."""
    return int(hashlib.sha256(f"{cfg.seed}:{size}".encode()).hexdigest()[:8], 16)


def finetune_seeds(cfg: RunConfig) -> list[int]:
    """The paired fine-tuning seeds (the same for every size and richness level)."""
    return [cfg.seed * 1000 + k for k in range(cfg.seeds)]


def base_settings(cfg: RunConfig, size: str) -> dict:
    """Everything that determines a size's base model."""
    t = cfg.train
    return {"format": FORMAT_VERSION, "size": size, "model": model_config(cfg, size).to_dict(),
            "task": {"terms": list(cfg.task.terms), "digits": cfg.task.digits},
            "pretrain": {"steps": t.pretrain_steps, "batch": t.pretrain_batch,
                         "lr": t.pretrain_lr, "teacher_mix": t.teacher_mix,
                         "working": t.pretrain_working, "short": t.pretrain_short,
                         "hint_answer": t.pretrain_hint_answer},
            "seed": size_seed(cfg, size)}


def eval_settings(cfg: RunConfig) -> dict:
    """Everything that determines the evaluation problems and how they are scored."""
    return {"task": cfg.task.to_dict(), "n": cfg.train.eval_problems, "seed": cfg.seed,
            "max_new_tokens": cfg.train.max_new_tokens, "show_answer": cfg.show_answer,
            "show_sums": cfg.show_sums}


def base_key(cfg: RunConfig, size: str) -> str:
    return _digest(base_settings(cfg, size))


def finetune_settings(cfg: RunConfig, size: str, richness: float, seed: int, method: str) -> dict:
    """Everything that determines one fine-tuning run and its evaluation."""
    t = cfg.train.to_dict()
    t.pop("eval_batch")
    if method == "sft":  # OPSD's options do not change SFT
        for k in ("objective", "beta", "top_k", "teacher_ema", "temperature", "loss_temperature",
                  "rollouts_per_prompt", "chunk_size", "mask_after_divergence"):
            t.pop(k)
    return {"base": base_key(cfg, size), "method": method, "richness": richness,
            "show_answer": cfg.show_answer, "show_sums": cfg.show_sums, "seed": seed, "train": t,
            "eval": eval_settings(cfg)}


def finetune_key(cfg: RunConfig, size: str, richness: float, seed: int, method: str) -> str:
    return _digest(finetune_settings(cfg, size, richness, seed, method))


def base_eval_key(cfg: RunConfig, size: str, richness: float | None = None) -> str:
    """The base model's evaluation: as the student (``richness`` None) or as the teacher with a
    reference of that richness in context."""
    return _digest({"base": base_key(cfg, size), "eval": eval_settings(cfg),
                    "teacher_richness": richness})


_CUSTOM = re.compile(r"^l(\d+)h(\d+)d(\d+)$")


def resolve_size(name: str) -> ModelConfig:
    """A family name (``"300k"``) or a custom shape ``"L4H4D96"`` (layers, heads, width; the
    width must be a multiple of the heads) → its ``ModelConfig``. Raises ValueError."""
    key = name.strip().lower()
    if key in SIZES:
        return SIZES[key]
    m = _CUSTOM.match(key)
    if m:
        n_layer, n_head, n_embd = map(int, m.groups())
        if n_layer >= 1 and n_head >= 1 and n_embd >= n_head and n_embd % n_head == 0:
            return ModelConfig(n_layer, n_head, n_embd)
    raise ValueError(f"unknown size {name!r}; use a family name ("
                     + ", ".join(f"{k} = {v.n_params():,} params" for k, v in SIZES.items())
                     + ") or a shape like L4H4D96 (layers, heads, width divisible by heads)")


def required_block_size(task: TaskConfig, max_new_tokens: int) -> int:
    """Positions the longest sequence can need: a teacher prompt with the full reference of the
    longest problem (every operand 10^D − 1), followed by a rollout of ``max_new_tokens``."""
    k, top = max(task.terms + task.ood_terms), 10**task.digits - 1
    ops = [top] * k
    steps, total = [], ops[0]
    for x in ops[1:]:
        steps.append(f"{total}+{x}={total + x}")
        total += x
    reference = ";".join(steps) + f"#{total}"
    prompt = "+".join(map(str, ops))
    return 1 + len(prompt) + 1 + len(reference) + 1 + max_new_tokens


def model_config(cfg: "RunConfig", size: str) -> ModelConfig:
    """The size's ``ModelConfig`` for this run: the family shape, with the position table grown
    past its default 160 if the task's longest teacher prompt plus a rollout needs more."""
    mcfg = resolve_size(size)
    need = required_block_size(cfg.task, cfg.train.max_new_tokens)
    return mcfg if need <= mcfg.block_size else replace(mcfg, block_size=need)


def size_name(name: str) -> str:
    """The canonical spelling of a size: family names in lower case, shapes as ``L4H4D96``."""
    key = name.strip().lower()
    if key in SIZES:
        return key
    cfg = resolve_size(key)
    return f"L{cfg.n_layer}H{cfg.n_head}D{cfg.n_embd}"


def compute_cost(cfg: RunConfig, size: str) -> float:
    """Approximate training FLOPs of one size in this sweep (6 N per trained token, 2 N per
    generated or scored token): pretraining, plus SFT and OPSD for every richness level and
    seed, plus evaluation. Token counts are estimated from the task's mean lengths. For ranking
    candidate sizes per unit of compute; the manifest records the measured wall time."""
    n = model_config(cfg, size).n_params()
    k = float(np.mean(cfg.task.terms))
    d = cfg.task.digits
    solution = (k - 1) * (3 * d + 4) + d + 2          # "a+b=c;" steps, then "#answer<eos>"
    prompt = k * (d + 1) + 1
    teacher_prompt = prompt + solution
    t = cfg.train
    pre_tokens = t.pretrain_steps * t.pretrain_batch * (
        prompt + solution + t.teacher_mix * (teacher_prompt - prompt))
    runs = len(cfg.richness) * cfg.seeds
    sft_tokens = t.finetune_steps * t.batch_size * (prompt + solution)
    opsd_rollouts = t.finetune_steps * t.batch_size * t.rollouts_per_prompt
    opsd_flops = opsd_rollouts * (2 * n * solution                      # sampling
                                  + 2 * n * (teacher_prompt + solution)  # teacher forward
                                  + 6 * n * (prompt + solution))         # student fwd + bwd
    eval_flops = 2 * t.eval_problems * (runs * 2 + 2 * len(cfg.richness)) * 3 * 2 * n * solution
    return float(6 * n * pre_tokens + runs * (6 * n * sft_tokens + opsd_flops) + eval_flops)


def parse_sizes(text: str) -> tuple[str, ...]:
    """``"10k,30k,L3H4D64"`` → canonical names; raises ValueError naming the known sizes."""
    names = tuple(s for s in (t.strip() for t in text.split(",")) if s)
    if not names:
        raise ValueError("no sizes given")
    return tuple(size_name(n) for n in names)


def shape_for_params(target: float, *, head_dim: int = 16) -> str:
    """A custom shape (``"L4H5D80"``) with about ``target`` parameters, growing depth and width
    together like the family (for a closed loop that asks for sizes between family members)."""
    best, best_err = None, float("inf")
    for n_layer in range(1, 13):
        for n_head in range(1, 17):
            cfg = ModelConfig(n_layer, n_head, n_head * head_dim)
            if not (n_layer / 2 <= n_head <= 2 * n_layer):  # keep depth and width balanced
                continue
            err = abs(np.log(cfg.n_params() / target))
            if err < best_err:
                best, best_err = cfg, err
    return f"L{best.n_layer}H{best.n_head}D{best.n_embd}"
