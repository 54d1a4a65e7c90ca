"""Leave-future-out backtests and the method registry."""

import json

import numpy as np
import pytest

from scalefit.cli import main
from scalefit.core.laws import LAWS
from scalefit.data import GainTable
from scalefit.errors import ScalefitError
from scalefit.methods import METHODS, EmpiricalPredictive, Predictive, resolve_methods
from scalefit.studies.backtest import backtest, backtest_curves
from scalefit.studies.curves import holdout_curve
from scalefit.studies.scoring import summarise

X = np.array([0.5, 1, 2, 4, 8, 16, 32.0])


def _curve(law, theta, se=0.02, name=None):
    y = LAWS[law].value(np.asarray(theta, float), X)
    return holdout_curve(GainTable(X, y, np.full(len(X), se)), 2, name=name or law)


def test_a_known_law_is_backtested_with_near_zero_error():
    table = GainTable(X, 2.0 * X**0.6, np.full(7, 0.02))
    result = backtest(table, holdout=2, methods=["power", "logarithmic"])
    s = result.summary().set_index("method")
    assert s.loc["power", "points"] == 2
    assert s.loc["power", "mape"] < 1e-6 and s.loc["power", "coverage95"] == 1.0
    assert s.loc["logarithmic", "mape"] > 5  # the wrong law is scored as wrong
    assert list(result.points.query("method == 'power'")["size"]) == [16, 32]


def test_many_curves_each_law_recovers_its_own():
    curves = [_curve("power", [2.0, 0.6]), _curve("logarithmic", [2.3, 2.3]),
              _curve("saturating", [9.0, 4.0])]
    result = backtest_curves(curves, ["power", "logarithmic", "saturating", "average"])
    p = result.points
    for law in ("power", "logarithmic", "saturating"):
        own = p[(p["curve"] == law) & (p["method"] == law)]
        assert len(own) == 2 and own["ape"].max() < 0.01
        assert own["in95"].all() and own["in68"].all()
    assert result.summary().set_index("method").loc["average", "points"] == 6
    # The points frame is the calibration module's format: its summary agrees.
    cal = summarise(p).set_index("method")
    mine = result.summary().set_index("method")
    for m in mine.index:
        assert cal.loc[m, "coverage95"] == pytest.approx(mine.loc[m, "coverage95"])
        assert cal.loc[m, "median_ape"] == pytest.approx(mine.loc[m, "median_ape"])


def test_methods_are_pluggable():
    def zero(table, sizes):
        sizes = np.atleast_1d(sizes)
        return Predictive(sizes, np.zeros(len(sizes)), np.ones(len(sizes)),
                          np.full(len(sizes), np.inf), "zero")

    result = backtest_curves([_curve("power", [2.0, 0.6])], [zero, "average"])
    s = result.summary().set_index("method")
    assert s.loc["zero", "mape"] == pytest.approx(100.0)
    assert s.loc["zero", "coverage95"] == 0.0
    assert set(resolve_methods(["paper"])) == {"average"}  # alias
    with pytest.raises(ScalefitError):
        resolve_methods(["no_such_method"])
    assert {"power", "average", "bootstrap", "lfo_aicc", "stacking"} <= set(METHODS)


def test_failed_fits_are_counted_not_scored():
    # Two training points: the three-parameter laws are skipped, their rows say so.
    table = GainTable(np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]), np.full(3, 0.1))
    result = backtest(table, holdout=1, methods=["sigmoid", "power"])
    s = result.summary().set_index("method")
    assert s.loc["sigmoid", "points"] == 0 and s.loc["sigmoid", "failed"] == 1
    assert s.loc["power", "points"] == 1


def test_empirical_predictive_percentiles():
    draws = np.arange(1, 1001, dtype=float)[:, None] * np.array([1.0, 2.0])
    pred = EmpiricalPredictive(np.array([1.0, 2.0]), draws, "x")
    lo, hi = pred.interval(0.9)
    np.testing.assert_allclose(lo, np.quantile(draws, 0.05, axis=0))
    np.testing.assert_allclose(hi, np.quantile(draws, 0.95, axis=0))
    np.testing.assert_allclose(pred.mean, [500.5, 1001.0])


def test_bootstrap_method_brackets_its_mean():
    table = GainTable(X[:5], 2.0 * X[:5] ** 0.6, np.full(5, 0.3))
    pred = METHODS["bootstrap"](table, np.array([16.0, 32.0]))
    lo, hi = pred.interval(0.95)
    assert np.all(lo < pred.mean) and np.all(pred.mean < hi)


def test_cli_backtest(paper_csv, tmp_path, capsys):
    out = tmp_path / "bt.json"
    assert main(["backtest", str(paper_csv), "--holdout", "2", "--methods",
                 "power,saturating,average", "--json", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "summary" in text and "saturating" in text
    data = json.loads(out.read_text())
    assert data["holdout"] == 2 and set(data["summary"]) == {"power", "saturating", "average"}
    assert len(data["points"]) == 6 and {"coverage68", "coverage95"} <= set(data["summary"]["power"])
    assert main(["backtest", str(paper_csv), "--holdout", "5"]) == 2  # cannot hold out all


def _persist(table, sizes):
    """A toy method for the registry test: the largest size's gain, ± 1 pp."""
    sizes = np.atleast_1d(sizes)
    last = table.value[np.argmax(table.size)]
    return Predictive(sizes, np.full(len(sizes), last), np.ones(len(sizes)),
                      np.full(len(sizes), np.inf), "toy_persist")


def test_a_registered_method_appears_everywhere(paper_csv, tmp_path, capsys):
    """One registration puts a method in `fit --interval`, `backtest --methods`, `validate
    --methods` and their --help, with nothing else to edit."""
    from scalefit.methods import ALIASES, Method, register

    register(Method("toy_persist", _persist, "the last gain stays (test only)"))
    try:
        for cmd in ("fit", "backtest", "validate"):
            with pytest.raises(SystemExit):
                main([cmd, "--help"])
            assert "toy_persist" in capsys.readouterr().out
        assert main(["fit", str(paper_csv), "--at", "70", "--interval", "toy_persist"]) == 0
        assert "toy_persist" in capsys.readouterr().out
        out = tmp_path / "bt.json"
        assert main(["backtest", str(paper_csv), "--methods", "toy_persist,power", "--json",
                     str(out), "--quiet"]) == 0
        assert json.loads(out.read_text())["summary"]["toy_persist"]["points"] == 1
        out = tmp_path / "val.json"
        assert main(["validate", str(paper_csv), "--methods", "toy_persist,average",
                     "--replicates", "4", "--workers", "1", "--quiet", "--json", str(out)]) == 0
        assert json.loads(out.read_text())["methods"] == ["toy_persist", "average"]
    finally:
        METHODS.pop("toy_persist")
        assert "toy_persist" not in ALIASES
