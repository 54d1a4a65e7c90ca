"""The calibration backtest: scoring by hand on a toy case, and the claim on real data."""

import numpy as np
import pandas as pd
import pytest

from scalefit.data import GainTable
from scalefit.studies.curves import holdout_curve, obsscaling_curves
from scalefit.studies.scoring import coverage_curve, score_curves, summarise
from tests.conftest import EXTERNAL


def test_summary_by_hand():
    rows = pd.DataFrame({
        "curve": ["a", "a", "b"], "group": "", "method": "m", "size": [2.0, 4.0, 2.0],
        "truth": [10.0, 10.0, 20.0], "mean": [9.0, 15.0, 20.0], "scale": [1.0, 1.0, 1.0],
        "df": [np.inf] * 3, "lo68": [8.0, 14.0, 19.0], "hi68": [10.5, 16.0, 21.0],
        "lo95": [7.0, 13.0, 18.0], "hi95": [11.0, 17.0, 22.0], "failed": ""})
    s = summarise(rows).iloc[0]
    assert s["coverage95"] == pytest.approx(2 / 3) and s["coverage68"] == pytest.approx(2 / 3)
    assert s["coverage95_per_curve"] == pytest.approx((0.5 + 1.0) / 2)
    assert s["median_ape"] == pytest.approx(10.0) and s["mape"] == pytest.approx((10 + 50 + 0) / 3)
    cov = coverage_curve(rows, levels=(0.95,))
    assert cov.loc["m", 0.95] == pytest.approx(2 / 3)  # |z| = 1, 5, 0


def test_backtest_recovers_a_known_law():
    """A curve that follows the power law exactly is predicted with ~0 error by the paper recipe."""
    x = np.array([0.5, 1, 2, 4, 8, 16, 32.0])
    y = 2.0 * x**0.6
    curve = holdout_curve(GainTable(x, y, np.full(7, 0.05)), 2)
    s = summarise(score_curves([curve], ["paper"], quiet=True)).iloc[0]
    assert s["points"] == 2 and s["median_ape"] < 2.0


@pytest.mark.skipif(not (EXTERNAL / "obsscaling_base_llm_benchmark_eval.csv").exists(),
                    reason="public ObsScaling data not found at ../shared/data/external")
def test_lfo_aicc_is_calibrated_on_obsscaling():
    """lfo_aicc covers >= 0.90 of the 45 held-out points with nominal 95%
    intervals, with median APE no worse than the paper's recipe (AIC, eq. 9, normal)."""
    curves = obsscaling_curves(EXTERNAL / "obsscaling_base_llm_benchmark_eval.csv")
    assert len(curves) == 24 and sum(len(c.test_size) for c in curves) == 45
    table = summarise(score_curves(curves, ["paper", "lfo_aicc"], quiet=True)).set_index("method")
    assert table.loc["lfo_aicc", "coverage95"] >= 0.90
    assert table.loc["paper", "coverage95"] < 0.7  # the paper's recipe under-covers
    assert table.loc["lfo_aicc", "median_ape"] <= table.loc["paper", "median_ape"]
