"""`scalefit loop`: the budget, the choice rule, and three real rounds of the runner."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from scalefit.cli.loop import budget
from scalefit.data import GainTable
from scalefit.errors import ScalefitError
from scalefit.runner.config import PRESETS, compute_cost
from scalefit.loop import LoopSettings, choose_next, default_candidates, load_state, n_params

TINY = PRESETS["tiny"]


@pytest.mark.parametrize("text,expected", [("3", (3, None)), ("45m", (None, 2700.0)),
                                           ("2h", (None, 7200.0)), ("90s", (None, 90.0))])
def test_budget_parses_rounds_or_wall_time(text, expected):
    assert budget(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "3x", "m", ""])
def test_budget_refuses_nonsense(text):
    with pytest.raises(argparse.ArgumentTypeError):
        budget(text)


def test_too_few_points_runs_the_cheapest_candidate():
    settings = LoopSettings(candidates=("150k", "60k", "100k"), target="1m")
    one = GainTable([0.03], [1.0], [0.5], size_unit="M")
    choice = choose_next(one, TINY, ["150k", "60k", "100k"], 1.0, settings)
    costs = {s: compute_cost(TINY, s) for s in ("150k", "60k", "100k")}
    assert choice["size"] == min(costs, key=costs.get) == "60k"
    assert "too few" in choice["reason"] and choice["ranking"] == []


def test_choice_prefers_measuring_near_the_target():
    """Known answer: with equal noise, a point measured at the target itself pins the target down
    far better than one inside the data, and it is chosen even at a higher compute cost as long as
    the cost ratio is smaller than the variance ratio."""
    x = np.array([0.01, 0.02, 0.04, 0.08, 0.16])
    table = GainTable(x, 2.0 * (x / 0.01) ** 0.5, np.full(5, 0.3), size_unit="M")
    settings = LoopSettings(candidates=("30k", "1m"), target="1m", n_sims=100)
    choice = choose_next(table, TINY, ["30k", "1m"], n_params(TINY, "1m") / 1e6, settings)
    by_size = {r["size"]: r for r in choice["ranking"]}
    assert by_size["1m"]["reduction_fraction"] > 0.5 > by_size["30k"]["reduction_fraction"]
    per_cost = {s: r["reduction_per_pflop"] for s, r in by_size.items()}
    assert choice["size"] == max(per_cost, key=per_cost.get)
    assert [r["size"] for r in choice["ranking"]][0] == choice["size"]


def test_default_candidates_are_new_family_sizes():
    cands = default_candidates(PRESETS["smoke"])
    assert cands == ("150k", "200k", "300k")


def test_state_from_other_settings_is_refused(tmp_path):
    settings = LoopSettings(candidates=("60k",), target="1m")
    state = load_state(tmp_path, TINY, settings, ("L2H2D32",))
    (tmp_path / "loop.json").write_text(json.dumps(state))
    assert load_state(tmp_path, TINY, settings, ("L2H2D32",))["rounds"] == []
    with pytest.raises(ScalefitError, match="other settings.*target"):
        load_state(tmp_path, TINY, LoopSettings(candidates=("60k",), target="3m"), ("L2H2D32",))
    (tmp_path / "loop.json").write_text("{not json")
    with pytest.raises(ScalefitError, match="not a scalefit loop state"):
        load_state(tmp_path, TINY, settings, ("L2H2D32",))


def test_three_real_rounds_each_append_a_measured_row(tmp_path, capsys):
    """The closed loop: the smoke preset's sweep, then three rounds of the real runner, each choosing a
    size, training it and appending its measured rows; then a rerun with the same budget does
    nothing, and an interrupted round resumes without a new one. The candidates are smaller than
    the smoke preset's default ones to keep CI short; the test below runs the defaults."""
    pytest.importorskip("torch")
    from scalefit.loop import run_loop

    smoke = PRESETS["smoke"]
    out = tmp_path / "loop"
    candidates = ("10k", "L1H2D24", "L2H2D24")
    settings = LoopSettings(candidates=candidates, target="1m", n_sims=50)
    state = run_loop(smoke, out, settings, budget_runs=3, workers=2, quiet=True)
    rounds = state["rounds"]
    assert [r["status"] for r in rounds] == ["done"] * 3
    assert sorted(r["size"] for r in rounds) == sorted(candidates)
    frame = pd.read_csv(out / "gains_all.csv")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["finished_sizes"] == [*smoke.sizes, *[r["size"] for r in rounds]]
    for r in rounds:
        rows = frame[frame["size_name"] == r["size"]]
        assert len(rows) == 4  # id and ood, OPSD − SFT and OPSD − base
        sft = rows[rows["comparison"] == "opsd-sft"]
        np.testing.assert_allclose(sft["gain"], sft["acc_opsd"] - sft["acc_sft"], atol=1e-3)
        assert (rows["n_problems"] == smoke.train.eval_problems).all()
        assert (rows["opsd_tokens_generated"] > 0).all() and r["seconds"] > 0
        assert len(r["rows"]) == 4
    text = capsys.readouterr().out
    assert text.count("choice:") == 3 and "budget spent" in text

    again = run_loop(smoke, out, settings, budget_runs=3, quiet=True)
    assert len(again["rounds"]) == 3

    # an interrupted round: recorded as running, its size trained (checkpoints) but not marked
    state = json.loads((out / "loop.json").read_text())
    state["rounds"][-1]["status"] = "running"
    (out / "loop.json").write_text(json.dumps(state))
    resumed = run_loop(smoke, out, settings, budget_runs=3, quiet=True)
    assert len(resumed["rounds"]) == 3 and resumed["rounds"][-1]["status"] == "done"
    assert "resuming round 3" in capsys.readouterr().out


@pytest.mark.slow
def test_three_rounds_from_the_smoke_preset(tmp_path, capsys):
    """The full version of the test above (about 8 minutes on 2 cores, ``pytest -m slow``):
    ``scalefit loop --preset smoke --budget 3`` runs the smoke sweep, then three rounds that
    each choose one of the default candidates and append its measured rows."""
    pytest.importorskip("torch")
    from scalefit.cli import main

    out = tmp_path / "loop-smoke"
    assert main(["loop", "--preset", "smoke", "--out", str(out), "--budget", "3",
                 "--workers", "2", "--quiet"]) == 0
    state = json.loads((out / "loop.json").read_text())
    rounds = state["rounds"]
    assert [r["status"] for r in rounds] == ["done"] * 3
    assert sorted(r["size"] for r in rounds) == sorted(default_candidates(PRESETS["smoke"]))
    frame = pd.read_csv(out / "gains_all.csv")
    assert set(frame["size_name"]) == {*PRESETS["smoke"].sizes, *(r["size"] for r in rounds)}
    for r in rounds:
        rows = frame[(frame["size_name"] == r["size"]) & (frame["comparison"] == "opsd-sft")]
        assert len(rows) == 2 and (rows["n_problems"] == 200).all()
        np.testing.assert_allclose(rows["gain"], rows["acc_opsd"] - rows["acc_sft"], atol=1e-3)
    assert capsys.readouterr().out.count("choice:") == 3
