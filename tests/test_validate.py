"""Synthetic validation (seed 000, section 2.3): coverage, reproducibility, method agreement."""

import json

import numpy as np
import pytest

from scalefit.cli import main
from scalefit.data import GainTable, load_gain_table
from scalefit.executor import InlineExecutor, chunk_ranges, make_executor, replicate_rng, run_jobs
from scalefit.io import _jsonable
from scalefit.methods import METHODS
from scalefit.studies.scoring import TWO_SIGMA
from scalefit.studies.validate import Regime, calibrate_regimes, validate


@pytest.fixture(scope="module")
def paper():
    from tests.conftest import DATA

    return load_gain_table(DATA / "opsd_scaling_paper.csv")


def test_coverage_is_nominal_when_the_fitted_law_is_the_truth(paper):
    """The log law fitted to log-law data: its ±2σ delta-method interval is exact (the law is
    linear and σ known), so coverage must be 0.9545 within binomial error at every size."""
    n = 600
    r = validate(paper, regimes=["logarithmic"], methods=["logarithmic"], n_replicates=n,
                 seed=11, quiet=True, chunk=200)
    cov = r.coverage(per_size=True)[0, 0]
    tol = 3.5 * np.sqrt(TWO_SIGMA * (1 - TWO_SIGMA) / n)
    assert np.all(np.abs(cov - TWO_SIGMA) < tol), cov
    # Unbiased: the mean prediction error is within 4 Monte Carlo SEs of zero.
    err = r.mean[0, :, 0] - r.truth[0]
    assert np.all(np.abs(err.mean(axis=0)) < 4 * err.std(axis=0) / np.sqrt(n))


def test_truths_are_each_law_fitted_to_the_table(paper):
    regimes = calibrate_regimes(paper)
    assert list(regimes) == ["power", "logarithmic", "saturating", "sigmoid"]
    assert regimes["power"].value([70.0])[0] == pytest.approx(32.9, abs=0.05)
    assert regimes["saturating"].value([70.0])[0] == pytest.approx(9.11, abs=0.01)


def test_results_do_not_depend_on_chunks_or_workers(paper):
    kw = dict(regimes=["power", "saturating"], methods=["power", "average", "bootstrap"],
              n_replicates=12, n_boot=20, seed=5, quiet=True)
    a = validate(paper, chunk=12, **kw)
    b = validate(paper, chunk=5, executor=InlineExecutor(), **kw)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-9)
    np.testing.assert_allclose(a.lo, b.lo, rtol=1e-9)
    with make_executor(2) as pool:
        c = validate(paper, chunk=4, executor=pool, **kw)
    np.testing.assert_allclose(a.mean, c.mean, rtol=1e-9)
    np.testing.assert_allclose(a.hi, c.hi, rtol=1e-9)
    d = validate(paper, chunk=12, **{**kw, "seed": 6})
    assert not np.allclose(a.mean, d.mean)


def test_vectorised_methods_equal_the_registry_methods(paper):
    """The batched laws and model average give what the per-table registry methods give on the
    same simulated tables."""
    def slow_average(table, sizes):
        return METHODS["average"](table, sizes)

    def slow_power(table, sizes):
        return METHODS["power"](table, sizes)

    r = validate(paper, regimes=["sigmoid"], methods=["average", slow_average, "power",
                                                      slow_power],
                 n_replicates=8, seed=2, quiet=True)
    np.testing.assert_allclose(r.mean[:, :, 0], r.mean[:, :, 1], rtol=1e-5)
    np.testing.assert_allclose(r.hi[:, :, 0], r.hi[:, :, 1], rtol=1e-4)
    np.testing.assert_allclose(r.mean[:, :, 2], r.mean[:, :, 3], rtol=1e-5)
    np.testing.assert_allclose(r.lo[:, :, 2], r.lo[:, :, 3], rtol=1e-4)


def test_result_tables_and_json(paper):
    r = validate(paper, n_replicates=6, n_boot=20, seed=0, quiet=True)
    assert r.mean.shape == (4, 6, 7, 3)
    h = r.heatmap("mape")
    assert list(h.index) == ["power", "logarithmic", "saturating", "sigmoid"]
    assert list(h.columns) == ["power", "logarithmic", "saturating", "sigmoid", "sqrt_log",
                               "average", "bootstrap"]
    assert ((r.heatmap("coverage", 70) >= 0) & (r.heatmap("coverage", 70) <= 1)).all().all()
    frame = r.to_frame()
    assert len(frame) == 4 * 7 * 4  # (3 sizes + "all") per regime and method
    d = json.loads(json.dumps(_jsonable(r.to_dict())))
    assert set(d["mape"]["power"]["average"]) == {"14", "32", "70", "all"}
    assert (r.lo <= r.hi).all()


def test_custom_regime_and_truth_far_from_the_fit():
    """A regime need not be a fit to the table: a saturating truth that is flat beyond the data
    makes the power law overshoot."""
    x = np.array([0.5, 1, 2, 4, 8.0])
    table = GainTable(x, x, np.full(5, 0.3))
    flat = Regime("flat", "saturating", np.array([8.0, 1.5]))
    r = validate(table, regimes={"flat": flat}, methods=["power", "saturating"], n_replicates=20,
                 seed=1, quiet=True)
    mape = r.heatmap("mape").loc["flat"]
    assert mape["saturating"] < 5 < 50 < mape["power"]


def test_executor_helpers():
    assert chunk_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    a = replicate_rng(3, 7, 2).standard_normal(4)
    np.testing.assert_array_equal(a, replicate_rng(3, 7, 2).standard_normal(4))
    assert not np.allclose(a, replicate_rng(3, 7, 3).standard_normal(4))
    assert run_jobs(pow, [(2, 3), (3, 2)], executor=InlineExecutor(), quiet=True) == [8, 9]
    assert isinstance(make_executor(1), InlineExecutor)


def test_cli_validate(paper_csv, tmp_path, capsys):
    out, csv = tmp_path / "v.json", tmp_path / "v.csv"
    assert main(["validate", str(paper_csv), "--replicates", "4", "--bootstrap", "10",
                 "--workers", "1", "--json", str(out), "--csv", str(csv), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "MAPE (%)" in text and "coverage of the 95.45% interval" in text
    data = json.loads(out.read_text())
    assert data["replicates"] == 4 and "sigmoid" in data["coverage"]
    assert csv.read_text().startswith("regime,method,size")


def test_figure_4_from_the_result(paper):
    from scalefit.report.figures_analyses import figure_validation

    r = validate(paper, methods=["power", "average"], n_replicates=5, seed=0, quiet=True)
    fig = figure_validation(r)
    mape_ax, cov_ax = fig.axes[0], fig.axes[1]
    np.testing.assert_allclose(mape_ax.images[0].get_array(), r.heatmap("mape").to_numpy())
    np.testing.assert_allclose(cov_ax.images[0].get_array(), r.heatmap("coverage").to_numpy())
