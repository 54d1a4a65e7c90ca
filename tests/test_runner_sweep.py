"""Real (tiny) runner sweeps: the table `scalefit fit` reads, the teacher context helps, resume
after a kill redoes nothing finished, bad checkpoints are refused, Dask runs two sizes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from scalefit.errors import ScalefitError  # noqa: E402
from scalefit.runner.config import PRESETS  # noqa: E402
from scalefit.runner.schema import COLUMNS as TABLE_COLUMNS  # noqa: E402
from scalefit.runner.sweep import resolve_device, run_size, run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# The "tiny" preset: an easy version of the task (one-digit operands, 2-3 terms) on which two
# tiny models learn to use the reference in a few hundred steps. Small, but every phase is real.
MICRO = PRESETS["tiny"]


def _cli(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "scalefit.runner.cli", *args], env=env,
                          capture_output=True, text=True, **kw)


def _micro_args(out, *extra):
    return ["--preset", "tiny", "--out", str(out), "--quiet", "--workers", "1", *extra]


def _copy_base_models(src_out, out):
    """Start ``out`` from the base models of another run's checkpoints."""
    for src in (src_out / "checkpoints").glob("*/b*/base.pt"):
        dst = out / "checkpoints" / src.relative_to(src_out / "checkpoints")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    """One real sweep of two tiny sizes, run inline (the base models are reused below)."""
    out = tmp_path_factory.mktemp("micro")
    gains = run_sweep(MICRO, out, quiet=True)
    return MICRO, out, gains


def test_sweep_writes_tables_scalefit_fit_reads(micro_run):
    from scalefit.data import load_gain_table

    cfg, out, gains = micro_run
    allrows = pd.read_csv(out / "gains_all.csv")
    assert list(allrows.columns) == TABLE_COLUMNS + ["comparison"]
    assert len(allrows) == 2 * 2 * 2  # sizes × splits × comparisons
    for name in ("gains.csv", "gains_vs_base.csv"):
        frame = pd.read_csv(out / name)
        assert (frame["distillable"]).all()
        assert len(frame) >= 1, f"{name}: no distillable row in the micro run"
        table = load_gain_table(out / name)
        assert table.size_unit == "M"
        assert set(table.benchmarks) <= {"id", "ood"}
        assert np.all(table.se > 0)
    sft = allrows[allrows["comparison"] == "opsd-sft"]
    np.testing.assert_allclose(sft["gain"], sft["acc_opsd"] - sft["acc_sft"], atol=1e-3)
    base = allrows[allrows["comparison"] == "opsd-base"]
    np.testing.assert_allclose(base["gain"], base["acc_opsd"] - base["acc_base"], atol=1e-3)
    # each comparison's own baseline bounds its gains: OPSD − SFT by SFT's accuracy, OPSD − base
    # by the base model's
    np.testing.assert_allclose(sft["accuracy_baseline"], sft["acc_sft"], atol=1e-3)
    np.testing.assert_allclose(base["accuracy_baseline"], base["acc_base"], atol=1e-3)
    for name, arm in (("gains.csv", "acc_sft"), ("gains_vs_base.csv", "acc_base")):
        frame = pd.read_csv(out / name)
        top = frame[frame["size_m"] == frame["size_m"].max()]
        table = load_gain_table(out / name, by=("benchmark",))
        assert table.value_range == (-top[arm].max(), 100 - top[arm].min())
    assert (sft["n_seeds"] == 2).all() and (sft["n_problems"] == 150).all()
    assert (sft["richness"] == 0.0).all()
    assert (sft["opsd_tokens_generated"] > 0).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["finished_sizes"] and not manifest["pending_sizes"]
    assert manifest["config"]["seeds"] == 2 and manifest["versions"]["torch"]
    assert manifest["totals"]["opsd"]["tokens_generated"] > 0
    assert manifest["totals"]["pretrain"]["trained"] == 2


