"""Next-experiment design (the scaling paper, section 2.4): the criterion against known answers."""

import json

import numpy as np
import pytest

from scalefit.cli import main
from scalefit.core.average import fit_laws
from scalefit.core.laws import get_law
from scalefit.data import load_gain_table
from scalefit.io import _jsonable
from scalefit.studies.design import design_laws as design

CANDIDATES = [0.3, 3.0, 14.0, 32.0, 70.0, 405.0]


def linear_variance_after(table, law: str, candidate: float, new_se: float,
                          target: float) -> float:
    """Closed form for a law linear in its parameters: the delta-method variance at ``target``
    after adding a point at ``candidate`` with SE ``new_se``, g_T (XᵀWX + x_c x_cᵀ/σ²)⁻¹ g_Tᵀ.
    (For such a law it does not depend on the new observation.)"""
    spec = get_law(law)
    assert spec.linear
    x = np.append(table.size, candidate)
    s = np.append(table.se, new_se)
    X = spec.jacobian(np.zeros(spec.k), x) / s[:, None]
    g = spec.jacobian(np.zeros(spec.k), np.array([target]))[0]
    return float(g @ np.linalg.inv(X.T @ X) @ g)


@pytest.fixture(scope="module")
def paper():
    from tests.conftest import DATA

    return load_gain_table(DATA / "opsd_scaling_paper.csv")


def test_linear_law_reduction_equals_the_closed_form(paper):
    """One linear law: the refitted variance at the target does not depend on the simulated
    observation and equals g (XᵀWX + x xᵀ/σ²)⁻¹ gᵀ; the ranking is the closed form's."""
    r = design(paper, CANDIDATES, target=70.0, new_se=0.5, laws=["logarithmic"], n_sims=20)
    exact = np.array([linear_variance_after(paper, "logarithmic", c, 0.5, 70.0)
                      for c in CANDIDATES])
    np.testing.assert_allclose(r.expected_var, exact, rtol=1e-8)
    assert np.all(r.expected_var_se < 1e-8 * exact)
    now = fit_laws(paper, laws=["logarithmic"]).predict([70.0]).sd[0] ** 2
    assert r.current_var == pytest.approx(now)
    np.testing.assert_allclose(r.reduction, now - exact, rtol=1e-6)
    assert list(r.ranking("reduction")) == list(np.array(CANDIDATES)[np.argsort(exact)])
    assert np.all(r.info_value == 0)  # one law: no disagreement


def test_design_prefers_the_point_that_settles_the_disagreement(paper):
    """Power and saturating laws agree on the data (0.5-8 B) and disagree beyond: a point inside
    the data range (3 B) barely helps at 70 B, a point at 70 B removes nearly all the variance."""
    r = design(paper, [3.0, 70.0], target=70.0, laws=["power", "saturating"], n_sims=200)
    red = dict(zip(r.candidates, r.reduction))
    assert red[70.0] > 0.9 * r.current_var
    assert red[3.0] < 0.2 * r.current_var
    assert red[70.0] - red[3.0] > 10 * np.hypot(*r.expected_var_se)


def test_eq14_is_the_between_model_variance_and_grows_with_size(paper):
    cands = [14, 32, 70, 100, 140, 200, 405]
    r = design(paper, cands, n_sims=40)
    np.testing.assert_allclose(r.info_value, fit_laws(paper).predict(cands).between_var)
    assert r.ranking("info_value")[0] == 405
    assert np.all(np.diff(r.info_value) > 0)
    assert r.info_normalized.max() == 1.0


def test_seeded_and_cost(paper):
    a = design(paper, [14, 70], n_sims=60, seed=4)
    b = design(paper, [14, 70], n_sims=60, seed=4)
    np.testing.assert_array_equal(a.expected_var, b.expected_var)
    c = design(paper, [14, 70], n_sims=60, seed=4, costs=[1.0, 100.0])
    np.testing.assert_allclose(c.reduction_per_cost, c.reduction / np.array([1.0, 100.0]))
    np.testing.assert_allclose(a.reduction_per_cost, a.reduction / np.array([14.0, 70.0]))
    d = json.loads(json.dumps(_jsonable(a.to_dict())))
    assert set(d["candidates"]) == {"14", "70"} and "law_mean" in d["candidates"]["70"]
    assert d["ranking"]["reduction"][0] in (14, 70)


def test_cli_design(paper_csv, tmp_path, capsys):
    cands = tmp_path / "cands.csv"
    cands.write_text("size,cost\n14,1\n70,2\n")
    out = tmp_path / "d.json"
    assert main(["design", str(paper_csv), "--candidates", str(cands), "--sims", "40",
                 "--json", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "best:" in text and "cost given" in text
    data = json.loads(out.read_text())
    assert data["candidates"]["14"]["cost"] == 1.0
    assert main(["design", str(paper_csv), "--candidates", "14,abc"]) == 2


def test_figure_6_from_the_result(paper):
    from scalefit.report.figures_analyses import figure_design

    r = design(paper, [14, 70, 405], n_sims=30)
    fig = figure_design(r)
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, r.info_normalized)
    heights = [p.get_height() for p in fig.axes[1].patches]
    np.testing.assert_allclose(heights, r.reduction_fraction)
