"""MCMC posteriors: the logarithmic law (linear, so its posterior under a wide flat prior is the
Gaussian N(θ̂_WLS, (JᵀJ)⁻¹)) against weighted least squares and the delta method; seeds; the
convergence report; the mixture; saving; the CLI's JSON keys. Runs are short to stay fast."""

import json

import numpy as np
import pytest

from scalefit.cli import main
from scalefit.core.average import fit_laws
from scalefit.core.fit import fit_law
from scalefit.data import load_gain_table
from scalefit.methods.mcmc import _weighted_quantiles, mcmc, sample_law

SIZES = np.array([14.0, 70.0, 405.0])


@pytest.fixture(scope="module")
def paper():
    from tests.conftest import DATA

    return load_gain_table(DATA / "opsd_scaling_paper.csv")


@pytest.fixture(scope="module")
def log_posterior(paper):
    return sample_law("logarithmic", paper, n_walkers=32, n_steps=1500, seed=0, quiet=True)


def test_log_law_posterior_mean_is_the_wls_estimate(paper, log_posterior):
    """Posterior mean = WLS estimate within 4 Monte Carlo SEs (posterior SD / sqrt(bulk ESS));
    posterior SDs = the WLS standard errors within 10% (an SD from ESS ≥ 1000 draws is good to
    about ±2-3%)."""
    post = log_posterior
    assert post.converged, post.problems()
    wls = fit_law("logarithmic", paper.size, paper.value, paper.se)
    draws = post.draws
    diag = post.diagnostics()
    for j, p in enumerate(post.params):
        mc_se = draws[:, j].std() / np.sqrt(diag[p]["ess_bulk"])
        assert abs(draws[:, j].mean() - wls.params[j]) < 4 * mc_se
    np.testing.assert_allclose(draws.std(axis=0), wls.param_se, rtol=0.1)
    np.testing.assert_allclose(np.cov(draws.T), wls.cov, rtol=0.2, atol=0.005)