def test_teacher_context_really_helps(micro_run):
    """On the base model, the teacher (reference in context) is measurably more accurate than
    the student (problem only), on the same held-out problems."""
    _, out, _ = micro_run
    rows = pd.read_csv(out / "gains_all.csv")
    rows = rows[(rows["comparison"] == "opsd-sft") & (rows["benchmark"] == "id")]
    big = rows.loc[rows["param_count"].idxmax()]
    assert big["acc_teacher"] > big["acc_base"] + 10, big[["acc_teacher", "acc_base"]]
    # and the paired difference is many standard errors away from 0
    se = np.hypot(big["se_teacher"], big["se_base"])
    assert (big["acc_teacher"] - big["acc_base"]) / se > 3


def test_rerun_loads_everything_and_gives_the_same_table(micro_run):
    cfg, out, _ = micro_run
    before = pd.read_csv(out / "gains_all.csv")
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "checkpoints").rglob("*.pt")}
    run_sweep(cfg, out, quiet=True)
    manifest = json.loads((out / "manifest.json").read_text())
    statuses = {ph["status"] for s in manifest["per_size"] for ph in s["phases"]}
    assert statuses == {"loaded"}
    assert {p: p.stat().st_mtime_ns for p in (out / "checkpoints").rglob("*.pt")} == mtimes
    after = pd.read_csv(out / "gains_all.csv")
    pd.testing.assert_frame_equal(before, after)


def test_resume_after_kill_redoes_nothing_finished(micro_run, tmp_path):
    """Kill a CLI run with SIGKILL after its first fine-tuning checkpoint, rerun: every phase
    finished before the kill is loaded (file untouched), the rest is trained."""
    cfg, micro_out, _ = micro_run
    out = tmp_path / "run"
    _copy_base_models(micro_out, out)  # already pretrained: keeps this test short
    proc = subprocess.Popen([sys.executable, "-m", "scalefit.runner.cli", *_micro_args(out)],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if list((out / "checkpoints").rglob("opsd.pt")):
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in (out / "checkpoints").rglob("*.pt")}
    assert any(p.name == "opsd.pt" for p in finished), "no phase finished before the kill"
    assert not list((out / "checkpoints").rglob("*.tmp")) or True  # temp files are harmless
    res = _cli(*_micro_args(out))
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    phases = {(s["size"], ph["phase"]): ph["status"] for s in manifest["per_size"]
              for ph in s["phases"]}
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was redone"
    rel = {p.relative_to(out / "checkpoints") for p in finished}
    loaded = {k for k, v in phases.items() if v == "loaded"}
    trained = {k for k, v in phases.items() if v == "trained"}
    assert trained, "the rerun had nothing left to do: the kill came too late"
    # every checkpoint file that existed maps to a loaded phase
    for r in rel:
        size, base, name = r.parts[0], r.parts[1], r.name
        if name == "base.pt":
            assert (size, f"pretrain {base}") in loaded
        elif name in ("sft.pt", "opsd.pt"):
            seed = r.parts[3]
            assert (size, f"{name[:-3]} {base} r0 {seed}") in loaded
    # and the table equals the uninterrupted run's (everything is seeded)
    a = pd.read_csv(out / "gains_all.csv").drop(columns=["sft_seconds", "opsd_seconds"])
    b = pd.read_csv(micro_out / "gains_all.csv").drop(columns=["sft_seconds", "opsd_seconds"])
    pd.testing.assert_frame_equal(a, b)


