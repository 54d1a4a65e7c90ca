"""Forecasts with skill: the naive forecasts, the default damped trend, the possible range, and
the skill metrics (each checked against an independent computation or a property)."""

import numpy as np
import pandas as pd
import pytest

from scalefit.cli import main
from scalefit.core.bounds import dz_dy, from_z, parse_range, to_z
from scalefit.data import GainTable
from scalefit.methods import METHODS, get_method
from scalefit.methods.damped import KIND_PRIORS, TrendPrior, damped_method, prior_scale
from scalefit.studies.backtest import lfo_skill
from scalefit.studies.scoring import summarise

X = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
FAR = np.array([16.0, 70.0, 405.0])


@pytest.mark.parametrize("bounds", [(-100.0, 100.0), (0.0, 100.0), (0.0, np.inf), (-np.inf, np.inf)])
def test_transform_round_trip_and_derivative(bounds):
    lo, hi = bounds
    y = np.array([1.0, 10.0, 50.0, 90.0]) if np.isfinite(hi) else np.array([0.1, 1.0, 5.0, 40.0])
    z = to_z(y, lo, hi)
    np.testing.assert_allclose(from_z(z, lo, hi), y, rtol=1e-10)
    h = 1e-6
    numeric = (to_z(y + h, lo, hi) - to_z(y - h, lo, hi)) / (2 * h)
    np.testing.assert_allclose(dz_dy(y, lo, hi), numeric, rtol=1e-5)
    assert np.all((from_z(np.array([-1e6, 1e6]), lo, hi) >= lo)
                  & (from_z(np.array([-1e6, 1e6]), lo, hi) <= hi))


def test_parse_range():
    assert parse_range("-100,100") == (-100.0, 100.0)
    assert parse_range("0, inf") == (0.0, np.inf)
    for bad in ("5", "3,1", "a,b"):
        with pytest.raises(ValueError):
            parse_range(bad)


def test_persistence_is_the_inverse_variance_mean_at_the_largest_size():
    table = GainTable([1.0, 2.0, 4.0, 4.0], [1.0, 2.0, 3.0, 5.0], [0.5, 0.5, 1.0, 0.5])
    pred = METHODS["persistence"](table, FAR)
    w = np.array([1.0, 4.0])
    np.testing.assert_allclose(pred.mean, np.sum(w * [3.0, 5.0]) / w.sum())


def test_loglinear_last2_is_exact_on_a_log_linear_curve():
    y = 2.0 + 1.5 * np.log(X)
    pred = METHODS["loglinear_last2"](GainTable(X, y, np.full(5, 0.2)), FAR)
    np.testing.assert_allclose(pred.mean, 2.0 + 1.5 * np.log(FAR), rtol=1e-12)


def test_loglinear_wls_matches_numpy_polyfit():
    rng = np.random.default_rng(3)
    se = np.array([0.3, 0.5, 0.4, 0.8, 0.6])
    y = 1.0 + 0.7 * np.log(X) + rng.normal(0, se)
    pred = METHODS["loglinear_wls"](GainTable(X, y, se), FAR)
    b, a = np.polyfit(np.log(X), y, 1, w=1.0 / se)  # polyfit's w multiplies residuals
    np.testing.assert_allclose(pred.mean, a + b * np.log(FAR), rtol=1e-10)


def test_damped_trend_limits():
    """φ = 0 is persistence; φ = 1, λ = 0 continues the WLS slope (in z) from the last value;
    with ν0 = ∞ the z-scale is exactly sqrt(se_z,last² + τ0² d²)."""
    y = 10.0 + 4.0 * np.log(X)
    table = GainTable(X, y, np.full(5, 0.3))
    flat = damped_method({"gain": TrendPrior(0.0, 0.0, 0.0, 0.1, 5.0)})(table, FAR)
    np.testing.assert_allclose(flat.mean, y[-1], rtol=1e-9)
    full = damped_method({"gain": TrendPrior(1.0, 0.0, 0.0, 0.1, np.inf)})(table, FAR)
    z = to_z(y, -100, 100)
    slope = np.polyfit(np.log(X), z, 1, w=1.0 / (0.3 * dz_dy(y, -100, 100)))[0]
    expected = z[-1] + slope * np.log(FAR / 8.0)
    np.testing.assert_allclose(full.z_location, expected, rtol=1e-9)
    sz = 0.3 * dz_dy(y[-1:], -100, 100)
    np.testing.assert_allclose(full.z_scale, np.sqrt(sz**2 + 0.01 * np.log(FAR / 8) ** 2))


