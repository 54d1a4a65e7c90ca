"""The runner on transformers models, offline: tiny random-init Qwen3- and Llama-shaped models
built from their configs, taught here in a few seconds to read a reference (so that the teacher
really beats the student), a character tokenizer with a chat template built with `tokenizers`,
and a GSM8K-style JSONL made by the test. The loading code is the real one
(AutoModelForCausalLM / AutoTokenizer from the saved directories)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the hub (read at import)
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("math_verify")

from scalefit.cli import main  # noqa: E402
from scalefit.runner.config import (LoraConfig, ProblemsConfig, Reference,  # noqa: E402
                                    TrainConfig)
from scalefit.runner.hf import HFCausalLM, char_tokenizer, load_base  # noqa: E402
from scalefit.runner.losses import opsd_loss  # noqa: E402
from scalefit.runner.model import CausalLM  # noqa: E402
from scalefit.runner.problems import (ChatTask, answers_match, finetune_problems,  # noqa: E402
                                      problem_sets, read_problems)
from scalefit.runner.sweep import finetuning  # noqa: E402
from scalefit.runner.task import left_pad  # noqa: E402
from scalefit.runner.train import evaluate, opsd, rollout_logits, sft  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

ALPHABET = "0123456789 #|?Box"
# The reference is the bare answer (a one-token copy a tiny model learns in seconds); the
# templates keep prompts short. The defaults (the OPSD paper's prompts) are tested on their own.
REF = Reference(1.0, show_answer=False)
TEMPLATES = {"student_template": "{problem}", "teacher_template": "{problem}|{reference}"}
N_EVAL = 40


def _write_problems(path: Path, n: int = 240, seed: int = 0) -> Path:
    """GSM8K-style rows: a question, and an answer that is the solution ending in '#### d'.
    Each box holds a random digit: only the reference says which."""
    digits = np.random.default_rng(seed).integers(0, 10, n)
    path.write_text("".join(json.dumps({"question": f"Box {i}?", "answer": f"{d}\n#### {d}"})
                            + "\n" for i, d in enumerate(digits)))
    return path


def _config(kind: str, tok):
    """Tiny Qwen3 and Llama shapes (a short RoPE wavelength: positions a few tokens apart are
    told apart quickly)."""
    common = dict(vocab_size=len(tok), max_position_embeddings=256, rope_theta=30.0,
                  tie_word_embeddings=True, pad_token_id=tok.pad_token_id,
                  eos_token_id=tok.eos_token_id)
    if kind == "qwen3":
        return transformers.Qwen3Config(hidden_size=64, intermediate_size=128,
                                        num_hidden_layers=2, num_attention_heads=4,
                                        num_key_value_heads=2, head_dim=16, **common)
    return transformers.LlamaConfig(hidden_size=96, intermediate_size=192, num_hidden_layers=2,
                                    num_attention_heads=6, num_key_value_heads=6, **common)


class _MostlyTeacher:
    """Pretraining prompts: 90% with the reference in context (the teacher's prompt), the rest
    without; the target is the reference either way."""

    def __init__(self, task: ChatTask, seed: int):
        self.task, self.eos, self.rng = task, task.eos, np.random.default_rng(seed)
        self.target = task.target

    def student_prompt(self, p):
        teacher = self.rng.random() < 0.9
        return self.task.teacher_prompt(p, REF) if teacher else self.task.student_prompt(p)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two tiny models taught with the runner's own ``sft`` to copy a reference (350 steps: the
    teacher is right on 90-100% of held-out problems over seeds 0-3 of both), and the problem
    file; saved as checkpoint directories with their tokenizer."""
    root = tmp_path_factory.mktemp("hf")
    data = _write_problems(root / "problems.jsonl")
    tok = char_tokenizer(ALPHABET)
    task = ChatTask(tok, **TEMPLATES)
    pool, _ = problem_sets(ProblemsConfig(str(data)), N_EVAL, 0)
    cfg = TrainConfig(finetune_steps=350, batch_size=32, lr=1e-2)
    dirs = {}
    for seed, kind in enumerate(("qwen3", "llama")):
        torch.manual_seed(seed)
        hf = transformers.AutoModelForCausalLM.from_config(_config(kind, tok))
        sft(HFCausalLM(hf), _MostlyTeacher(task, seed), cfg,
            [finetune_problems(pool, cfg.finetune_steps * cfg.batch_size, seed)], REF, quiet=True)
        dirs[kind] = root / kind
        hf.save_pretrained(dirs[kind])
        tok.save_pretrained(dirs[kind])
    return SimpleNamespace(root=root, data=data, **dirs)


def _load(path):
    model, tok = load_base(str(path), torch.device("cpu"), "float32")
    return model, ChatTask(tok, **TEMPLATES)


def _run_args(ck, out, *extra):
    return ["run", "--models", f"{ck.qwen3},{ck.llama}", "--data", str(ck.data), "--out",
            str(out), "--quiet", "--workers", "1", "--device", "cpu", "--dtype", "float32",
            "--richness", "1", "--hide-answer", "--student-template", "{problem}",
            "--teacher-template", "{problem}|{reference}", "--lora", "4", "--seeds", "2",
            "--steps", "3", "--batch-size", "8", "--lr", "1e-3", "--max-new-tokens", "6",
            "--eval-problems", str(N_EVAL), *extra]


@pytest.fixture(scope="module")
def full_run(checkpoints):
    """``scalefit run --models QWEN3_DIR,LLAMA_DIR --data problems.jsonl --out OUT``."""
    out = checkpoints.root / "run"
    assert main(_run_args(checkpoints, out)) == 0
    return out


# --- the command, end to end ------------------------------------------------------------------


def test_run_two_local_models_writes_a_table_scalefit_fit_reads(checkpoints, full_run, capsys):
    rows = pd.read_csv(full_run / "gains_all.csv")
    sizes = {}
    for kind in ("qwen3", "llama"):  # the size is the model's own parameter count
        hf = transformers.AutoModelForCausalLM.from_pretrained(getattr(checkpoints, kind))
        sizes[kind] = sum(p.numel() for p in hf.parameters())
    assert set(zip(rows["size_name"], rows["param_count"])) == set(sizes.items())
    assert len(rows) == 2 * 2  # models × comparisons (the id split only)
    assert set(rows["benchmark"]) == {"id"} and (rows["n_problems"] == N_EVAL).all()
    assert (rows["n_seeds"] == 2).all() and (rows["eval_metric"] == "greedy").all()
    # the teacher (base model + reference) really is better: the table has something to fit
    assert (rows["acc_teacher"] >= rows["acc_base"] + 40).all(), rows[["acc_teacher", "acc_base"]]
    assert rows["distillable"].all() and (rows["opsd_tokens_generated"] > 0).all()
    manifest = json.loads((full_run / "manifest.json").read_text())
    assert manifest["sizes"] == ["qwen3", "llama"] and not manifest["pending_sizes"]
    assert manifest["totals"]["opsd"]["trained"] == 2 * 2
    # LoRA runs keep their adapters
    ck = torch.load(next((full_run / "checkpoints").rglob("opsd.pt")), weights_only=True)
    assert ck["state"] and all("lora_" in k for k in ck["state"])
    capsys.readouterr()
    assert main(["fit", str(full_run / "gains.csv")]) == 0
    assert "model average" in capsys.readouterr().out


def test_resumed_run_equals_uninterrupted(checkpoints, full_run, tmp_path, monkeypatch):
    """Interrupt a run in its third OPSD phase, rerun the same command: what was finished is
    loaded, the rest trained, and the table equals the uninterrupted run's."""
    import scalefit.runner.train as train

    calls, real_opsd = [], train.opsd

    def interrupted(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_opsd(*args, **kw)

    out = tmp_path / "resumed"
    monkeypatch.setattr(train, "opsd", interrupted)
    assert main(_run_args(checkpoints, out)) == 130
    monkeypatch.setattr(train, "opsd", real_opsd)
    assert main(_run_args(checkpoints, out)) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    status = {(s["size"], ph["phase"]): ph["status"] for s in manifest["per_size"]
              for ph in s["phases"]}
    loaded = [k for k, v in status.items() if v == "loaded" and k[1] != "load"]
    trained = [k for k, v in status.items() if v == "trained"]
    assert len(loaded) >= 4 and trained  # the first model's phases, then the rest
    timing = ["sft_seconds", "opsd_seconds"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "gains_all.csv").drop(columns=timing),
                                  pd.read_csv(full_run / "gains_all.csv").drop(columns=timing))


# --- the model interface on transformers models ----------------------------------------------


@pytest.mark.parametrize("kind", ["qwen3", "llama"])
def test_padding_cache_and_greedy_decoding_agree_with_transformers(checkpoints, kind):
    model, task = _load(getattr(checkpoints, kind))
    problems = read_problems(str(checkpoints.data))[:6]
    prompts = [task.teacher_prompt(p, REF) if i % 2 else task.student_prompt(p)
               for i, p in enumerate(problems)]
    tokens, mask = left_pad(prompts)
    assert not mask.all()  # prompts of different lengths: left padding is exercised
    with torch.no_grad():
        padded = model(tokens, mask)
        for i, prompt in enumerate(prompts):
            alone = model.hf(torch.tensor([prompt])).logits[0]  # transformers' own forward
            torch.testing.assert_close(padded[i, mask[i]], alone, atol=1e-5, rtol=1e-5)
    cached, valid = model.generate(tokens, mask, 8, task.eos, greedy=True)
    uncached, valid2 = model.generate(tokens, mask, 8, task.eos, greedy=True, use_cache=False)
    assert torch.equal(cached, uncached) and torch.equal(valid, valid2)
    for i, prompt in enumerate(prompts):  # transformers' generate, one unpadded prompt at a time
        ref = model.hf.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False,
                                eos_token_id=task.eos, pad_token_id=task.eos)[0, len(prompt):]
        assert cached[i][valid[i]].tolist() == ref[:int(valid[i].sum())].tolist()


