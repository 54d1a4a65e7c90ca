"""The gain decomposition (seed 000, eq. 10-13): components, fit, and non-identifiability."""

import json

import numpy as np
import pytest
from scipy.optimize import nnls

from scalefit.cli import main
from scalefit.data import GainTable, load_gain_table
from scalefit.io import _jsonable
from scalefit.studies.decompose import (COMPONENTS, PAPER_TABLE2, nnls_small, bounds, components,
                                        fit_decomposition, jacobian, paper_check, sample_posterior,
                                        shares, value)


@pytest.fixture(scope="module")
def paper():
    from tests.conftest import DATA

    return load_gain_table(DATA / "opsd_scaling_paper.csv")


@pytest.fixture(scope="module")
def paper_fit(paper):
    return fit_decomposition(paper, posterior=False)


def _random_theta(rng, x, m):
    lo, hi = bounds(x)
    return np.column_stack([rng.uniform(0, 3, m), rng.uniform(0, 1, m), rng.uniform(0, 5, m),
                            np.exp(rng.uniform(np.log(lo[3]), np.log(hi[3]), m)),
                            rng.uniform(0, 4, m),
                            np.exp(rng.uniform(np.log(lo[5]), np.log(hi[5]), m))])


def test_components_sum_to_the_total_and_match_eq_11_to_13():
    rng = np.random.default_rng(1)
    x = np.array([0.5, 1, 2, 8, 70, 405.0])
    theta = _random_theta(rng, x, 50)
    comp = components(theta, x)
    assert comp.shape == (50, 3, 6)
    np.testing.assert_allclose(comp.sum(axis=1), value(theta, x), rtol=1e-14)
    a, b, g, nc, d, e = theta[7]
    np.testing.assert_allclose(comp[7, 0], a * x**b, rtol=1e-13)
    np.testing.assert_allclose(comp[7, 1], g * (1 - np.exp(-x / nc)), rtol=1e-9)
    np.testing.assert_allclose(comp[7, 2], d * np.log(1 + e * x), rtol=1e-9)
    sh = shares(theta, 70.0)
    np.testing.assert_allclose(sh.sum(axis=1), 1.0, rtol=1e-12)


def test_jacobian_matches_finite_differences():
    x = np.array([0.5, 1, 2, 4, 8.0])
    theta = np.array([0.3, 0.8, 2.0, 3.0, 1.5, 0.7])
    J = jacobian(theta, x)
    h = 1e-6 * np.maximum(np.abs(theta), 1e-3)
    fd = np.column_stack([(value(theta + h[i] * np.eye(6)[i], x) - value(theta - h[i] * np.eye(6)[i], x))
                          / (2 * h[i]) for i in range(6)])
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-9)