def test_slope_multiplier_posterior_is_a_weighted_regression_through_the_origin():
    """With τ fixed (ν0 = ∞), φ's posterior is the conjugate normal one: the prior N(φ0, σφ²)
    combined with the regression of each split's step Δ on its trend step u (weights w/v, one
    unit per origin), recomputed here from the splits by hand."""
    rng = np.random.default_rng(5)
    x = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    se = np.full(6, 0.8)
    y = 5.0 + 3.0 * np.log(x) + rng.normal(0, 0.8, 6)
    prior = TrendPrior(0.2, 0.4, 0.0, 0.05, np.inf)
    pred = damped_method({"gain": prior})(GainTable(x, y, se), [64.0])
    z, sz = to_z(y, -100, 100), se * dz_dy(y, -100, 100)
    num, den = prior.phi / prior.phi_sd**2, 1.0 / prior.phi_sd**2
    for m in (2, 3, 4, 5):  # every split of six sizes with two or more training sizes
        b = np.polyfit(np.log(x[:m]), z[:m], 1, w=1.0 / sz[:m])[0]
        d = np.log(x[m:] / x[m - 1])
        u, step = b * d, z[m:] - z[m - 1]
        w = 1.0 / (len(d) * (sz[m:] ** 2 + prior.tau0**2 * d**2))
        num, den = num + np.sum(w * u * step), den + np.sum(w * u * u)
    phi = num / den
    b_all = np.polyfit(np.log(x), z, 1, w=1.0 / sz)[0]
    np.testing.assert_allclose(pred.z_location, z[-1] + phi * b_all * np.log(4.0), rtol=1e-9)
    scale = np.sqrt(sz[-1] ** 2 + prior.tau0**2 * np.log(4.0) ** 2
                    + (b_all * np.log(4.0)) ** 2 / den)
    np.testing.assert_allclose(pred.z_scale, scale, rtol=1e-9)


def test_a_table_whose_steps_followed_its_trend_keeps_more_of_it():
    """Empirical Bayes: the same prior, a straight log-linear table (past steps followed the
    trend) and one that bends flat (past steps stopped): the first keeps more of its slope."""
    prior = {"gain": TrendPrior(0.3, 0.5, 0.0, 0.05, 5.0)}
    x = np.array([0.5, 1, 2, 4, 8.0])
    straight = GainTable(x, 2.0 + 3.0 * np.log(x / 0.5), np.full(5, 0.3))
    bent = GainTable(x, [2.0, 4.0, 6.0, 6.1, 6.0], np.full(5, 0.3))
    keep = [damped_method(prior)(t, [64.0]).notes[0] for t in (straight, bent)]
    phis = [float(n.split("φ = ")[1].split(" ")[0]) for n in keep]
    assert phis[0] > 0.3 > phis[1]


def test_prior_scale_turns_tau_into_the_units_of_another_range():
    """τ0 is in logit units of the kind's nominal range: a gain table on [0, 20] (10× narrower)
    has dz/dy 10× larger at the centre; an unbounded one takes dy/dz of the nominal logit (50)."""
    assert prior_scale("gain", (-100.0, 100.0)) == 1.0
    assert prior_scale("gain", (0.0, 20.0)) == pytest.approx(10.0)
    assert prior_scale("gain", (-np.inf, np.inf)) == pytest.approx(50.0)
    assert prior_scale("loss", (0.0, np.inf)) == 1.0


def test_every_method_stays_in_the_possible_range():
    """An accuracy racing to 100% and a gain near its bound: no point or bound leaves them."""
    acc = GainTable(X, [60.0, 75.0, 88.0, 95.0, 99.0], np.full(5, 0.5), bounds=(0.0, 100.0))
    gain = GainTable(X, [10.0, 30.0, 55.0, 80.0, 97.0], np.full(5, 1.0))
    for table in (acc, gain):
        lo, hi = table.value_range
        for name, method in METHODS.items():
            pred = method(table, FAR)
            values = np.concatenate([pred.mean, *pred.interval(0.68), *pred.interval(0.95)])
            finite = values[np.isfinite(values)]
            assert np.all((finite >= lo) & (finite <= hi)), name


def test_shipped_constants_are_the_fitted_ones():
    """The default's constants are the rows "all" of the fit that benchmarks/ writes, one per
    kind of quantity (provenance)."""
    from pathlib import Path

    table = pd.read_csv(Path(__file__).resolve().parents[1] / "benchmarks"
                        / "damped_constants.csv")
    rows = table[table["fold"] == "all"].set_index("kind")
    assert set(rows.index) == set(KIND_PRIORS)
    for kind, prior in KIND_PRIORS.items():
        r = rows.loc[kind]
        assert prior == TrendPrior(r["phi"], r["phi_sd"], r["lam"], r["tau0"], r["nu0"]), kind


