"""The synthetic reasoning task: add K numbers, writing the running sums.

A problem ``23+45+67+12`` has the step-by-step solution ``23+45=68;68+67=135;135+12=147#147``
(the working of each step, then ``#`` and the checkable final answer). The *reference solution*
shown to the teacher keeps a fraction ``richness`` of the steps' working: at richness 1 it is the
full solution (the format the student writes), at 0 only the running sums ``68;135;147``; it ends
with ``#147`` when the answer is shown.

Prompts follow the shape of the OPSD paper's Figure 2 (problem; "here is a reference solution";
"now solve it with your own approach"):

    student:  <bos> 23+45+67+12 ?                     → the model writes its solution
    teacher:  <bos> 23+45+67+12 | <reference> ?       → the model writes its own solution

Difficulty: the number of terms K and the operand digits D (``TaskConfig``). The in-distribution
split uses the training K; the out-of-distribution split uses more terms than training showed.
Vocabulary: ``<pad> <bos> <eos>`` and the 16 characters ``0-9 + = ; # ? |`` (19 tokens).

``ADDITION`` is this task behind the runner's problem interface (``AdditionTask``): the training
loop asks it for a problem's student prompt, teacher prompt and SFT target as tokens, and whether
a completion is right; ``scalefit.runner.problems.ChatTask`` answers the same questions for real
problems and a transformers tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scalefit.runner.config import CHARS, SPECIALS, Reference, TaskConfig

PAD, BOS, EOS = 0, 1, 2
VOCAB = [*SPECIALS, *CHARS]
STOI = {c: i for i, c in enumerate(VOCAB)}

__all__ = ["PAD", "BOS", "EOS", "VOCAB", "TaskConfig", "Reference", "Problem", "encode", "decode",
           "sample_problems", "student_prompt", "teacher_prompt", "left_pad",
           "supervised_batch", "parse_answer", "AdditionTask", "ADDITION"]


def encode(text: str) -> list[int]:
    return [STOI[c] for c in text]


def decode(tokens) -> str:
    return "".join(VOCAB[t] for t in tokens if t > EOS)


@dataclass(frozen=True)
class Problem:
    operands: tuple[int, ...]

    @property
    def answer(self) -> int:
        return sum(self.operands)

    @property
    def prompt(self) -> str:
        return "+".join(map(str, self.operands))

    def solution(self, sloppy: bool = False) -> str:
        """The full step-by-step solution the student is expected to write (``sloppy``: as the
        sloppy writer writes it, see ``reference``)."""
        return self.reference(Reference(1.0), sloppy)

    def reference(self, ref: Reference, sloppy: bool = False) -> str:
        """The privileged solution: the first round(richness · steps) steps with their working,
        the rest as running sums only (dropped unless ``show_sums``), then ``#answer`` if
        ``show_answer``. Richness 0 without sums is the answer alone: ``#147``. ``sloppy``
        drops the carry out of the units column at every step (68+67=125) and carries the
        error on to the answer."""
        ops = self.operands
        steps, total = [], ops[0]
        keep = int(round(ref.richness * (len(ops) - 1)))
        for i, x in enumerate(ops[1:]):
            new = total + x
            if sloppy and total % 10 + x % 10 >= 10:
                new -= 10
            if i < keep:
                steps.append(f"{total}+{x}={new}")
            elif ref.show_sums:
                steps.append(f"{new}")
            total = new
        return ";".join(steps) + (f"#{total}" if ref.show_answer else "")


def sample_problems(rng: np.random.Generator, n: int, terms, digits: int) -> list[Problem]:
    lo, hi = 10 ** (digits - 1), 10**digits
    ks = rng.choice(np.asarray(terms), size=n)
    values = rng.integers(lo, hi, size=(n, max(terms)))
    return [Problem(tuple(int(v) for v in values[i, :k])) for i, k in enumerate(ks)]


def student_prompt(p: Problem) -> list[int]:
    return [BOS, *encode(p.prompt + "?")]


def teacher_prompt(p: Problem, ref: Reference) -> list[int]:
    return [BOS, *encode(p.prompt + "|" + p.reference(ref) + "?")]


def left_pad(seqs: list[list[int]], device="cpu"):
    """(tokens, mask) with sequences right-aligned, so every prompt ends where generation
    starts; ``mask`` is True on real tokens."""
    width = max(map(len, seqs))
    tokens = np.full((len(seqs), width), PAD, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=bool)
    for i, s in enumerate(seqs):
        tokens[i, width - len(s):] = s
        mask[i, width - len(s):] = True
    return torch.from_numpy(tokens).to(device), torch.from_numpy(mask).to(device)


def supervised_batch(prompts: list[list[int]], targets: list[list[int]], device="cpu",
                     eos: int = EOS):
    """Left-padded prompt + target + ``eos``; returns (tokens, pad mask, loss mask on the
    target tokens and the eos)."""
    seqs = [p + t + [eos] for p, t in zip(prompts, targets)]
    tokens, mask = left_pad(seqs, device)
    loss_mask = torch.zeros_like(mask)
    width = tokens.shape[1]
    for i, t in enumerate(targets):
        loss_mask[i, width - len(t) - 1:] = True
    return tokens, mask, loss_mask


def parse_answer(tokens) -> int | None:
    """The integer after the last ``#`` of a generated solution, or None."""
    text = decode(tokens)
    if "#" not in text:
        return None
    tail = text.rsplit("#", 1)[1]
    return int(tail) if tail.isdigit() else None


class AdditionTask:
    """The synthetic task behind the runner's problem interface (see ``scalefit.runner.train``):
    prompts, SFT targets and grading, in the task's own tokens."""

    eos = EOS
    student_prompt = staticmethod(student_prompt)
    teacher_prompt = staticmethod(teacher_prompt)

    @staticmethod
    def target(p: Problem, ref: Reference) -> list[int]:
        """What SFT trains the student to write: the reference at this richness."""
        return encode(p.reference(ref))

    @staticmethod
    def is_correct(p: Problem, completion: list[int]) -> bool:
        return parse_answer(completion) == p.answer


ADDITION = AdditionTask()
