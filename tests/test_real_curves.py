"""Real curves never crash: `scalefit fit`, `design` and `backtest --holdout 1` on the gain curves
of ../shared/data/external, each written as the table a user would have (size, gain, se).

The default run takes a sample of every file (its first, middle and last curves, its shortest,
and the flat BLOOM XNLI curve that once crashed the leave-future-out check); `-m slow` runs every
curve. A command may refuse a table with one clear line (exit 2); it may not raise.
"""

import numpy as np
import pandas as pd
import pytest

from scalefit.cli import main
from tests.conftest import EXTERNAL

FILES = ("cot_prompting_gain_wei2022.csv", "gemma2_gemma3_pt_vs_it.csv",
         "qwen1.5_base_vs_chat.csv", "qwen2_base_vs_instruct.csv", "bloom_vs_bloomz_xmtf.csv",
         "obsscaling_prompting_gains.csv")
FLAT = "xnli:vi:validation:MT-prompts:Median-acc."  # gains 0.24, 0, 0, 0, 0, 0


def gain_curves() -> list[tuple[str, pd.DataFrame]]:
    """(name, size/gain/se frame) for every (file, family, benchmark, gain) of the external
    gain tables; se from the arms' binomial variance at 250 items (the files mostly give none)."""
    curves = []
    for name in FILES:
        path = EXTERNAL / name
        if not path.exists():
            continue
        frame = pd.read_csv(path)
        gains = frame[frame["method"].str.startswith("gain_")]
        for key, rows in gains.groupby(["family", "benchmark", "method"], sort=True):
            rows = rows.sort_values("size_b")
            p = np.clip(rows["value"].abs().to_numpy(float) / 100.0, 0.05, 0.5)
            curves.append((f"{name}:{':'.join(map(str, key))}",
                           pd.DataFrame({"size_b": rows["size_b"].to_numpy(float),
                                         "gain": rows["value"].to_numpy(float),
                                         "se": 100 * np.sqrt(2 * p * (1 - p) / 250)})))
    return curves


CURVES = gain_curves()


def sample(curves):
    """The default run's sample: per file the first, middle, last and shortest curves, and the
    flat one."""
    picked = {}
    for name in FILES:
        mine = [c for c in curves if c[0].startswith(name)]
        if not mine:
            continue
        shortest = min(mine, key=lambda c: len(c[1]))
        for c in (mine[0], mine[len(mine) // 2], mine[-1], shortest):
            picked[c[0]] = c
    for c in curves:
        if FLAT in c[0] and c[0].endswith("gain_bloomz_minus_base"):
            picked[c[0]] = c
    return list(picked.values())


def _no_crash(tmp_path, capsys, curve):
    name, frame = curve
    path = tmp_path / "curve.csv"
    frame.to_csv(path, index=False)
    commands = [["fit", str(path), "--at", "70,176"],
                ["design", str(path), "--sims", "8", "--quiet"],
                ["backtest", str(path), "--holdout", "1", "--summary-only",
                 "--methods", "damped_trend,average"]]
    for args in commands:
        code = main(args)
        err = capsys.readouterr().err
        assert code in (0, 2), (name, args[0], code)
        assert "Traceback" not in err, (name, args[0], err)
        if code == 2:  # refused: exactly one line that says why
            assert len(err.strip().splitlines()) == 1, (name, args[0], err)


needs_data = pytest.mark.skipif(not CURVES, reason="../shared/data/external not found")


@needs_data
@pytest.mark.parametrize("curve", sample(CURVES), ids=lambda c: c[0][:60])
def test_sampled_real_gain_curves_never_crash(tmp_path, capsys, curve):
    _no_crash(tmp_path, capsys, curve)


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c[0][:60])
def test_every_real_gain_curve_never_crashes(tmp_path, capsys, curve):
    _no_crash(tmp_path, capsys, curve)


@needs_data
def test_the_flat_curve_says_persistence_was_exact(tmp_path, capsys):
    """BLOOM XNLI vi (MT prompts, median): persistence's leave-future-out error is 0; the check
    says so instead of dividing by it."""
    (name, frame), = [c for c in CURVES if FLAT in c[0] and "bloomz" in c[0]]
    path = tmp_path / "flat.csv"
    frame.to_csv(path, index=False)
    assert main(["fit", str(path), "--at", "176"]) == 0
    assert "persistence was exact at every check" in capsys.readouterr().out