def test_skill_by_hand():
    rows = pd.DataFrame({
        "curve": ["a", "a", "b"] * 2, "group": "", "size": [16.0, 32.0, 16.0] * 2,
        "method": ["persistence"] * 3 + ["m"] * 3, "truth": [10.0, 12.0, 5.0] * 2,
        "mean": [8.0, 8.0, 4.0, 9.0, 12.0, 7.0],
        "lo68": 0.0, "hi68": 20.0, "lo95": 0.0, "hi95": 20.0, "range_lo": -100.0,
        "range_hi": 100.0, "failed": ""})
    s = summarise(rows).set_index("method")
    # persistence errors 2, 4, 1 (median 2); m's 1, 0, 2 (median 1)
    assert s.loc["m", "skill"] == pytest.approx(0.5) and s.loc["persistence", "skill"] == 1.0
    assert s.loc["m", "skill_mean"] == pytest.approx(1.0 / (7 / 3))
    assert s.loc["m", "skill_per_curve"] == pytest.approx(np.median([0.5 / 3.0, 2.0]))
    assert s.loc["m", "median_abs_error"] == 1.0 and s.loc["m", "outside_range"] == 0
    assert s.loc["m", "interval_score95_abs"] == pytest.approx(20.0)


def test_lfo_check_says_when_the_laws_lose_to_persistence(tmp_path, capsys):
    """A gain that stops growing: persistence wins the table's own leave-future-out check, and
    `scalefit fit` says so plainly."""
    sizes = np.array([0.5, 1, 2, 4, 8, 16.0])
    gains = np.array([1.0, 3.0, 5.0, 5.1, 5.0, 5.05])
    check = lfo_skill(GainTable(sizes, gains, np.full(6, 0.1)))
    assert check.skill("average") > 1 and check.origins == 3
    path = tmp_path / "flat.csv"
    pd.DataFrame({"size": sizes, "gain": gains, "se": 0.1}).to_csv(path, index=False)
    assert main(["fit", str(path), "--at", "70"]) == 0
    assert "did NOT out-predict persistence" in capsys.readouterr().out


def test_range_option_bounds_the_forecast(paper_csv, tmp_path):
    import json

    out = tmp_path / "fit.json"
    assert main(["fit", str(paper_csv), "--at", "405", "--range", "0,12", "--json", str(out)]) == 0
    pred = json.loads(out.read_text())["calibrated"]["predictions"]["405"]
    assert 0 <= pred["ci95"][0] <= pred["median"] <= pred["ci95"][1] <= 12
    assert get_method("paper")  # the paper's recipe stays registered


def test_an_accuracy_table_bounds_gains_by_the_baseline():
    """Gains of OPSD over SFT lie in [−a, 100 − a] for the baseline's accuracy a; scalefit takes
    a at the largest measured size (per benchmark after a split) and stays inside it."""
    from tests.conftest import DATA

    from scalefit.data import load_gain_table

    table = load_gain_table(DATA / "opsd_qwen3_zhao2026.csv")
    raw = pd.read_csv(DATA / "opsd_qwen3_zhao2026.csv")
    for name, part in table.split(["benchmark"]).items():
        sft = raw[(raw["method"] == "SFT") & (raw["benchmark"] == name)]
        a = sft.loc[sft["size_b"].idxmax(), "accuracy_pct"]
        assert part.value_range == pytest.approx((-a, 100 - a))
        pred = METHODS["damped_trend"](part, FAR)
        lo, hi = pred.interval(0.95)
        assert np.all(lo >= -a - 1e-9) and np.all(hi <= 100 - a + 1e-9)
    assert GainTable(X, X, X).value_range == (-100.0, 100.0)


def test_a_table_of_accuracies_or_losses_carries_its_range(tmp_path):
    from scalefit.data import load_gain_table

    acc = tmp_path / "acc.csv"
    pd.DataFrame({"size": X, "accuracy": [30.0, 45, 60, 75, 88], "se": 1.0}).to_csv(acc, index=False)
    loss = tmp_path / "loss.csv"
    pd.DataFrame({"size": X, "loss": [0.9, 0.7, 0.55, 0.45, 0.4], "se": 0.01}).to_csv(loss,
                                                                                     index=False)
    a, b = load_gain_table(acc), load_gain_table(loss)
    assert a.value_range == (0.0, 100.0) and b.value_range == (0.0, np.inf)
    assert any("accuracy" in n for n in a.notes) and any("loss" in n for n in b.notes)
    for table in (a, b):
        lo, hi = METHODS["damped_trend"](table, FAR).interval(0.95)
        assert np.all(lo >= table.value_range[0]) and np.all(hi <= table.value_range[1])
