"""Real problem sets for transformers models: reading them, their references, their prompts, and
checking answers with math-verify.

A problem set is a JSONL file (one JSON object per line) or ``hf:NAME[:CONFIG][@SPLIT]`` (a
dataset on the Hugging Face hub, through ``datasets``; split ``train`` by default). Each row has
the problem (``problem`` or ``question``), the reference solution (``solution``) and the final
answer (``answer``). When ``answer`` is missing it is read from the solution: GSM8K's last line
``#### 42`` or MATH's last ``\\boxed{…}``; GSM8K's own rows (``question``, and an ``answer`` that
is the solution ending in ``#### 42``) are read as they are. A row without a problem, a solution
or an answer is refused with one line naming the file and the line.

The reference the teacher reads (``MathProblem.reference``) is the solution's working, its first
``richness`` share of lines (GSM8K's calculator annotations ``<<48/2=24>>`` removed), then, with
``show_answer``, "The final answer is $\\boxed{42}$." — the same text SFT trains on. Prompts are
templates with ``{problem}`` and ``{reference}``, wrapped in the tokenizer's chat template (a
user turn and the assistant's generation prompt) when it has one; the teacher's default follows
the OPSD paper's Figure 2. Answers are compared with math-verify, so ``0.5``, ``1/2`` and
``\\frac{1}{2}`` are the same answer.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.runner.config import ProblemsConfig, Reference

__all__ = ["MathProblem", "STUDENT_TEMPLATE", "TEACHER_TEMPLATE", "read_problems",
           "problem_sets", "finetune_problems", "answers_match", "ChatTask", "fill_template"]

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
STUDENT_TEMPLATE = "Problem: {problem}\n" + INSTRUCTION
# the OPSD paper's Figure 2: the problem, the reference, and a request to solve it anew
TEACHER_TEMPLATE = ("Problem: {problem}\nHere is a reference solution:\n{reference}\n"
                    "After understanding the reference solution, please try to solve this problem "
                    "using your own approach below.\n" + INSTRUCTION)
_FIELD = re.compile(r"\{(problem|reference)\}")
_CALCULATOR = re.compile(r"<<[^<>]*>>")
_GSM8K_ANSWER = re.compile(r"\n?####\s*(.+?)\s*$", re.S)


@dataclass(frozen=True)
class MathProblem:
    """A problem, its reference solution's working, and its final answer; ``source`` says where
    it was read ("FILE line N")."""

    problem: str
    working: str
    answer: str
    source: str = ""

    def reference(self, ref: Reference) -> str:
        """The reference solution the teacher reads and SFT trains on: the first
        round(richness · lines) lines of the working, then the final answer if ``show_answer``
        (``show_sums`` belongs to the synthetic task and is ignored)."""
        lines = [line for line in self.working.splitlines() if line.strip()]
        kept = lines[:int(round(ref.richness * len(lines)))]
        if ref.show_answer:
            kept.append(f"The final answer is $\\boxed{{{self.answer}}}$.")
        return "\n".join(kept)


def fill_template(template: str, **values: str) -> str:
    """``template`` with ``{problem}`` and ``{reference}`` replaced (other braces, such as
    ``\\boxed{}``, are left alone)."""
    return _FIELD.sub(lambda m: values[m.group(1)], template)


def _last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{…}`` in ``text`` (nested braces allowed), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j].strip()
    return None


def _problem_from_row(row, where: str) -> MathProblem:
    if not isinstance(row, dict):
        raise ScalefitError(f"{where}: expected a JSON object with 'problem', 'solution' and "
                            f"'answer', got {type(row).__name__}")
    problem = row.get("problem", row.get("question"))
    if not isinstance(problem, str) or not problem.strip():
        raise ScalefitError(f"{where}: no 'problem' (or 'question') field")
    solution, answer = row.get("solution"), row.get("answer")
    if solution is None and isinstance(answer, str) and "####" in answer:  # GSM8K's own rows
        solution, answer = answer, None
    if not isinstance(solution, str) or not solution.strip():
        raise ScalefitError(f"{where}: no 'solution' field (the reference solution the teacher "
                            "reads and SFT trains on)")
    working = _CALCULATOR.sub("", solution).strip()
    gsm8k = _GSM8K_ANSWER.search(working)
    if gsm8k:
        working, found = working[:gsm8k.start()].rstrip(), gsm8k.group(1)
    else:
        found = _last_boxed(working)
    answer = found if answer is None or str(answer).strip() == "" else str(answer).strip()
    if not answer:
        raise ScalefitError(f"{where}: no 'answer' field, and the solution has neither a "
                            "'#### 42' last line nor a \\boxed{...} answer")
    return MathProblem(problem.strip(), working, answer, where)


def _jsonl_rows(path: Path):
    if not path.is_file():
        raise ScalefitError(f"{path}: no such problem file (JSONL, or hf:NAME for a hub dataset)")
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ScalefitError(f"{path} line {n}: not valid JSON ({err.msg})") from None
            yield f"{path} line {n}", row


def _hub_rows(source: str):
    """Rows of ``hf:NAME[:CONFIG][@SPLIT]`` through ``datasets``."""
    spec, _, split = source[len("hf:"):].partition("@")
    name, _, config = spec.partition(":")
    try:
        from datasets import load_dataset

        rows = load_dataset(name, config or None, split=split or "train")
    except ImportError:
        raise ScalefitError(f"{source}: hub datasets need `datasets` (pip install datasets)") \
            from None
    except Exception as err:  # noqa: BLE001 - offline, unknown name, no such split: one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ScalefitError(f"{source}: cannot load the dataset ({first})") from None
    for n, row in enumerate(rows, 1):
        yield f"{source} row {n}", row


def read_problems(source: str) -> tuple[MathProblem, ...]:
    """The problems of a JSONL file or ``hf:`` dataset, in order; ScalefitError (one line naming
    the file and line) on a row that cannot be used."""
    rows = _hub_rows(source) if source.startswith("hf:") else _jsonl_rows(Path(source))
    problems = tuple(_problem_from_row(row, where) for where, row in rows)
    if not problems:
        raise ScalefitError(f"{source}: no problems")
    return problems


def problem_sets(cfg: ProblemsConfig, n_eval: int, seed: int):
    """The training pool and the evaluation splits: ``id`` is the first ``n_eval`` problems of
    ``eval_data``, or, without it, ``n_eval`` problems held out of ``data`` at random (seeded)
    and removed from the pool; ``ood`` is the first ``n_eval`` of ``ood_data`` if given."""
    pool = list(read_problems(cfg.data))
    if cfg.eval_data:
        splits = {"id": list(read_problems(cfg.eval_data))[:n_eval]}
    else:
        if len(pool) <= n_eval:
            raise ScalefitError(f"{cfg.data}: {len(pool)} problems, too few to hold out "
                                f"{n_eval} for evaluation and train on the rest (give "
                                "--eval-data or fewer --eval-problems)")
        held = set(np.random.default_rng([seed, 99991]).permutation(len(pool))[:n_eval].tolist())
        splits = {"id": [p for i, p in enumerate(pool) if i in held]}
        pool = [p for i, p in enumerate(pool) if i not in held]
    if cfg.ood_data:
        splits["ood"] = list(read_problems(cfg.ood_data))[:n_eval]
    return pool, splits


def finetune_problems(pool: list[MathProblem], n: int, seed: int) -> list[MathProblem]:
    """``n`` fine-tuning problems from the pool, shared by SFT and OPSD: seeded shuffles of the
    pool one after another (epochs) until there are enough."""
    rng = np.random.default_rng([seed, 7])
    order = np.concatenate([rng.permutation(len(pool)) for _ in range(-(-n // len(pool)))])
    return [pool[i] for i in order[:n]]


@functools.lru_cache(maxsize=100_000)
def _gold(answer: str):
    from math_verify import parse

    return parse(f"${answer}$", parsing_timeout=_timeout())


def _timeout() -> int | None:
    """math-verify's timeouts use SIGALRM, which only the main thread may set (a Dask worker
    runs jobs in other threads)."""
    return 5 if threading.current_thread() is threading.main_thread() else None


def answers_match(completion: str, answer: str) -> bool:
    """Whether a completion's final answer (its last ``\\boxed{}``, else its last expression)
    equals ``answer``, as math-verify judges it."""
    from math_verify import parse, verify

    predicted = parse(completion, parsing_timeout=_timeout())
    return bool(predicted) and verify(_gold(answer), predicted, timeout_seconds=_timeout())


class ChatTask:
    """Real problems behind the runner's problem interface (see ``scalefit.runner.train``), for
    one transformers tokenizer: prompts through its chat template, SFT targets, grading."""

    def __init__(self, tokenizer, student_template: str = "", teacher_template: str = "",
                 thinking: bool = False):
        if tokenizer.eos_token_id is None:
            raise ScalefitError(f"tokenizer of {tokenizer.name_or_path!r} has no eos token")
        self.tokenizer, self.thinking = tokenizer, thinking
        self.student_template = student_template or STUDENT_TEMPLATE
        self.teacher_template = teacher_template or TEACHER_TEMPLATE
        self.eos = tokenizer.eos_token_id

    def _prompt(self, text: str) -> list[int]:
        tok = self.tokenizer
        if tok.chat_template:
            text = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                           add_generation_prompt=True,
                                           enable_thinking=self.thinking)
            return tok(text, add_special_tokens=False).input_ids
        return tok(text + "\nAnswer:\n").input_ids  # a base model: the paper's plain prompt

    def student_prompt(self, p: MathProblem) -> list[int]:
        return self._prompt(fill_template(self.student_template, problem=p.problem))

    def teacher_prompt(self, p: MathProblem, ref: Reference) -> list[int]:
        return self._prompt(fill_template(self.teacher_template, problem=p.problem,
                                          reference=p.reference(ref)))

    def target(self, p: MathProblem, ref: Reference) -> list[int]:
        return self.tokenizer(p.reference(ref), add_special_tokens=False).input_ids

    def is_correct(self, p: MathProblem, completion: list[int]) -> bool:
        return answers_match(self.tokenizer.decode(completion, skip_special_tokens=True),
                             p.answer)


def check_templates(cfg: ProblemsConfig) -> None:
    """ScalefitError unless the student template has ``{problem}`` and no ``{reference}`` and
    the teacher template has both."""
    student = cfg.student_template or STUDENT_TEMPLATE
    teacher = cfg.teacher_template or TEACHER_TEMPLATE
    if "{problem}" not in student or "{reference}" in student:
        raise ScalefitError("--student-template must contain {problem} and not {reference}")
    if "{problem}" not in teacher or "{reference}" not in teacher:
        raise ScalefitError("--teacher-template must contain {problem} and {reference}")
