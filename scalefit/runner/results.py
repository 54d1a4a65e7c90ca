"""The runner's typed results (no torch): an evaluation, a training phase's statistics, a
phase's line in the manifest, a size's result. Checkpoints store them as ``asdict`` output and
``from_plain`` rebuilds them."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass

import numpy as np

__all__ = ["Regions", "Evaluation", "TimeSplit", "TrainStats", "Phase", "BaseEvaluation",
           "FinetuneRun", "SizeResult", "from_plain"]


@dataclass
class Regions:
    """Where the divergence mass lies relative to each rollout's first student–teacher argmax
    disagreement (``losses.divergence_regions``): shares before, at and after it, the mean first
    disagreement as a share of the rollout length, the share of rollouts without one."""

    before: float
    at: float
    after: float
    first_position: float
    no_disagreement: float

    @classmethod
    def mean(cls, items: list[Regions]) -> Regions:
        return cls(*(float(np.mean([getattr(r, f.name) for r in items])) for f in fields(cls)))


@dataclass
class Evaluation:
    """One model on one split (``seconds``: of the evaluation it was part of, all models).
    ``correct`` is per problem: 0/1 greedy, or the share of the k samples that are right
    (avg@k); ``accuracy`` and ``se`` (pp) are over it. Length, entropy and divergence are along
    the greedy rollouts; entropy, divergence (JSD_0.5 between the teacher with the reference and
    the model) and ``div_regions`` only for a student."""

    accuracy: float
    se: float
    length: float
    correct: list[float]
    tokens_generated: int
    seconds: float
    metric: str = "greedy"             # "greedy" or "avg@k"
    greedy_accuracy: float | None = None
    entropy: float | None = None
    divergence: float | None = None
    div_regions: Regions | None = None


@dataclass
class TimeSplit:
    """Seconds of an OPSD run in each part of its steps."""

    sampling: float = 0.0
    teacher: float = 0.0
    student: float = 0.0
    update: float = 0.0


@dataclass
class TrainStats:
    """One model's training phase (pretraining, SFT or OPSD). Its times are wall-clock times of
    the ``side_by_side`` models it was trained with (one computation); ``share`` is its part."""

    steps: int
    seconds: float
    final_loss: float
    tokens_trained: int = 0
    tokens_generated: int = 0
    step_seconds: list[float] = field(default_factory=list)
    loss_regions: Regions | None = None   # OPSD: where its loss fell (averaged over steps)
    time_split: TimeSplit | None = None   # OPSD
    resumed_from_step: int = 0            # pretraining resumed from a partial checkpoint
    eval_seconds: float = 0.0             # fine-tuning: its evaluation afterwards
    side_by_side: int = 1                 # models trained together (the times are all of theirs)

    def share(self, seconds: float) -> float:
        """This model's part of a time measured for all the models trained with it."""
        return seconds / self.side_by_side


@dataclass
class Phase:
    """A phase's line in the manifest: what it was, whether this invocation computed it
    (``trained``) or read its checkpoint (``loaded``), and what it cost when it was computed."""

    phase: str
    status: str
    seconds: float
    tokens_trained: int = 0
    tokens_generated: int = 0
    eval_seconds: float = 0.0
    eval_tokens_generated: int = 0
    time_split: TimeSplit | None = None


@dataclass
class BaseEvaluation:
    """The base model per split, as the student (problem only) and as the teacher (with the
    reference in context)."""

    student: dict[str, Evaluation]
    teacher: dict[str, Evaluation]


@dataclass
class FinetuneRun:
    """One fine-tuning run (SFT or OPSD) of one seed from base model number ``base``, and its
    evaluation per split."""

    seed: int
    stats: TrainStats
    eval: dict[str, Evaluation]
    base: int = 0


@dataclass
class SizeResult:
    """Everything one size (or transformers model) produced: ``base[richness]`` (a list over
    its base models) and ``runs[richness][method]`` (a list over base models × seeds)."""

    size: str
    n_params: int
    model: dict
    base_keys: list[str]
    phases: list[Phase]
    base: dict[float, list[BaseEvaluation]]
    runs: dict[float, dict[str, list[FinetuneRun]]]
    device: str
    wall_seconds: float
    finished_at: str


def from_plain(kind, data):
    """``data`` (``dataclasses.asdict`` output, as a checkpoint stores it) as an instance of the
    type ``kind``: dataclasses, ``dict[K, V]``, ``list[V]`` and ``X | None``, recursively."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: from_plain(hints[f.name], data[f.name])
                       for f in fields(kind) if f.name in data})
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return None if data is None else from_plain(inner[0], data)
    if origin is dict:
        return {k: from_plain(args[1], v) for k, v in data.items()}
    if origin is list:
        return [from_plain(args[0], v) for v in data]
    return data