# --- the loss, the teacher, the student's input -----------------------------------------------


def test_opsd_loss_equals_trl_sdft_on_the_same_batch(checkpoints):
    """Student and teacher logits of a real model along sampled rollouts of different lengths:
    the runner's loss and its gradient equal TRL's SDFTTrainer loss (its own per-token
    divergence and per-sequence aggregation) for beta 0, 0.5 and 1."""
    from trl.experimental.sdft.sdft_trainer import DistillationLogits, SDFTTrainer

    model, task = _load(checkpoints.qwen3)
    problems = read_problems(str(checkpoints.data))[:8]
    s_prompts = [task.student_prompt(p) for p in problems]
    t_prompts = [task.teacher_prompt(p, REF) for p in problems]
    tokens, mask = left_pad(s_prompts)
    rollout, valid = model.generate(tokens, mask, 12, -1, temperature=3.0,
                                    generators=[torch.Generator().manual_seed(0)])
    valid = valid & (torch.arange(12)[None] < torch.tensor([12, 5, 9, 1, 12, 7, 3, 11])[:, None])
    with torch.no_grad():
        student = rollout_logits(model, s_prompts, rollout, valid).double()
        teacher = rollout_logits(model, t_prompts, rollout, valid).double()
    for beta in (0.0, 0.5, 1.0):
        trl_self = SimpleNamespace(args=SimpleNamespace(distillation_mode="full_logits",
                                                        distillation_alpha=beta,
                                                        distillation_is_clip=None),
                                   accelerator=SimpleNamespace(gather=lambda x: x),
                                   _log_self_distillation_metric=lambda *a: None)
        s_trl = student.clone().requires_grad_(True)
        trl = SDFTTrainer._compute_self_distillation_loss(
            trl_self, SimpleNamespace(training=True), {},
            DistillationLogits(rollout, valid.long(), s_trl, teacher))
        trl.backward()
        for chunk in (None, 4):
            s_ours = student.clone().requires_grad_(True)
            ours = opsd_loss(s_ours, teacher, valid, beta, chunk_size=chunk)
            ours.backward()
            assert ours.item() == pytest.approx(trl.item(), rel=1e-12, abs=1e-15)
            torch.testing.assert_close(s_ours.grad, s_trl.grad, rtol=1e-10, atol=1e-13)


