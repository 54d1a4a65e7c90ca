"""Predictive methods: properties of each, against independent computations where possible."""

import numpy as np
import pytest
from scipy import stats

from scalefit.core.average import fit_laws
from scalefit.data import GainTable, load_gain_table
from scalefit.methods import METHODS, Predictive, predictive
from scalefit.methods.lfo import lfo_errors, lfo_splits, structure_scale
from scalefit.methods.stacking import stacking_weights as _stacking_weights


@pytest.fixture
def paper(paper_csv):
    return load_gain_table(paper_csv)


def test_paper_method_is_eq_9_normal(paper):
    pred = predictive(paper, [70.0], "paper")
    ref = fit_laws(paper).predict([70.0])
    assert pred.mean[0] == pytest.approx(ref.mean[0]) and pred.scale[0] == pytest.approx(ref.sd[0])
    lo, hi = pred.interval(0.95)
    assert lo[0] == pytest.approx(ref.mean[0] - 1.959964 * ref.sd[0], rel=1e-6)


def test_student_interval_matches_scipy():
    p = Predictive(np.array([1.0]), np.array([2.0]), np.array([0.5]), np.array([3.0]), "x")
    lo, hi = p.interval(0.9)
    assert (lo[0], hi[0]) == pytest.approx(stats.t.interval(0.9, 3, loc=2.0, scale=0.5))


def test_lfo_splits():
    """Origins by distinct size: none below min_train + 1 sizes; every origin of a short table;
    at most max_origins over the upper half of a long one; rows of one size never split."""
    def origins(sizes, min_train=2, max_origins=6):
        return [int(np.unique(np.asarray(sizes)[train]).size)
                for train, _, _ in lfo_splits(sizes, min_train, max_origins)]

    assert origins([1.0, 2.0]) == []
    assert origins([1.0, 2, 4, 8, 16]) == [2, 3, 4]
    many = origins(np.arange(1.0, 61.0))
    assert len(many) == 6 and many[-1] == 59 and many[0] >= 30
    repeated = np.array([1.0, 1.0, 2.0, 2.0, 4.0, 4.0])
    for train, future, top in lfo_splits(repeated, 1):
        assert not np.any(train & future) and np.all(train | future)
        assert np.all(repeated[train] <= top) and np.all(repeated[future] > top)


def test_lfo_errors_by_hand(paper):
    """The first LFO origin fits the two smallest points; its error at 2B is checked by refitting."""
    errors = lfo_errors(paper)
    first = fit_laws(paper.take([0, 1])).predict([2.0, 4.0, 8.0])
    np.testing.assert_allclose(errors.error[:3], paper.value[2:] - first.mean)
    np.testing.assert_allclose(errors.distance[:3], np.log(np.array([2, 4, 8]) / 1.0))
    assert len(errors) == 3 + 2 + 1


def test_structure_term_is_tau_times_distance(paper):
    """lfo's variance is eq. 9's plus (τ̂ d)², τ̂ = sqrt(mean(e²/d²)) over the LFO errors and
    d = ln(N / 8B); it grows with the extrapolation distance; ν = number of LFO errors."""
    sizes = np.array([14.0, 70.0, 405.0])
    errors = lfo_errors(paper)
    tau = np.sqrt(np.mean((errors.error / errors.distance) ** 2))
    assert structure_scale(errors) == pytest.approx(tau)
    lfo, base = predictive(paper, sizes, "lfo"), predictive(paper, sizes, "paper")
    np.testing.assert_allclose(lfo.mean, base.mean)
    extra = lfo.scale**2 - base.scale**2
    np.testing.assert_allclose(extra, (tau * np.log(sizes / 8.0)) ** 2, rtol=1e-10)
    assert np.all(np.diff(extra) > 0) and np.all(lfo.df == len(errors))
    # inside the observed range there is no extrapolation and no structure term
    inside = predictive(paper, [4.0], "lfo")
    assert inside.scale[0] == pytest.approx(predictive(paper, [4.0], "paper").scale[0])


def test_stacking_picks_the_law_that_predicts_the_future():
    good = stats.norm.logpdf(np.zeros(6), 0.0, 1.0)
    bad = stats.norm.logpdf(np.full(6, 4.0), 0.0, 1.0)
    w = _stacking_weights(np.vstack([bad, good, bad]))
    assert w.sum() == pytest.approx(1.0) and w[1] > 0.99


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_and_is_consistent(paper, method):
    pred = predictive(paper, [14.0, 70.0], method)
    lo68, hi68 = pred.interval(0.68)
    lo95, hi95 = pred.interval(0.95)
    assert np.all(lo95 < lo68) and np.all(lo68 < pred.mean) and np.all(hi68 < hi95)
    assert pred.to_dict()["predictions"]["70"]["ci95"] == pytest.approx([lo95[1], hi95[1]])


def test_aicc_falls_back_to_aic_on_three_points():
    table = GainTable([1.0, 2.0, 4.0], [1.0, 2.0, 2.8], [0.2, 0.2, 0.2])
    pred = predictive(table, [16.0], "aicc")
    assert np.isfinite(pred.mean[0]) and any("AIC used" in n for n in pred.notes)