def test_corrupt_and_mismatched_checkpoints_are_refused(micro_run, tmp_path):
    cfg, micro_out, _ = micro_run
    size = cfg.sizes[0]
    src = micro_out / "checkpoints" / size
    ck = tmp_path / "checkpoints"
    for p in src.rglob("*.pt"):
        dst = ck / size / p.relative_to(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(p.read_bytes())
    # a different setting: the base checkpoint was made with 800 pretraining steps
    steps = cfg.train.pretrain_steps
    other = replace(cfg, train=replace(cfg.train, pretrain_steps=steps + 1))
    with pytest.raises(ScalefitError,
                       match=rf"different settings \(pretrain.steps {steps} → {steps + 1}"):
        run_size(other, size, ck, quiet=True)
    # a changed fine-tuning setting is caught at the fine-tuning checkpoint
    other = replace(cfg, train=replace(cfg.train, beta=0.25))
    with pytest.raises(ScalefitError, match=r"opsd.pt was made with different settings"):
        run_size(other, size, ck, quiet=True)
    # a truncated checkpoint
    target = next(ck.rglob("sft.pt"))
    target.write_bytes(target.read_bytes()[:100])
    with pytest.raises(ScalefitError, match="corrupt or unreadable"):
        run_size(cfg, size, ck, quiet=True)
    # and the CLI says so in one line with exit status 2
    target.write_bytes(b"not a checkpoint at all")
    res = _cli(*_micro_args(tmp_path, "--sizes", size, "--checkpoint-dir", str(ck)))
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "corrupt or unreadable" in lines[0] and "sft.pt" in lines[0]


def test_dask_local_cluster_runs_two_sizes(micro_run, tmp_path):
    """Two sizes as jobs on a Dask LocalCluster (two worker processes, one thread each),
    starting from the fixture's base models so that only the fine-tuning runs again."""
    distributed = pytest.importorskip("distributed")
    cfg, micro_out, _ = micro_run
    out = tmp_path / "dask"
    _copy_base_models(micro_out, out)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        run_sweep(cfg, out, scheduler=cluster.scheduler_address, quiet=True)
        workers = client.run(lambda: os.getpid())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"].startswith("dask tcp://")
    assert sorted(manifest["finished_sizes"]) == sorted(cfg.sizes)
    trained = [ph for s in manifest["per_size"] for ph in s["phases"]
               if ph["status"] == "trained" and ph["phase"].startswith(("sft", "opsd"))]
    assert len(trained) == 2 * 2 * 2  # sizes × seeds × methods, really run on the workers
    assert len(workers) == 2
    a = pd.read_csv(out / "gains_all.csv").drop(columns=["sft_seconds", "opsd_seconds"])
    b = pd.read_csv(micro_out / "gains_all.csv").drop(columns=["sft_seconds", "opsd_seconds"])
    pd.testing.assert_frame_equal(a, b)


def test_two_base_models_per_size(micro_run, tmp_path):
    """``base_seeds=2`` on one size, starting from the fixture's base model: the second base is
    pretrained, every base × seed is fine-tuned (side by side), and the table's SE counts the
    spread between base models; the first base is the one-base run's base."""
    cfg, micro_out, _ = micro_run
    size = cfg.sizes[0]
    two = replace(cfg, sizes=(size,), base_seeds=2)
    out = tmp_path / "two"
    _copy_base_models(micro_out, out)
    run_sweep(two, out, quiet=True)
    manifest = json.loads((out / "manifest.json").read_text())
    status = {ph["phase"]: ph["status"] for ph in manifest["per_size"][0]["phases"]}
    assert status["pretrain b0"] == "loaded" and status["pretrain b1"] == "trained"
    assert len([p for p in status if p.startswith("opsd")]) == 2 * 2  # bases × seeds
    assert len(set(manifest["seeds"]["bases"][size])) == 2
    accuracy = manifest["per_size"][0]["base_accuracy"]["r0 id student"]
    rows = pd.read_csv(out / "gains_all.csv")
    assert (rows["n_bases"] == 2).all() and (rows["n_seeds"] == 2).all()
    row = rows[(rows["comparison"] == "opsd-base") & (rows["benchmark"] == "id")].iloc[0]
    assert row["acc_base"] == pytest.approx(np.mean(accuracy), abs=1e-3)
    assert row["se"] >= row["se_bases"] - 1e-9 and row["se_bases"] > 0
    one = pd.read_csv(micro_out / "gains_all.csv")
    one = one[(one["size_name"] == size) & (one["comparison"] == "opsd-base")
              & (one["benchmark"] == "id")].iloc[0]
    assert accuracy[0] == pytest.approx(one["acc_base"], abs=1e-3)  # the one-base run's base


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ScalefitError, match="no CUDA device"):
            resolve_device("cuda")


