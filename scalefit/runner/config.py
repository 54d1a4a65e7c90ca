"""Configuration of a runner sweep: the task, the models, training, evaluation, presets.

Everything here is plain dataclasses and numbers (no torch), so ``scalefit run --help`` and the
analysis side can read presets without importing torch.

A run is a :class:`RunConfig`: the models (the nanoGPT-style family :data:`SIZES`, pretrained
here on the synthetic task of :class:`TaskConfig`, or ``transformers`` checkpoints in ``models``
fine-tuned on the real problems of :class:`ProblemsConfig`), one :class:`TrainConfig`
(pretraining, fine-tuning, OPSD options, evaluation), a list of reference-richness levels (each
a :class:`Reference`, what the teacher sees) and a number of paired seeds.

Cached phases are keyed by hashes of the settings that determine them. Every field of
``TaskConfig`` and ``TrainConfig`` declares the phases it changes (``phase_settings``), so the
keys are derived from the config and a new field cannot be left out of them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

FORMAT_VERSION = 3  # bump when checkpoints written by older code can no longer be read

# Tokens: 3 specials + the task's characters (see scalefit.runner.task). Kept here so parameter
# counts can be computed without torch.
CHARS = "0123456789+=;#?|"
SPECIALS = ("<pad>", "<bos>", "<eos>")
VOCAB_SIZE = len(SPECIALS) + len(CHARS)


PHASES = ("pretrain", "sft", "opsd", "eval")  # the cached phases a setting can change


def _setting(default, *phases, **kw):
    """A config field and the cached phases whose results it changes (none: it changes how fast,
    not what is computed). ``phase_settings`` reads this, so every field must say."""
    assert set(phases) <= set(PHASES), phases
    return field(default=default, metadata={"phases": phases}, **kw)


def phase_settings(config, phase: str) -> dict:
    """The fields of a ``TaskConfig`` or ``TrainConfig`` that change ``phase``'s results, by name
    (pretraining fields without their ``pretrain_`` prefix). A field without its phases is a
    KeyError here, at the first run, rather than a stale cache later."""
    return {f.name.removeprefix("pretrain_"): _plain_value(getattr(config, f.name))
            for f in fields(config) if phase in f.metadata["phases"]}


def _plain_value(v):
    return list(v) if isinstance(v, tuple) else v


@dataclass(frozen=True)
class TaskConfig:
    """Sum K numbers of D digits, writing the running sums (see ``scalefit.runner.task``)."""

    # K in training and in the in-distribution split
    terms: tuple[int, ...] = _setting((3, 4, 5), "pretrain", "sft", "opsd", "eval")
    # K in the out-of-distribution split (never trained on)
    ood_terms: tuple[int, ...] = _setting((6,), "eval")
    # D: every operand has exactly D digits
    digits: int = _setting(2, "pretrain", "sft", "opsd", "eval")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Reference:
    """What the teacher sees of a reference solution: the first ``richness`` share of its steps
    with their working (on the synthetic task the rest as running sums, dropped without
    ``show_sums``), then the final answer if ``show_answer``."""

    richness: float = 1.0
    show_answer: bool = True
    show_sums: bool = True


@dataclass(frozen=True)
class ProblemsConfig:
    """Real problems for ``transformers`` models (``scalefit.runner.problems``): where they come
    from and the prompts that carry them to the model."""

    data: str                          # JSONL file or hf:NAME[:CONFIG][@SPLIT]: training problems
    eval_data: str | None = None       # the id split (default: problems held out from data)
    ood_data: str | None = None        # an ood split (default: none)
    student_template: str = ""         # "" = problems.STUDENT_TEMPLATE
    teacher_template: str = ""         # "" = problems.TEACHER_TEMPLATE (the OPSD paper's Figure 2)
    thinking: bool = False             # chat templates that know it (Qwen3): thinking mode on

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LoraConfig:
    """LoRA adapters (through peft) on every linear layer; the teacher is the model with its
    adapters disabled."""

    rank: int
    alpha: float | None = None         # None: 2 × rank (the OPSD paper: rank 64, alpha 128)
    dropout: float = 0.0

    @property
    def scale_alpha(self) -> float:
        return 2.0 * self.rank if self.alpha is None else self.alpha


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
    "2m": ModelConfig(6, 6, 168),
    "3m": ModelConfig(6, 6, 192),
    "10m": ModelConfig(8, 8, 320),
    "30m": ModelConfig(10, 10, 480),
}


@dataclass(frozen=True)
class TrainConfig:
    """Pretraining of the base model, the shared fine-tuning budget, OPSD options, evaluation.

    Each field names the cached phases it changes (see ``phase_settings``)."""

    # base model (synthetic family only: trained once per size, cached, shared by every richness
    # level and seed)
    pretrain_steps: int = _setting(1500, "pretrain")
    pretrain_batch: int = _setting(64, "pretrain")
    pretrain_lr: float = _setting(3e-3, "pretrain")
    # None: every width pretrains at pretrain_lr; W: a wider model at pretrain_lr × W / width
    # (Adam's step ∝ 1/width, as μP prescribes for hidden weights; see pretrain_peak_lr)
    pretrain_lr_width: int | None = _setting(None, "pretrain")
    # share of pretraining examples with a reference in context
    teacher_mix: float = _setting(0.5, "pretrain")
    # the plain (no-reference) examples show their working only for this share; the others are
    # written short, so a base student can leave the step-by-step skill latent
    pretrain_working: float = _setting(1.0, "pretrain")
    # the short form: "answer" (#147) or "sums" (68;135;147#147)
    pretrain_short: str = _setting("answer", "pretrain")
    # share of pretraining references that are the answer alone
    pretrain_hint_answer: float = _setting(0.0, "pretrain")
    # share of the plain examples written by a sloppy writer, who drops every units carry
    # (68+67=125) and carries the error on; examples with a reference are always careful
    pretrain_sloppy: float = _setting(0.0, "pretrain")
    # fine-tuning: identical for SFT and OPSD (same problems, steps, schedule, optimiser)
    finetune_steps: int = _setting(100, "sft", "opsd")
    batch_size: int = _setting(32, "sft", "opsd")
    lr: float = _setting(3e-4, "sft", "opsd")
    # linear warm-up share of steps, then cosine decay (the OPSD paper §4)
    warmup: float = _setting(0.1, "sft", "opsd")
    weight_decay: float = _setting(0.0, "sft", "opsd")
    # OPSD (the OPSD paper §3.2 and §4)
    # "jsd": full-vocabulary JSD_β (eq. 6-8); "pg": eq. 9
    objective: str = _setting("jsd", "opsd")
    # JSD_β weight; 0 = forward KL(T‖S), 1 = reverse KL(S‖T)
    beta: float = _setting(0.5, "opsd")
    # distil over the teacher's top-k tokens only (None: all)
    top_k: int | None = _setting(None, "opsd")
    # None: frozen initial policy; else EMA decay of the teacher
    teacher_ema: float | None = _setting(None, "opsd")
    # sampling temperature of the student's rollouts
    temperature: float = _setting(1.0, "opsd")
    # temperature applied to both logits inside the loss
    loss_temperature: float = _setting(1.0, "opsd")
    rollouts_per_prompt: int = _setting(1, "opsd")
    # rollout (and evaluation) length cap
    max_new_tokens: int = _setting(80, "opsd", "eval")
    # rollout positions per divergence chunk (None: one chunk)
    chunk_size: int | None = _setting(32, "opsd")
    # ablation: no OPSD loss past the first disagreement
    mask_after_divergence: bool = _setting(False, "opsd")
    # evaluation
    # per split (id and ood); the same problems for every model
    eval_problems: int = _setting(400, "eval")
    # 0: greedy accuracy; k > 0: avg@k, the mean over k samples at eval_temperature
    eval_samples: int = _setting(0, "eval")
    eval_temperature: float = _setting(1.0, "eval")
    # how fast, not what: problems per evaluation batch, rollouts per forward/backward (the
    # gradients of a step are accumulated), activation checkpointing of transformers models,
    # micro-batches of similar length per pretraining step (less padding)
    eval_batch: int = _setting(250)
    micro_batch: int | None = _setting(None)
    gradient_checkpointing: bool = _setting(False)
    length_buckets: int = _setting(2)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunConfig:
    """A sweep: models × richness levels × paired seeds.

    The models are the synthetic family's ``sizes`` (pretrained here on ``task``), or, when
    ``models`` is not empty, those ``transformers`` checkpoints (paths or hub names) on the real
    ``problems``, with ``lora`` adapters or full fine-tuning, in ``dtype``."""

    sizes: tuple[str, ...] = ("10k", "30k", "100k", "150k", "200k", "300k")
    richness: tuple[float, ...] = (0.0, 1.0)
    show_answer: bool = True           # the reference ends with "#answer"
    show_sums: bool = True             # steps without working show their running sum (richness 0
                                       # without sums and with the answer: the answer alone)
    seeds: int = 5                     # fine-tuning seeds per (size, richness), paired SFT/OPSD
    base_seeds: int = 1                # base models per size (pretrained from different seeds);
                                       # every base is fine-tuned with every seed
    seed: int = 0                      # master seed (base models, seeds, evaluation problems)
    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # a gain is reported only where the teacher (base + reference) beats the base student by at
    # least min(min_teacher_advantage pp, min_headroom_share × the student's headroom 100 − acc)
    min_teacher_advantage: float = 15.0
    min_headroom_share: float = 0.5
    device: str = "auto"               # auto | cpu | cuda
    threads: int = 1                   # torch threads per worker process
    models: tuple[str, ...] = ()       # transformers checkpoints instead of the family's sizes
    problems: ProblemsConfig | None = None
    lora: LoraConfig | None = None     # None: full fine-tuning
    dtype: str = "auto"                # auto (bfloat16 on CUDA, else float32) | float32 | bfloat16

    @property
    def real(self) -> bool:
        """Whether this run fine-tunes transformers checkpoints on real problems."""
        return bool(self.models)

    def units(self) -> tuple[str, ...]:
        """What the sweep runs, one job each: the models, else the sizes."""
        return self.models or self.sizes

    def references(self) -> tuple[Reference, ...]:
        """One ``Reference`` per richness level."""
        return tuple(Reference(r, self.show_answer, self.show_sums) for r in self.richness)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        task = TaskConfig(**{k: tuple(v) if isinstance(v, list) else v
                             for k, v in d.pop("task", {}).items()})
        train = TrainConfig(**d.pop("train", {}))
        for k in ("sizes", "richness", "models"):
            if k in d:
                d[k] = tuple(d[k])
        for k, kind in (("problems", ProblemsConfig), ("lora", LoraConfig)):
            if d.get(k) is not None:
                d[k] = kind(**d[k])
        return cls(task=task, train=train, **d)

    def with_overrides(self, **kw) -> "RunConfig":
        """A copy with top-level fields or ``train`` / ``task`` / ``problems`` fields replaced by
        name (``data`` starts a ``ProblemsConfig`` if there is none)."""
        groups = {"train": TrainConfig, "task": TaskConfig, "problems": ProblemsConfig}
        mine, parts = {}, {g: {} for g in groups}
        for k, v in kw.items():
            if v is None:
                continue
            if k in {f.name for f in fields(self)}:
                mine[k] = v
                continue
            group = next((g for g, kind in groups.items()
                          if k in {f.name for f in fields(kind)}), None)
            if group is None:
                raise KeyError(k)
            parts[group][k] = v
        problems = self.problems
        if parts["problems"]:
            problems = (replace(problems, **parts["problems"]) if problems is not None
                        else ProblemsConfig(**parts["problems"]))
        return replace(self, train=replace(self.train, **parts["train"]),
                       task=replace(self.task, **parts["task"]), problems=problems, **mine)


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
    "small": RunConfig(base_seeds=2),
    # Where OPSD has something to do (docs/runner.md): the plain pretraining problems show their
    # working on only 20% of problems and the running sums alone on the rest, so the base student
    # answers without working while the teacher (who saw references with full working after
    # them) works step by step; ood is one term more than training. Six sizes, 34× in params.
    "latent": RunConfig(
        sizes=("10k", "30k", "60k", "100k", "200k", "300k"), richness=(0.0,), seeds=2,
        base_seeds=2, task=TaskConfig(terms=(2, 3), ood_terms=(4,), digits=2),
        train=TrainConfig(pretrain_steps=3000, pretrain_batch=32, pretrain_working=0.2,
                          pretrain_short="sums", pretrain_hint_answer=0.3, finetune_steps=30,
                          batch_size=16, eval_problems=200, eval_batch=200, max_new_tokens=40)),
    # The runner's study (docs/runner.md, "The study"): pretraining mixes a careful writer and
    # a sloppy one who drops carries (70% of the plain problems); with a reference in context
    # the model always writes carefully, so the teacher is the careful mode of the student's own
    # format, which the student can learn to make its default. Seven sizes over 31x, two base
    # models per size, each fine-tuned with two seeds, richness 0 (SFT on running sums loses
    # the working) and 1 (SFT on the careful full solutions). Models wider than 64 pretrain at
    # a learning rate ∝ 1/width (at 3e-3 the 2m models stalled at a loss of 0.13).
    "study": RunConfig(
        sizes=("60k", "100k", "200k", "300k", "600k", "1m", "2m"), richness=(0.0, 1.0),
        seeds=2, base_seeds=2, task=TaskConfig(terms=(2, 3), ood_terms=(4,), digits=2),
        train=TrainConfig(pretrain_steps=3000, pretrain_batch=32, pretrain_lr_width=64,
                          pretrain_sloppy=0.7, finetune_steps=100, batch_size=16,
                          eval_problems=400, eval_batch=200, max_new_tokens=40)),
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
        richness=(0.0, 0.5, 1.0), base_seeds=2, device="auto",
        train=TrainConfig(pretrain_steps=3000, pretrain_batch=128, finetune_steps=200,
                          batch_size=64, eval_problems=2000, eval_batch=1000)),
    # Real models on one GPU (docs/runner.md, "Real models"): Qwen3 0.6B, 1.7B and 4B on GSM8K
    # with the OPSD paper's recipe: LoRA rank 64 / alpha 128 (the teacher is the model with its
    # adapters disabled), learning rate 2e-5, 32 problems per step with one rollout each at
    # temperature 1.2, JSD_0.5 over the full vocabulary, the full reference in the teacher's
    # prompt; 1024-token rollouts (GSM8K answers are short), greedy accuracy on 500 test problems.
    "gsm8k": RunConfig(
        models=("Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B", "Qwen/Qwen3-4B"), richness=(1.0,), seeds=2,
        problems=ProblemsConfig(data="hf:openai/gsm8k:main@train",
                                eval_data="hf:openai/gsm8k:main@test"),
        lora=LoraConfig(64),
        train=TrainConfig(finetune_steps=50, batch_size=32, lr=2e-5, temperature=1.2,
                          max_new_tokens=1024, eval_problems=500, eval_batch=64, micro_batch=8,
                          gradient_checkpointing=True)),
}


def pretrain_peak_lr(train: TrainConfig, width: int) -> float:
    """The peak pretraining learning rate of a model of this width: ``pretrain_lr``, scaled by
    ``pretrain_lr_width / width`` for models wider than ``pretrain_lr_width`` (if set)."""
    if train.pretrain_lr_width is None:
        return train.pretrain_lr
    return train.pretrain_lr * min(1.0, train.pretrain_lr_width / width)


def base_seed(cfg: RunConfig, size: str, base: int = 0) -> int:
    """The seed of a size's base model number ``base``: a stable function of the master seed,
    the size name and the number."""
    name = f"{cfg.seed}:{size}" + (f":{base}" if base else "")
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def finetune_seeds(cfg: RunConfig) -> list[int]:
    """The paired fine-tuning seeds (the same for every size and richness level)."""
    return [cfg.seed * 1000 + k for k in range(cfg.seeds)]


def base_settings(cfg: RunConfig, size: str, base: int = 0) -> dict:
    """Everything that determines a family size's base model number ``base`` (pretrained
    here)."""
    return {"format": FORMAT_VERSION, "size": size, "model": model_config(cfg, size).to_dict(),
            "task": phase_settings(cfg.task, "pretrain"),
            "pretrain": phase_settings(cfg.train, "pretrain"), "seed": base_seed(cfg, size, base)}


def eval_settings(cfg: RunConfig) -> dict:
    """Everything that determines the evaluation problems and how they are scored."""
    problems = cfg.problems.to_dict() if cfg.real else phase_settings(cfg.task, "eval")
    return {"problems": problems, "seed": cfg.seed, **phase_settings(cfg.train, "eval")}


def base_eval_settings(base: str, cfg: RunConfig, reference: Reference) -> dict:
    """The base model's evaluations (as the student, and as the teacher with ``reference``);
    ``base`` is the base model's key."""
    return {"base": base, "eval": eval_settings(cfg), "reference": asdict(reference)}


