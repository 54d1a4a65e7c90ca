"""Weighted least squares against independent computations (statsmodels) and edge cases."""

import numpy as np
import pytest
import statsmodels.api as sm

from scalefit.core import fit as fit_module
from scalefit.core.average import akaike_weights, fit_laws, model_average
from scalefit.core.fit import fit_law, information_criteria
from scalefit.data import GainTable, load_gain_table


@pytest.fixture
def paper(paper_csv):
    return load_gain_table(paper_csv)


def _statsmodels_wls(design, table):
    """WLS with the SEs as absolute sigma: weights 1/se², scale fixed at 1."""
    model = sm.WLS(table.value, design, weights=1.0 / table.se**2)
    return model, model.fit(cov_type="fixed scale", cov_kwds={"scale": 1.0})


@pytest.mark.parametrize("name,design", [
    ("logarithmic", lambda n: np.column_stack([np.log(n), np.ones_like(n)])),
    ("sqrt_log", lambda n: np.column_stack([np.sqrt(np.log1p(n)), np.log1p(n), np.ones_like(n)])),
])
def test_linear_laws_equal_statsmodels_wls(paper, name, design):
    fit = fit_law(name, paper.size, paper.value, paper.se)
    model, ref = _statsmodels_wls(design(paper.size), paper)
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-10)
    np.testing.assert_allclose(fit.param_se, ref.bse, rtol=1e-8)
    np.testing.assert_allclose(fit.cov, ref.cov_params(), rtol=1e-8)
    assert np.isclose(fit.chi2, np.sum(ref.wresid**2), rtol=1e-10)
    # delta-method prediction SD is exact for a linear law: statsmodels' mean SE
    new = design(np.array([14.0, 70.0, 405.0]))
    frame = ref.get_prediction(new).summary_frame()
    np.testing.assert_allclose(fit.predict([14, 70, 405]), frame["mean"], rtol=1e-10)
    np.testing.assert_allclose(fit.predict_sd([14, 70, 405]), frame["mean_se"], rtol=1e-8)


def test_nonlinear_fit_matches_statsmodels_at_fixed_exponent(paper):
    """The power law at its optimum: a equals WLS of y on N^b with b held at the fit's value."""
    fit = fit_law("power", paper.size, paper.value, paper.se)
    b = fit.params[1]
    _, ref = _statsmodels_wls(paper.size[:, None] ** b, paper)
    np.testing.assert_allclose(fit.params[0], ref.params[0], rtol=1e-7)


def test_information_criteria_closed_form():
    crit = information_criteria(chi2=3.0, k=2, n=5)
    assert crit["aic"] == pytest.approx(3.0 + 4.0)
    assert crit["aicc"] == pytest.approx(7.0 + 2 * 2 * 3 / (5 - 2 - 1))
    assert crit["bic"] == pytest.approx(3.0 + 2 * np.log(5))
    assert np.isinf(information_criteria(1.0, 3, 4)["aicc"])  # n = k + 1: undefined


def test_akaike_weights_properties():
    scores = np.array([4.55, 9.27, 4.73, 6.02, 6.06])
    w = akaike_weights(scores)
    assert np.isclose(w.sum(), 1.0) and np.all(w > 0)
    np.testing.assert_allclose(akaike_weights(scores + 100.0), w)  # shift-invariant
    assert np.argmax(w) == np.argmin(scores)
    # a pair 2 AIC units apart has odds e
    pair = akaike_weights([0.0, 2.0])
    assert np.isclose(pair[0] / pair[1], np.e)
    failed = akaike_weights([1.0, np.nan, np.inf, 1.0])
    np.testing.assert_allclose(failed, [0.5, 0.0, 0.0, 0.5])
    batch = akaike_weights(np.array([[0.0, 2.0], [2.0, 0.0]]))
    np.testing.assert_allclose(batch.sum(axis=1), 1.0)


def test_model_average_is_eq_8_and_9():
    rng = np.random.default_rng(3)
    means, sds, w = rng.normal(10, 5, (5, 3)), rng.uniform(0.5, 2, (5, 3)), rng.dirichlet(np.ones(5))
    mean, within, between = model_average(means, sds, w)
    for j in range(3):
        m = sum(w[i] * means[i, j] for i in range(5))
        assert np.isclose(mean[j], m)
        assert np.isclose(within[j], sum(w[i] * sds[i, j] ** 2 for i in range(5)))
        assert np.isclose(between[j], sum(w[i] * (means[i, j] - m) ** 2 for i in range(5)))