def test_log_law_posterior_predictive_matches_the_delta_method(paper, log_posterior):
    """The posterior of a·ln N + c at each size is normal with the delta-method SD; its central
    95% interval is mean ± 1.96 SD (tolerance 0.15 SD: quantiles from a few thousand effective
    draws)."""
    wls = fit_law("logarithmic", paper.size, paper.value, paper.se)
    mean, sd = wls.predict(SIZES), wls.predict_sd(SIZES)
    pred = log_posterior.predict(SIZES)
    np.testing.assert_allclose(pred.std(axis=0), sd, rtol=0.1)
    lo, hi = np.quantile(pred, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(lo, mean - 1.96 * sd, atol=0.15 * sd.max())
    np.testing.assert_allclose(hi, mean + 1.96 * sd, atol=0.15 * sd.max())


def test_bootstrap_and_mcmc_agree_for_the_log_law(paper, log_posterior):
    from scalefit.methods.bootstrap import bootstrap

    boot = bootstrap(paper, SIZES, 2000, seed=9, laws=["logarithmic"], quiet=True)
    b_sd = np.array([s["sd"] for s in boot.law_summary("logarithmic")])
    np.testing.assert_allclose(log_posterior.predict(SIZES).std(axis=0), b_sd, rtol=0.12)


def test_seeds_reproduce(paper):
    kw = dict(n_walkers=8, n_steps=200, max_steps=200, quiet=True)
    a = sample_law("power", paper, seed=4, **kw)
    b = sample_law("power", paper, seed=4, **kw)
    c = sample_law("power", paper, seed=5, **kw)
    np.testing.assert_array_equal(a.chain, b.chain)
    assert not np.array_equal(a.chain, c.chain)


def test_non_convergence_names_law_parameter_and_fix(paper):
    """60 steps of 8 walkers cannot reach R-hat ≤ 1.01 and ESS ≥ 400: the report names the law,
    the parameter and a longer run."""
    post = sample_law("saturating", paper, n_walkers=8, n_steps=60, max_steps=60, seed=1,
                      quiet=True)
    assert not post.converged
    problems = post.problems()
    assert any("law saturating" in p and "parameter a" in p for p in problems)
    assert all("steps per walker" in p for p in problems)


def test_prior_is_the_laws_bounds_where_finite(paper, log_posterior):
    post = sample_law("sigmoid", paper, n_walkers=12, n_steps=100, max_steps=100, quiet=True)
    assert post.prior_low[1] == -10.0 and post.prior_high[1] == 10.0  # the registry's b bounds
    assert np.all((post.draws >= post.prior_low) & (post.draws <= post.prior_high))
    # unbounded parameters: a proper box at least 20 SE either side of the estimate
    wls = fit_law("logarithmic", paper.size, paper.value, paper.se)
    assert np.all(log_posterior.prior_high - wls.params >= 20 * wls.param_se)
    assert np.all(wls.params - log_posterior.prior_low >= 20 * wls.param_se)


def test_mixture_quantiles():
    """Mixture of N(0,1) and N(10,1) with weights 0.5/0.5: the median lies between the modes and
    the 25% quantile is the 50% quantile of the first component."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(40000), 10 + rng.standard_normal(10000)
    q25, q50 = _weighted_quantiles([a, b], [0.5, 0.5], [0.25, 0.5])
    assert abs(q25 - 0.0) < 0.05 and 1.5 < q50 < 8.5
    (q,) = _weighted_quantiles([a, b], [1.0, 0.0], [0.975])
    assert abs(q - 1.96) < 0.06


def test_average_is_the_weighted_mixture_and_save(paper, tmp_path):
    fit = fit_laws(paper)
    res = mcmc(paper, [70.0], laws=["power", "logarithmic"], fit=fit, n_walkers=8,
               n_steps=300, max_steps=300, seed=2, quiet=True)
    w = np.array([fit.weights["power"], fit.weights["logarithmic"]])
    w = w / w.sum()
    assert np.allclose([res.weights["power"], res.weights["logarithmic"]], w)
    laws = [res.law_predictions(n)[0] for n in ("power", "logarithmic")]
    avg = res.average_predictions()[0]
    assert np.isclose(avg["mean"], w[0] * laws[0]["mean"] + w[1] * laws[1]["mean"])
    assert min(s["ci95"][0] for s in laws) <= avg["ci95"][0] <= avg["ci95"][1] <= \
        max(s["ci95"][1] for s in laws)
    stack = mcmc(paper, [70.0], laws=["power", "logarithmic"], fit=fit, weights="stacking",
                 n_walkers=8, n_steps=300, max_steps=300, seed=2, quiet=True)
    assert np.isclose(sum(stack.weights.values()), 1.0)
    assert all(n in stack.loo for n in ("power", "logarithmic"))

    written = res.save(tmp_path)
    assert {p.name for p in written} == {"mcmc_power.nc", "mcmc_logarithmic.nc",
                                         "mcmc_summary.csv", "mcmc_predictions.csv", "mcmc.json"}
    import arviz as az

    idata = az.from_netcdf(tmp_path / "mcmc_power.nc")
    assert set(idata.posterior.data_vars) == {"a", "b"}
    assert idata.posterior.sizes["chain"] == 8 and "log_likelihood" in idata.groups()
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_cli_mcmc_json_keys(paper_csv, tmp_path, capsys):
    out = tmp_path / "fit.json"
    assert main(["fit", str(paper_csv), "--at", "70", "--laws", "power,logarithmic", "--mcmc",
                 "--mcmc-steps", "200", "--mcmc-max-steps", "200", "--mcmc-walkers", "8",
                 "--json", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "MCMC posteriors" in text and "R-hat" in text
    result = json.loads(out.read_text())["mcmc"]
    assert set(result["laws"]) == {"power", "logarithmic"}
    for entry in result["laws"].values():
        assert {"rhat_max", "ess_bulk_min", "ess_tail_min", "predictions"} <= set(entry)
        assert {"mean", "ci95"} <= set(entry["predictions"]["70"])
    assert {"mean", "ci95"} <= set(result["average"]["70"])