def test_cli_rejects_bad_options():
    res = _cli("--sizes", "7k")
    assert res.returncode == 2 and "unknown size '7k'" in res.stderr
    res = _cli("--richness", "1.5")
    assert res.returncode == 2 and "[0, 1]" in res.stderr


def test_latent_tiny_preset_opsd_has_something_to_do(tmp_path):
    """The ``latent`` design at CI size (about a minute): the base student answers in the short
    form it mostly saw in pretraining, the teacher works step by step and is far better, OPSD
    pulls the student toward the teacher's format, and the divergence diagnostics are shares.
    The preset's larger size only (the smaller one asserts nothing more)."""
    cfg = PRESETS["latent-tiny"]
    run_sweep(replace(cfg, sizes=cfg.sizes[-1:]), tmp_path, quiet=True)
    rows = pd.read_csv(tmp_path / "gains_all.csv")
    assert list(rows.columns) == TABLE_COLUMNS + ["comparison"]
    rows = rows[(rows["comparison"] == "opsd-base") & (rows["benchmark"] == "id")]
    big = rows.loc[rows["param_count"].idxmax()]
    full = len("23+45=68;68+67=135#135")
    assert big["len_base"] < 0.6 * full  # the running sums, not the working
    assert big["acc_teacher"] > big["acc_base"] + 30 and bool(big["distillable"])
    assert big["len_opsd"] > big["len_base"] + 4  # OPSD elicits the teacher's working
    for col in ("div_at_base", "div_after_base", "opsd_loss_at", "opsd_loss_after",
                "opsd_first_disagreement"):
        assert ((rows[col] >= 0) & (rows[col] <= 1)).all(), col
    assert (rows["div_at_base"] + rows["div_after_base"] <= 1 + 1e-9).all()
    assert (rows["opsd_loss_after"] > 0.5).all()  # most of the loss is past the first error


@pytest.mark.slow
def test_smoke_preset_writes_a_table_scalefit_fit_accepts(tmp_path, capsys):
    """The full version of the tiny sweep (a few minutes on 2 cores, ``pytest -m slow``):
    ``scalefit run --preset smoke``, then ``scalefit fit`` on what it wrote."""
    from scalefit.cli import main

    out = tmp_path / "smoke"
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    frame = pd.read_csv(out / "gains_all.csv")
    assert set(frame["size_name"]) == set(PRESETS["smoke"].sizes)
    assert (frame["n_problems"] == 200).all() and (frame["n_seeds"] == 2).all()
    assert main(["fit", str(out / "gains_all.csv"), "--benchmark", "id", "--by", "comparison",
                 "--json", str(tmp_path / "fit.json")]) == 0
    fits = json.loads((tmp_path / "fit.json").read_text())
    assert fits, "scalefit fit wrote nothing for the smoke table"


@pytest.mark.slow
def test_study_design_gives_opsd_a_learnable_job(tmp_path):
    """The ``study`` preset at two of its sizes (about 20 minutes on one core, ``pytest -m
    slow``): the base students write the sloppy writer's dropped carries (20-80% right), the
    teacher is the careful mode (≥ 15 pp better), OPSD keeps the student's format and beats the
    base model by more than 2 SE at 300k, and SFT on the running sums loses the working."""
    cfg = replace(PRESETS["study"], sizes=("60k", "300k"))
    run_sweep(cfg, tmp_path, quiet=True)
    rows = pd.read_csv(tmp_path / "gains_all.csv")
    rows = rows[(rows["comparison"] == "opsd-base") & (rows["benchmark"] == "id")]
    assert (rows["n_bases"] == 2).all()
    assert rows["acc_base"].between(20, 80).all() and (rows["teacher_advantage"] >= 15).all()
    big = rows[(rows["size_name"] == "300k") & (rows["richness"] == 0.0)].iloc[0]
    assert big["gain"] > 2 * big["se"]
    assert abs(big["len_opsd"] - big["len_base"]) < 1 and big["len_sft"] < big["len_base"] - 3
