"""The `scalefit` command as a user runs it: exit codes, one-line errors, JSON, atomic output."""

import json
import subprocess
import sys

import pytest

from scalefit.cli import main
from scalefit.io import atomic_write_json


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