def test_bfloat16_logits_are_distilled_in_float32(checkpoints):
    """bfloat16 logits (a transformers model on a GPU) give the loss of the same numbers in
    float64, not a bfloat16 loss."""
    g = torch.Generator().manual_seed(0)
    s = (torch.randn(3, 40, 50, generator=g) * 3).bfloat16()
    t = (torch.randn(3, 40, 50, generator=g) * 3).bfloat16()
    mask = torch.ones(3, 40, dtype=torch.bool)
    exact = opsd_loss(s.double(), t.double(), mask, 0.5, chunk_size=None).item()
    assert opsd_loss(s, t, mask, 0.5).item() == pytest.approx(exact, rel=1e-5)


class _Recorder(CausalLM):
    """A model that records the text of every input it is given (real tokens only)."""

    def __init__(self, inner, tokenizer):
        super().__init__()
        self.inner, self.tokenizer, self.seen = inner, tokenizer, []
        self.max_positions = inner.max_positions

    def _record(self, tokens, mask):
        self.seen += [self.tokenizer.decode(row[m]) for row, m in zip(tokens, mask)]

    def forward(self, idx, pad_mask=None, last=None):
        self._record(idx, pad_mask if pad_mask is not None else torch.ones_like(idx).bool())
        return self.inner(idx, pad_mask, last=last)

    def start(self, prompt, prompt_mask, max_len):
        self._record(prompt, prompt_mask)
        return self.inner.start(prompt, prompt_mask, max_len)

    def extend(self, cache, tokens):
        return self.inner.extend(cache, tokens)


