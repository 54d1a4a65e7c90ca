"""The `scalefit` command as a user runs it: exit codes, one-line errors, JSON, atomic output."""

import json
import subprocess
import sys

import pytest

from scalefit.cli import main
from scalefit.io import atomic_write_json
from tests.conftest import EXTERNAL


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "scalefit.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("text,fragment", [
    ("size_b,gain\n1,2\n", "missing the standard error column"),
    ("size_b,gain,se\n1,2,0.1\n2,abc,0.1\n", "column 'gain'"),
    ("size_b,gain,se\n1,2,0.1\n", "too few for any law"),
])
def test_bad_input_one_line_exit_2_no_traceback(write_csv, text, fragment):
    proc = run_cli("fit", write_csv(text))
    assert proc.returncode == 2
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


@pytest.mark.parametrize("args", [["--at", "1,x"], ["--at", "-3"], ["--criterion", "dic"]])
def test_bad_options_exit_2(paper_csv, args):
    proc = run_cli("fit", paper_csv, *args)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_help_explains(capsys):
    with pytest.raises(SystemExit) as code:
        main(["fit", "--help"])
    assert code.value.code == 0
    text = capsys.readouterr().out
    for needle in ("--at", "--criterion", "--json", "--per-benchmark", "--by", "examples:", "eq. 7"):
        assert needle in text


def test_per_benchmark_and_mean(qwen_csv, tmp_path, capsys):
    out = tmp_path / "per.json"
    assert main(["fit", str(qwen_csv), "--per-benchmark", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["groups"]) == {"AIME24", "AIME25", "HMMT25", "AMO-Bench"}
    for payload in result["groups"].values():
        assert set(payload["laws"]) == {"power", "logarithmic", "saturating", "sigmoid", "sqrt_log"}
        assert payload["n_points"] == 3
    out2 = tmp_path / "mean.json"
    assert main(["fit", str(qwen_csv), "--benchmark", "mean", "--at", "70", "--json", str(out2)]) == 0
    mean = json.loads(out2.read_text())
    assert mean["n_points"] == 3 and "70" in mean["average"]
    assert "mean over benchmarks" in " ".join(mean["notes"])


def test_json_failure_keeps_old_file(tmp_path):
    target = tmp_path / "result.json"
    target.write_text('{"old": true}\n')
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"old": True}
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_unwritable_json_path_is_one_line(paper_csv, tmp_path):
    proc = run_cli("fit", paper_csv, "--json", tmp_path)  # a directory, not a file
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_fit_json_adds_calibrated_interval_keeps_core(paper_csv, tmp_path):
    """`--interval` adds a 'calibrated' key (with persistence and the table's leave-future-out
    check) beside the unchanged eq. 9 result; the default is the registry's DEFAULT_METHOD."""
    from scalefit.methods import DEFAULT_METHOD

    plain, calib, lfo = tmp_path / "plain.json", tmp_path / "calib.json", tmp_path / "lfo.json"
    assert main(["fit", str(paper_csv), "--at", "70", "--interval", "none", "--json", str(plain)]) == 0
    assert main(["fit", str(paper_csv), "--at", "70", "--json", str(calib)]) == 0
    assert main(["fit", str(paper_csv), "--at", "70", "--interval", "lfo_aicc", "--json",
                 str(lfo)]) == 0
    a, b, c = (json.loads(p.read_text()) for p in (plain, calib, lfo))
    assert "calibrated" not in a and set(b) - set(a) == {"calibrated", "lfo_skill", "persistence"}
    assert a["average"] == b["average"] and a["laws"] == b["laws"]
    assert b["calibrated"]["method"] == DEFAULT_METHOD
    lo, hi = b["calibrated"]["predictions"]["70"]["ci95"]
    assert -100 <= lo < b["calibrated"]["predictions"]["70"]["median"] < hi <= 100
    assert c["calibrated"]["method"] == "lfo_aicc"
    lo, hi = c["calibrated"]["predictions"]["70"]["ci95"]
    assert lo < c["calibrated"]["predictions"]["70"]["mean"] < hi
    # wider than the paper's normal eq. 9 interval: the model-structure term only adds variance
    assert hi - lo > 2 * 1.96 * c["average"]["70"]["sd"]


def test_backtest_needs_a_table_or_curves(paper_csv):
    proc = run_cli("backtest")
    assert proc.returncode == 2 and "give a gain table" in proc.stderr
    proc = run_cli("backtest", paper_csv, "--curves", "obsscaling")
    assert proc.returncode == 2 and "not both" in proc.stderr
    proc = run_cli("backtest", "--curves", "nope")
    assert proc.returncode == 2 and "unknown curve set" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not (EXTERNAL / "obsscaling_base_llm_benchmark_eval.csv").exists(),
                    reason="public ObsScaling data not found at ../shared/data/external")
def test_backtest_curves_prints_table_and_plot(tmp_path, capsys):
    plot, out = tmp_path / "cal.png", tmp_path / "cal.json"
    assert main(["backtest", "--curves", "obsscaling", "--methods", "paper,lfo_aicc", "--quiet",
                 "--plot", str(plot), "--json", str(out)]) == 0
    assert plot.stat().st_size > 10_000
    summary = {r["method"]: r for r in json.loads(out.read_text())["obsscaling"]["summary"]}
    assert summary["paper"]["points"] == summary["lfo_aicc"]["points"] == 45
    assert summary["lfo_aicc"]["coverage95"] > summary["paper"]["coverage95"]
    assert "| lfo_aicc |" in capsys.readouterr().out


def test_atomic_write_respects_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