@pytest.mark.parametrize("criterion", ["aic", "aicc", "bic"])
def test_weights_sum_to_one(paper, criterion):
    result = fit_laws(paper, criterion=criterion)
    assert np.isclose(sum(result.weights.values()), 1.0)
    scores = result.scores
    best = min(scores, key=scores.get)
    assert result.weights[best] == max(result.weights.values())


def test_negative_gains_fit_without_crashing():
    """Self-distillation can hurt (seed 004): negative gains are legal data."""
    table = GainTable([0.5, 1, 2, 4, 8], [-1.0, -0.5, 0.2, -0.8, -1.5], [0.3] * 4 + [0.4])
    result = fit_laws(table)
    assert np.isclose(sum(result.weights.values()), 1.0)
    pred = result.predict([70.0])
    assert np.isfinite(pred.mean).all() and np.isfinite(pred.sd).all()


def test_too_few_points_skips_only_the_big_laws():
    table = GainTable([1.0, 2.0], [2.0, 3.0], [0.1, 0.2])
    result = fit_laws(table)
    assert result.fits["sigmoid"].status == "skipped" and result.weights["sigmoid"] == 0
    assert result.fits["power"].converged and result.weights["power"] > 0
    assert np.isclose(sum(result.weights.values()), 1.0)


def test_aicc_on_three_points_says_why_it_cannot_weight():
    """With 3 points AICc's n − k − 1 is ≤ 0 for every law: a clear error naming the fix."""
    from scalefit.errors import ScalefitError

    table = GainTable([1.0, 2.0, 4.0], [1.0, 2.1, 2.9], [0.3, 0.3, 0.4], source="t3.csv")
    assert np.isclose(sum(fit_laws(table, criterion="aic").weights.values()), 1.0)
    with pytest.raises(ScalefitError, match="t3.csv: AICc needs more points.*criterion=aic"):
        fit_laws(table, criterion="aicc")


def test_a_failed_fit_is_reported_not_raised(paper, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("optimiser exploded")

    def no_convergence(law, x, Y, iw, theta, lo, hi, **kwargs):
        return theta, np.full(len(theta), np.inf), np.full(len(theta), np.nan), np.zeros(len(theta), bool)

    monkeypatch.setattr(fit_module, "_lm", no_convergence)  # the batched engine
    monkeypatch.setattr(fit_module, "least_squares", broken)  # and scipy's fallback
    result = fit_laws(paper)
    assert result.fits["power"].status == "failed" and not result.fits["power"].converged
    assert result.weights["power"] == 0.0
    # the linear laws do not need the optimiser and still carry all the weight
    assert np.isclose(result.weights["logarithmic"] + result.weights["sqrt_log"], 1.0)
    assert any("power failed" in note for note in result.notes)
    payload = result.to_dict([70.0])
    assert payload["laws"]["power"]["converged"] is False


def test_parameter_at_bound_is_flagged():
    """Data rising faster than any power ≤ 4 pins the exponent at its bound, and says so."""
    x = np.array([1.0, 2.0, 4.0, 8.0])
    fit = fit_law("power", x, 0.001 * x**6, np.full(4, 0.01))
    assert fit.converged and "b" in fit.at_bound
    assert any("bound" in note for note in fit.notes)


@pytest.mark.parametrize("seed", range(2))
def test_random_tables_never_raise(seed):
    """Random tables (2-8 points, any sign, SEs over three decades, sizes over nine) fit without
    raising or warning; weights sum to 1 and the average is finite."""
    import warnings

    rng = np.random.default_rng(seed)
    for _ in range(6):
        n = int(rng.integers(2, 9))
        x = np.sort(rng.choice(np.geomspace(10 ** rng.uniform(-3, 2), 10 ** rng.uniform(2, 6), 50),
                               n, replace=False))
        y = [rng.normal(0, 5, n), np.cumsum(rng.uniform(-1, 3, n)), 100 * rng.uniform(0, 1, n)][
            int(rng.integers(3))]
        se = rng.uniform(0.01, 3, n) * 10 ** rng.uniform(-2, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = fit_laws(GainTable(x, y, se))
            pred = result.predict([10 * x.max()])
        assert np.isclose(sum(result.weights.values()), 1.0)
        assert np.isfinite(pred.mean).all() and np.isfinite(pred.sd).all()