def test_small_nnls_equals_scipy_nnls():
    rng = np.random.default_rng(2)
    B = rng.normal(size=(200, 3, 6))
    y = rng.normal(size=6)
    w = rng.uniform(0.5, 2.0, 6)
    a, chi2 = nnls_small(B, y, w)
    for p in range(200):
        ref, rnorm = nnls((B[p] * np.sqrt(w)).T, y * np.sqrt(w))
        assert chi2[p] == pytest.approx(rnorm**2, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(a[p], ref, atol=1e-8)


def test_fit_sums_to_its_total_and_fits_the_data(paper, paper_fit):
    d = paper_fit
    np.testing.assert_allclose(d.components.sum(axis=0), d.total, rtol=1e-13)
    np.testing.assert_allclose(d.curve(d.sizes).sum(axis=0), d.total, rtol=1e-13)
    observed = np.isfinite(d.observed)
    assert observed.sum() == 3  # 0.5, 1 and 8 B of Table 2's sizes are measured
    assert d.chi2 < 0.01  # six parameters through five points: an essentially exact fit
    np.testing.assert_allclose(value(d.params, paper.size), paper.value, atol=0.05)
    frame = d.to_frame()
    assert list(frame["size"]) == [0.5, 1, 8, 70, 405]
    np.testing.assert_allclose(frame[list(COMPONENTS)].sum(axis=1), frame["total"], rtol=1e-13)
    json.dumps(_jsonable(d.to_dict()))


def test_non_identifiability_is_detected_on_the_paper_table(paper_fit):
    d = paper_fit
    assert not d.identifiable
    assert any("degrees of freedom" in r for r in d.reasons)
    assert d.jacobian_singular_values[-1] < 1e-8 * d.jacobian_singular_values[0]
    # The profile likelihood of the distribution-match share at 70 B is flat: any share from
    # (almost) 0 to (almost) 1 fits within Δchi² < 3.84.
    lo, hi = d.profile.interval["distribution_match"]
    assert lo <= 0.05 and hi >= 0.95
    assert d.profile.flat_fraction["distribution_match"] >= 0.9
    # ... and equally good fits (Δchi² ≤ 1) attribute the 70 B gain in opposite ways.
    alt = d.alternatives_frame()
    assert (alt["chi2"] <= d.chi2 + 1.0 + 1e-9).all()
    assert alt["share_distribution_match"].max() - alt["share_distribution_match"].min() > 0.8


def test_posterior_share_interval_is_wide_and_close_to_the_prior(paper, paper_fit):
    post = sample_posterior(paper, (8.0, 70.0), n_walkers=32, n_steps=2000, seed=3,
                            start=paper_fit.params)
    ci = post.interval()[:, 0, 1]  # distribution match at 70 B
    prior = post.interval(prior=True)[:, 0, 1]
    assert ci[1] - ci[0] > 0.6
    assert abs((ci[1] - ci[0]) - (prior[1] - prior[0])) < 0.3
    # The draws fit the data: the likelihood, not only the prior, shapes the chain.
    chi2 = np.sum(((paper.value - value(post.theta, paper.size)) / paper.se) ** 2, axis=1)
    assert np.median(chi2) < 8


def test_a_well_sampled_decomposition_is_identified():
    """The diagnostics do not call everything unidentified: 30 precise points over five decades
    pin the six parameters and the shares."""
    x = np.geomspace(0.01, 1000, 30)
    theta = np.array([0.5, 0.7, 3.0, 1.0, 1.0, 0.5])
    table = GainTable(x, value(theta, x), np.full(30, 0.01))
    d = fit_decomposition(table, share_size=70.0, posterior=False, n_starts=8)
    np.testing.assert_allclose(d.params, theta, rtol=1e-4)
    assert d.identifiable, d.reasons
    true_share = shares(theta, 70.0)[0]
    lo, hi = d.profile.interval["distribution_match"]
    assert hi - lo <= 0.1 and lo - 0.05 <= true_share <= hi + 0.05


def test_paper_check_numbers(paper):
    c = paper_check(paper)
    # Table 2's totals miss the observed 0.5 / 1 / 8 B gains (8.0 observed, 4.93 in the table).
    assert c["chi2_table2_totals"] == pytest.approx(
        (0.12 / 0.4) ** 2 + (0.5 / 0.3) ** 2 + (3.07 / 0.6) ** 2, rel=1e-9)
    # The stated β, N_char, δ, η fit the data well once α and γ are chosen ...
    assert c["chi2_stated_params_best_alpha_gamma"] < 0.01
    # ... but their regularisation term is not Table 2's column (6.26 vs 3.39 pp at 8 B).
    assert c["implied"]["regularization_stated"][2] == pytest.approx(3.08 * np.log(1 + 0.83 * 8))
    assert PAPER_TABLE2["regularization"][2] == 3.39
    assert c["column_fit_regularization"]["delta"] < 1.5


def test_cli_decompose(paper_csv, tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["decompose", str(paper_csv), "--no-mcmc", "--no-profile", "--paper-check",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "NOT IDENTIFIED" in text and "Table 2 totals vs observed" in text
    data = json.loads(out.read_text())
    assert data["identifiable"] is False and set(data["components"]) == {"0.5", "1", "8", "70",
                                                                          "405"}
    assert "paper_check" in data


def test_figure_3_from_the_result(paper_fit):
    from scalefit.report.figures_analyses import figure_decomposition

    fig = figure_decomposition(paper_fit)
    a, b = fig.axes[:2]
    # (a) stacks the three components of the best fit; (b) marks its shares at each size.
    assert len(a.collections) >= 3
    shares_plotted = np.concatenate([line.get_ydata() for line in b.lines])
    np.testing.assert_allclose(np.sort(shares_plotted), np.sort(paper_fit.shares.ravel()))