def test_students_input_never_contains_the_reference(checkpoints):
    """In OPSD (rollouts and the student's forward) and in evaluation, the student's inputs
    never hold the reference; every teacher input does. References here are distinctive
    sentences, so that a match cannot be a coincidence."""
    model, task = _load(checkpoints.qwen3)
    tok = task.tokenizer
    problems = [p.__class__(p.problem, f"#{i} Box {p.answer} ", p.answer)
                for i, p in enumerate(read_problems(str(checkpoints.data))[:8])]
    cfg = TrainConfig(finetune_steps=2, batch_size=4, lr=1e-3, max_new_tokens=4, eval_batch=8)
    with finetuning(model, LoraConfig(2)) as (student, teacher):
        s, t = _Recorder(student, tok), _Recorder(teacher, tok)
        opsd(s, t, task, cfg, [problems], REF, [0], quiet=True)
        evaluate(s, task, problems, cfg, REF, teacher=t)
    references = [p.reference(REF) for p in problems]
    assert len(s.seen) > 8 and len(t.seen) > 8
    assert not any(r in text for text in s.seen for r in references)
    assert all(any(r in text for r in references) for text in t.seen)


@pytest.mark.parametrize("lora", [None, LoraConfig(4)], ids=["full", "lora"])
def test_teacher_weights_never_change(checkpoints, lora):
    """OPSD moves the student and never the teacher: full fine-tuning trains a copy, LoRA trains
    adapters while the teacher is the same model with them disabled; afterwards the base model
    is the checkpoint, weight for weight."""
    model, task = _load(checkpoints.llama)
    before = {k: v.clone() for k, v in model.hf.state_dict().items()}
    problems = list(read_problems(str(checkpoints.data))[:12])
    probe = left_pad([task.teacher_prompt(p, REF) for p in problems[:4]])
    cfg = TrainConfig(finetune_steps=3, batch_size=4, lr=1e-2, max_new_tokens=4)
    with finetuning(model, lora) as (student, teacher):
        with torch.no_grad():
            start = student(*probe)
        opsd(student, teacher, task, cfg, [problems], REF, [0], quiet=True)
        with torch.no_grad():
            assert not torch.allclose(student(*probe), start)  # the student moved
            torch.testing.assert_close(teacher(*probe), start, rtol=0, atol=0)  # not the teacher
    after = model.hf.state_dict()
    assert after.keys() == before.keys()  # no adapter left behind
    assert all(torch.equal(after[k], v) for k, v in before.items())


# --- problems and answers ---------------------------------------------------------------------


def _rows(path: Path, rows: list[dict]):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return read_problems(str(path))


def test_equivalent_answers_are_accepted_by_math_verify(tmp_path):
    for completion in ("so the answer is \\boxed{0.5}", "x = 1/2", "$\\frac{1}{2}$",
                       "The final answer is $\\boxed{\\frac{1}{2}}$."):
        for gold in ("0.5", "1/2", "\\frac{1}{2}"):
            assert answers_match(completion, gold), (completion, gold)
    assert not answers_match("\\boxed{2/3}", "0.5")
    assert not answers_match("no answer here", "0.5")
    tok = char_tokenizer("0123456789/.\\{}abcdefghijklmnopqrstuvwxyz $")
    (p,) = _rows(tmp_path / "half.jsonl",
                 [{"problem": "half?", "solution": "It is $\\boxed{1/2}$."}])
    assert p.answer == "1/2"
    assert ChatTask(tok).is_correct(p, tok("it is \\frac{1}{2}").input_ids + [tok.eos_token_id])


