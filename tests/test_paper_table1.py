"""`scalefit fit` on the bundled paper table reproduces seed 000's printed numbers.

The expected values are the paper's (Table 1, section 3.2 and 3.3), not outputs of this code.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from scalefit.cli import main
from scalefit.core.average import fit_laws
from scalefit.data import load_gain_table

# Table 1: chi², AIC, weight; section 3.2: 70B predictions; average 19.6 ± 11.3.
PAPER = {
    "power": (2, 0.55, 4.55, 0.338, 32.9),
    "saturating": (2, 0.73, 4.73, 0.309, 9.1),
    "sigmoid": (3, 0.02, 6.02, 0.162, 15.7),
    "sqrt_log": (3, 0.06, 6.06, 0.159, 17.2),
    "logarithmic": (2, 5.27, 9.27, 0.032, 12.2),
}


@pytest.fixture(scope="module")
def paper_fit():
    return fit_laws(load_gain_table(Path(__file__).parents[1] / "data/opsd_scaling_paper.csv"))


@pytest.mark.parametrize("law", list(PAPER))
def test_table1_row(paper_fit, law):
    k, chi2, aic, weight, at70 = PAPER[law]
    fit = paper_fit.fits[law]
    assert fit.k == k
    assert round(fit.chi2, 2) == chi2
    assert round(fit.criteria["aic"], 2) == aic
    assert round(paper_fit.weights[law], 3) == weight
    assert round(float(fit.predict(70.0)[0]), 1) == at70


def test_average_at_70b(paper_fit):
    pred = paper_fit.predict([70.0])
    assert round(float(pred.mean[0]), 1) == 19.6
    assert round(float(pred.sd[0]), 1) == 11.3
    # eq. 9: total variance is within + between
    assert np.isclose(pred.sd[0] ** 2, pred.within_sd[0] ** 2 + pred.between_sd[0] ** 2)


def test_cli_json_reproduces_table1(paper_csv, tmp_path, capsys):
    out = tmp_path / "fit.json"
    assert main(["fit", str(paper_csv), "--at", "14,70,405", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "19.61 ± 11.31" in printed
    result = json.loads(out.read_text())
    assert set(result["laws"]) == set(PAPER)
    for law, (k, chi2, aic, weight, at70) in PAPER.items():
        entry = result["laws"][law]
        assert entry["converged"] is True
        assert round(entry["chi2"], 2) == chi2 and round(entry["weight"], 3) == weight
        assert round(entry["predictions"]["70"]["mean"], 1) == at70
        assert entry["predictions"]["70"]["sd"] > 0
        assert {"aic", "aicc", "bic", "params"} <= set(entry)
    avg = result["average"]["70"]
    assert round(avg["mean"], 1) == 19.6 and round(avg["sd"], 1) == 11.3
    assert set(result["average"]) == {"14", "70", "405"}
    assert {"within_sd", "between_sd"} <= set(avg)
    assert result["size_unit"] == "B"


def test_a_sixth_law_does_not_change_table1(paper_fit, monkeypatch):
    """Adding a law (one entry in LAWS) leaves the paper's average alone: it averages the
    explicit PAPER_LAWS; the new law is fitted only when asked for."""
    from scalefit.core.laws import LAWS, PAPER_LAWS, Law

    def quadratic_log(theta, x):
        lx = np.log(x)
        return theta[..., 0:1] * lx**2 + theta[..., 1:2] * lx + theta[..., 2:3]

    def quadratic_log_jac(theta, x):
        lx = np.log(x) * np.ones_like(theta[..., 0:1])
        return np.stack([lx**2, lx, np.ones_like(lx)], axis=-1)

    law = Law("quadratic_log", "Quadratic in ln N", "a ln²N + b ln N + c", "-", ("a", "b", "c"),
              quadratic_log, quadratic_log_jac,
              lambda x, y: (np.full(3, -np.inf), np.full(3, np.inf)),
              lambda x, y, s: np.zeros((1, 3)), linear=True)
    monkeypatch.setitem(LAWS, "quadratic_log", law)
    table = load_gain_table(Path(__file__).parents[1] / "data/opsd_scaling_paper.csv")
    again = fit_laws(table)
    assert tuple(again.fits) == PAPER_LAWS
    assert again.weights == pytest.approx(paper_fit.weights, abs=1e-12)
    assert again.predict([70.0]).mean[0] == pytest.approx(19.61, abs=0.005)
    with_it = fit_laws(table, laws=list(PAPER_LAWS) + ["quadratic_log"])
    assert with_it.fits["quadratic_log"].converged
