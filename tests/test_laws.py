"""Properties of the law registry: Jacobians, vectorisation, recovery of generating parameters."""

import numpy as np
import pytest

from scalefit.core.fit import fit_law
from scalefit.core.laws import LAWS

SIZES = np.geomspace(0.1, 100.0, 9)
# Generating parameters inside each law's bounds, identifiable on SIZES.
TRUE = {
    "power": [1.5, 0.7],
    "logarithmic": [2.0, 3.0],
    "saturating": [12.0, 5.0],
    "sigmoid": [20.0, 1.2, 1.5],
    "sqrt_log": [1.0, 2.0, 0.5],
}


def test_registry_is_complete():
    assert set(LAWS) == set(TRUE)
    for law in LAWS.values():
        assert law.k == len(law.params) and law.formula and law.equation.startswith("eq.")


@pytest.mark.parametrize("name", list(LAWS))
def test_jacobian_matches_finite_differences(name):
    law, theta = LAWS[name], np.array(TRUE[name], float)
    jac = law.jacobian(theta, SIZES)
    for i in range(law.k):
        h = 1e-6 * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        numeric = (law.value(up, SIZES) - law.value(down, SIZES)) / (2 * h)
        np.testing.assert_allclose(jac[:, i], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", list(LAWS))
def test_value_is_vectorised_over_parameter_sets(name):
    law = LAWS[name]
    rng = np.random.default_rng(0)
    thetas = np.array(TRUE[name]) * rng.uniform(0.8, 1.2, size=(4, 3, law.k))
    batch = law.value(thetas, SIZES)
    assert batch.shape == (4, 3, len(SIZES))
    np.testing.assert_allclose(batch[2, 1], law.value(thetas[2, 1], SIZES))
    assert law.jacobian(thetas, SIZES).shape == (4, 3, len(SIZES), law.k)


@pytest.mark.parametrize("name", list(LAWS))
def test_fit_recovers_generating_parameters_from_noise_free_data(name):
    law = LAWS[name]
    y = law.value(np.array(TRUE[name]), SIZES)
    fit = fit_law(law, SIZES, y, np.full_like(y, 0.1))
    assert fit.converged
    np.testing.assert_allclose(fit.params, TRUE[name], rtol=1e-5)
    assert fit.chi2 < 1e-8


@pytest.mark.parametrize("name", ["power", "logarithmic", "sigmoid"])
def test_fit_is_unit_consistent_for_unit_free_laws(name):
    """Power, log and sigmoid laws give the same predictions whatever the size unit (the
    saturating law's N0 and the sqrt-log law's ln(N + 1) depend on it by construction)."""
    law = LAWS[name]
    y = law.value(np.array(TRUE[name]), SIZES) + np.random.default_rng(1).normal(0, 0.2, len(SIZES))
    se = np.full_like(y, 0.2)
    in_b = fit_law(law, SIZES, y, se)
    in_m = fit_law(law, SIZES * 1000.0, y, se, size_unit="M")
    assert np.isclose(in_b.chi2, in_m.chi2, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(in_b.predict([70.0]), in_m.predict([70000.0]), rtol=1e-5)
    np.testing.assert_allclose(in_b.predict_sd([70.0]), in_m.predict_sd([70000.0]), rtol=1e-4)


@pytest.mark.parametrize("theta", [[6.0, -1.5, 1.0], [-4.0, -0.8, 2.5]])
def test_sigmoid_with_a_negative_slope_is_recovered(theta):
    """A gain that falls from a to 0 with size (b < 0) is a sigmoid of eq. 4 that no sign of a
    can express with b > 0: the fit must recover it, from noise-free data and through the
    batched refit of the bootstrap."""
    from scalefit.core.fit import fit_law_batch

    law = LAWS["sigmoid"]
    y = law.value(np.array(theta), SIZES)
    se = np.full_like(y, 0.1)
    fit = fit_law(law, SIZES, y, se)
    assert fit.converged and fit.chi2 < 1e-8
    np.testing.assert_allclose(fit.params, theta, rtol=1e-5)
    batch = fit_law_batch(law, SIZES, np.vstack([y, y]), se)
    assert batch.converged.all() and np.all(batch.chi2 < 1e-8)
    np.testing.assert_allclose(batch.theta, [theta, theta], rtol=1e-5)