def test_problem_rows_references_and_splits(tmp_path):
    gsm8k, math = _rows(tmp_path / "rows.jsonl", [
        {"question": "Tom has 3 bags of 4. How many?",
         "answer": "He has 3*4=<<3*4=12>>12 apples.\nSo 12 in all.\n#### 12"},
        {"problem": "Simplify.", "solution": "We get $\\boxed{\\frac{x^{2}}{2}}$."}])
    assert (gsm8k.answer, gsm8k.working) == ("12", "He has 3*4=12 apples.\nSo 12 in all.")
    assert math.answer == "\\frac{x^{2}}{2}"  # nested braces
    assert gsm8k.reference(Reference(1.0)) == ("He has 3*4=12 apples.\nSo 12 in all.\n"
                                               "The final answer is $\\boxed{12}$.")
    assert gsm8k.reference(Reference(0.5, show_answer=False)) == "He has 3*4=12 apples."
    # the OPSD paper's teacher prompt (Figure 2) by default, the student's without the reference
    tok = char_tokenizer("".join(chr(c) for c in range(32, 127)) + "\n")
    task = ChatTask(tok)
    teacher = tok.decode(task.teacher_prompt(gsm8k, Reference(1.0)), skip_special_tokens=True)
    assert "Here is a reference solution:\nHe has 3*4=12 apples." in teacher
    assert "please try to solve this problem using your own approach" in teacher
    assert "reference" not in tok.decode(task.student_prompt(gsm8k))
    # held-out problems leave the training pool; fine-tuning problems repeat it in epochs
    data = _write_problems(tmp_path / "p.jsonl", n=30)
    pool, splits = problem_sets(ProblemsConfig(str(data)), 10, 0)
    assert len(pool) == 20 and len(splits["id"]) == 10
    assert not {p.problem for p in pool} & {p.problem for p in splits["id"]}
    drawn = finetune_problems(pool, 50, 3)
    assert len(drawn) == 50 and set(drawn[:20]) == set(pool)
    assert drawn == finetune_problems(pool, 50, 3) != finetune_problems(pool, 50, 4)


@pytest.mark.parametrize("content, says", [
    ('{"question": "Box 1?", "answer": "1\\n#### 1"}\n{"answer": "2"}\n', "line 2: no 'problem'"),
    ('{"question": "Box 1?", "answer": "1\\n#### 1"}\n{"question": "x"\n',
     "line 2: not valid JSON"),
    ('{"problem": "Box 1?", "solution": "no answer in it"}\n', "line 1: no 'answer' field"),
    ('{"problem": "Box 1?", "answer": "3"}\n', "line 1: no 'solution' field"),
])
def test_a_bad_problem_row_gets_one_line(checkpoints, tmp_path, capsys, content, says):
    data = tmp_path / "bad.jsonl"
    data.write_text(content)
    args = _run_args(checkpoints, tmp_path / "out")
    args[args.index("--data") + 1] = str(data)
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and f"{data} {says}" in err[0], err


def test_an_unreachable_hub_dataset_gets_one_line(checkpoints, tmp_path, capsys):
    args = _run_args(checkpoints, tmp_path / "out")
    args[args.index("--data") + 1] = "hf:no-such-owner/no-such-dataset@train"
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "hf:no-such-owner/no-such-dataset@train: cannot load" in err[0]


def test_a_bad_model_path_gets_one_line(checkpoints, tmp_path):
    """Through the installed command in a fresh process: one line on stderr, exit status 2."""
    missing = tmp_path / "no-such-model"
    res = subprocess.run([sys.executable, "-m", "scalefit.cli", *_run_args(
        SimpleNamespace(qwen3=checkpoints.qwen3, llama=missing, data=checkpoints.data),
        tmp_path / "out")], capture_output=True, text=True, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert str(missing) in lines[0] and "no such directory" in lines[0]


# --- the GPU check's CPU path -----------------------------------------------------------------


def test_gpu_check_runs_on_the_cpu_at_tiny_size(tmp_path):
    """benchmarks/gpu_check.py --tiny: the same script as on a GPU (the runner's SFT and OPSD
    and TRL's SDFTTrainer on one random-init Qwen3), at a size the CPU runs in seconds."""
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--tiny",
                          "--json", str(tmp_path / "check.json")], capture_output=True,
                         text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "check.json").read_text())
    assert [m["shape"] for m in report["models"]] == ["tiny"]
    for m in report["models"]:
        assert m["opsd"]["step_s"] > 0 and m["opsd"]["rollout_tokens_per_s"] > 0
        assert m["sft"]["step_s"] > 0 and m["trl_sdft"]["step_s"] > 0
        assert m["opsd"]["tokens_per_rollout"] == report["rollout_tokens"]