def finetune_settings(base: str, cfg: RunConfig, reference: Reference, seed: int,
                      method: str) -> dict:
    """Everything that determines one fine-tuning run (``method`` "sft" or "opsd") from the base
    model of key ``base``, and its evaluation."""
    problems = cfg.problems.to_dict() if cfg.real else phase_settings(cfg.task, method)
    return {"base": base, "method": method, "reference": asdict(reference), "seed": seed,
            "problems": problems, "train": phase_settings(cfg.train, method),
            "eval": eval_settings(cfg), "lora": None if cfg.lora is None else asdict(cfg.lora)}


def settings_key(settings: dict) -> str:
    """The key of a cached phase: a hash of the settings that determine it."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


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


def model_label(name: str) -> str:
    """A transformers model's name in the tables: a local directory's own name, a hub id as
    written (``Qwen/Qwen3-1.7B``)."""
    path = Path(name).expanduser()
    return path.resolve().name if path.is_dir() else name


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
    runs = len(cfg.richness) * cfg.seeds * cfg.base_seeds
    sft_tokens = t.finetune_steps * t.batch_size * (prompt + solution)
    opsd_rollouts = t.finetune_steps * t.batch_size * t.rollouts_per_prompt
    opsd_flops = opsd_rollouts * (2 * n * solution                      # sampling
                                  + 2 * n * (teacher_prompt + solution)  # teacher forward
                                  + 6 * n * (prompt + solution))         # student fwd + bwd
    eval_flops = (2 * t.eval_problems * (runs * 2 + 2 * len(cfg.richness) * cfg.base_seeds)
                  * 3 * 2 * n * solution)
    return float(6 * n * pre_tokens * cfg.base_seeds + runs * (6 * n * sft_tokens + opsd_flops)
                 + eval_flops)


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
