"""The runner's building blocks: JSD_β against float64 numpy, gradients through the student only,
KV-cached generation, padding, the task, and the paired standard error."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalefit.runner.config import ModelConfig, Reference, TaskConfig, resolve_size  # noqa: E402
from scalefit.runner.losses import (divergence_regions, first_disagreement,  # noqa: E402
                                    generalized_jsd, opsd_loss, policy_gradient_loss)
from scalefit.runner.model import GPT  # noqa: E402
from scalefit.runner.stats import paired_gain  # noqa: E402
from scalefit.runner.task import (EOS, Problem, decode, left_pad, parse_answer,  # noqa: E402
                                  sample_problems, student_prompt, teacher_prompt)

torch.set_num_threads(1)


# --- JSD_β ------------------------------------------------------------------------------------


def _softmax64(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _kl64(p, q):
    return (p * (np.log(p) - np.log(q))).sum(-1)


def _jsd64(student_logits, teacher_logits, beta):
    """Seed 002 eq. 7 in float64; β = 0 and 1 are the forward KL(T‖S) and reverse KL(S‖T)."""
    ps, pt = _softmax64(student_logits), _softmax64(teacher_logits)
    if beta == 0:
        return _kl64(pt, ps)
    if beta == 1:
        return _kl64(ps, pt)
    m = beta * pt + (1 - beta) * ps
    return beta * _kl64(pt, m) + (1 - beta) * _kl64(ps, m)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 0.3])
def test_jsd_matches_float64_direct_computation(beta):
    rng = np.random.default_rng(1)
    s = rng.normal(size=(3, 5, 7)) * 2
    t = rng.normal(size=(3, 5, 7)) * 2
    got = generalized_jsd(torch.tensor(s, dtype=torch.float32),
                          torch.tensor(t, dtype=torch.float32), beta).double().numpy()
    np.testing.assert_allclose(got, _jsd64(s, t, beta), rtol=1e-5, atol=1e-6)


def test_jsd_directions_are_not_symmetric():
    """β = 0 is KL(teacher‖student), β = 1 is KL(student‖teacher): swapping the arguments of
    one equals the other, and they differ on asymmetric distributions."""
    rng = np.random.default_rng(2)
    s, t = torch.tensor(rng.normal(size=(4, 6)) * 3), torch.tensor(rng.normal(size=(4, 6)) * 3)
    fwd, rev = generalized_jsd(s, t, 0.0), generalized_jsd(s, t, 1.0)
    torch.testing.assert_close(fwd, generalized_jsd(t, s, 1.0))
    assert (fwd - rev).abs().max() > 1e-3
    # the mixture weight is on the teacher: JSD_β(T‖S) = JSD_{1−β}(S‖T)
    torch.testing.assert_close(generalized_jsd(s, t, 0.3), generalized_jsd(t, s, 0.7))


def test_jsd_temperature_and_top_k():
    rng = np.random.default_rng(3)
    s, t = rng.normal(size=(2, 9)), rng.normal(size=(2, 9))
    got = generalized_jsd(torch.tensor(s), torch.tensor(t), 0.5, temperature=2.0).numpy()
    np.testing.assert_allclose(got, _jsd64(s / 2, t / 2, 0.5), rtol=1e-10)
    # top-k: both distributions restricted to the teacher's k most likely tokens, renormalised
    k = 3
    keep = np.argsort(-t, axis=-1)[:, :k]
    s_k = np.take_along_axis(s, keep, -1)
    t_k = np.take_along_axis(t, keep, -1)
    got = generalized_jsd(torch.tensor(s), torch.tensor(t), 0.5, top_k=k).numpy()
    np.testing.assert_allclose(got, _jsd64(s_k, t_k, 0.5), rtol=1e-8)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_chunked_loss_equals_unchunked_value_and_gradient(beta):
    rng = np.random.default_rng(4)
    b, t, v = 3, 11, 13
    s0 = torch.tensor(rng.normal(size=(b, t, v)), dtype=torch.float64)
    teacher = torch.tensor(rng.normal(size=(b, t, v)), dtype=torch.float64)
    mask = torch.tensor(np.arange(t)[None, :] < np.array([[11], [5], [8]]))
    grads, values = [], []
    for chunk in (None, 4, 1):
        s = s0.clone().requires_grad_(True)
        loss = opsd_loss(s, teacher, mask, beta, chunk_size=chunk)
        loss.backward()
        grads.append(s.grad)
        values.append(loss.item())
    # eq. 6 then Algorithm 1: mean over each rollout's valid tokens, then over rollouts
    per_tok = _jsd64(s0.numpy(), teacher.numpy(), beta)
    m = mask.numpy()
    direct = np.mean((per_tok * m).sum(1) / m.sum(1))
    np.testing.assert_allclose(values, direct, rtol=1e-10)
    for g in grads[1:]:
        torch.testing.assert_close(g, grads[0])
    assert grads[0][~mask].abs().max() == 0  # padded positions get no gradient


def test_gradient_flows_only_through_the_student():
    torch.manual_seed(0)
    cfg = ModelConfig(1, 2, 16)
    student, teacher = GPT(cfg), GPT(cfg)
    before = [p.detach().clone() for p in teacher.parameters()]
    idx = torch.randint(3, cfg.vocab_size, (2, 6))
    s_logits = student(idx)
    t_logits = teacher(idx)  # built with grad enabled on purpose
    loss = opsd_loss(s_logits, t_logits, torch.ones(2, 6, dtype=torch.bool), 0.5)
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    opt = torch.optim.AdamW(list(student.parameters()) + list(teacher.parameters()), lr=0.1)
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters()))


def test_policy_gradient_loss_gradient_is_advantage_times_score():
    """Eq. 9: ∇ = −(1/|ŷ|) Σ_n A_n ∇log p_S(ŷ_n) with A_n held constant."""
    rng = np.random.default_rng(5)
    s = torch.tensor(rng.normal(size=(1, 4, 5)), requires_grad=True)
    t = torch.tensor(rng.normal(size=(1, 4, 5)))
    tokens = torch.tensor([[1, 4, 0, 2]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    policy_gradient_loss(s, t, tokens, mask).backward()
    ls, lt = torch.log_softmax(s.detach(), -1), torch.log_softmax(t, -1)
    expect = torch.zeros_like(s)
    for n in range(4):
        k = tokens[0, n]
        adv = lt[0, n, k] - ls[0, n, k]
        score = -ls[0, n].exp()  # ∂ log p_k / ∂ logits = onehot(k) − p
        score[k] += 1
        expect[0, n] = -adv * score / 4
    torch.testing.assert_close(s.grad, expect)


# --- model ------------------------------------------------------------------------------------


def _prompts(n=12, seed=0):
    ps = sample_problems(np.random.default_rng(seed), n, (2, 3, 4, 5), 2)
    return left_pad([student_prompt(p) for p in ps])


def test_kv_cached_generation_equals_uncached():
    torch.manual_seed(0)
    model = GPT(ModelConfig(2, 2, 32)).eval()
    tokens, mask = _prompts()
    assert not mask.all()  # prompts of different lengths: left padding is exercised
    a, va = model.generate(tokens, mask, 40, EOS, greedy=True, use_cache=True)
    b, vb = model.generate(tokens, mask, 40, EOS, greedy=True, use_cache=False)
    assert a.shape[1] > 5
    assert torch.equal(a, b) and torch.equal(va, vb)
    # sampling with the same generator state gives the same tokens too
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    c, _ = model.generate(tokens, mask, 30, EOS, generators=[g1], use_cache=True)
    d, _ = model.generate(tokens, mask, 30, EOS, generators=[g2], use_cache=False)
    assert torch.equal(c, d)


def test_left_padding_does_not_change_logits():
    torch.manual_seed(1)
    model = GPT(ModelConfig(2, 2, 32)).eval()
    tokens, mask = _prompts(6, seed=1)
    padded = model(tokens, mask)
    for i in range(len(tokens)):
        real = tokens[i][mask[i]][None]
        alone = model(real)
        torch.testing.assert_close(padded[i, mask[i]], alone[0], atol=1e-5, rtol=1e-5)


def test_param_count_formula_matches_torch():
    for name in ("10k", "300k", "L3H4D64"):
        cfg = resolve_size(name)
        assert GPT(cfg).n_params() == cfg.n_params()


# --- task -------------------------------------------------------------------------------------


def test_task_solution_and_reference_richness():
    p = Problem((23, 45, 67, 12))
    assert p.solution() == "23+45=68;68+67=135;135+12=147#147"
    assert p.reference(Reference(0.0)) == "68;135;147#147"
    assert p.reference(Reference(0.0, show_answer=False)) == "68;135;147"
    assert p.reference(Reference(0.5)) == "23+45=68;68+67=135;147#147"  # round(0.5·3) = 2 steps kept
    assert p.reference(Reference(1.0)) == p.solution()
    assert p.reference(Reference(0.0, show_sums=False)) == "#147"  # the answer alone: a hint
    # the sloppy writer drops the carry out of the units column (8+7) and carries the error on
    assert p.solution(sloppy=True) == "23+45=68;68+67=125;125+12=137#137"
    assert p.reference(Reference(0.0), sloppy=True) == "68;125;137#137"
    assert Problem((21, 34)).solution(sloppy=True) == Problem((21, 34)).solution()  # no carry
    assert p.reference(Reference(0.5, show_sums=False)) == "23+45=68;68+67=135#147"
    assert decode(teacher_prompt(p, Reference(0.0))) == "23+45+67+12|68;135;147#147?"
    assert decode(student_prompt(p)) == "23+45+67+12?"
    assert parse_answer(student_prompt(p)[1:] + [1]) is None
    from scalefit.runner.task import encode
    assert parse_answer(encode(p.solution())) == 147
    ps = sample_problems(np.random.default_rng(0), 200, TaskConfig().terms, 2)
    assert {len(q.operands) for q in ps} == {3, 4, 5}
    assert all(10 <= x <= 99 for q in ps for x in q.operands)


# --- the first student–teacher disagreement ----------------------------------------------------


def _onehot_logits(tokens, v=5):
    return torch.nn.functional.one_hot(torch.tensor(tokens), v).double() * 4.0


def test_first_disagreement_and_where_the_divergence_lies():
    s = _onehot_logits([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]])
    t = _onehot_logits([[1, 0, 0, 4], [1, 2, 3, 4], [1, 2, 3, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    # row 2 differs only on a padded position, so it never disagrees
    assert first_disagreement(s, t, mask).tolist() == [1, 4, 4]
    reg = divergence_regions(s, t, mask)
    # row 0: one disagreeing token at 1 and one after it (2) carry all the divergence, equally
    assert reg.before == pytest.approx(0.0, abs=1e-6)  # float32 divergences
    assert reg.at == pytest.approx(0.5, rel=1e-5) and reg.after == pytest.approx(0.5, rel=1e-5)
    assert reg.no_disagreement == pytest.approx(2 / 3)


@pytest.mark.parametrize("chunk", [None, 2])
def test_loss_masked_after_the_first_disagreement_keeps_the_normalisation(chunk):
    rng = np.random.default_rng(5)
    s0 = torch.tensor(rng.normal(size=(2, 6, 7)), dtype=torch.float64)
    teacher = torch.tensor(rng.normal(size=(2, 6, 7)), dtype=torch.float64)
    mask = torch.tensor(np.arange(6)[None, :] < np.array([[6], [4]]))
    keep = torch.arange(6)[None] <= torch.tensor([[2], [0]])
    s = s0.clone().requires_grad_(True)
    opsd_loss(s, teacher, mask, 0.5, chunk_size=chunk, keep=keep).backward()
    per_tok = _jsd64(s0.numpy(), teacher.numpy(), 0.5)
    m, k = mask.numpy(), keep.numpy()
    direct = np.mean((per_tok * m * k).sum(1) / m.sum(1))  # still 1/|ŷ|, not 1/|kept|
    s2 = s0.clone().requires_grad_(True)
    assert opsd_loss(s2, teacher, mask, 0.5, chunk_size=chunk, keep=keep).item() \
        == pytest.approx(direct, rel=1e-10)
    assert s.grad[~(mask & keep)].abs().max() == 0 and s.grad[mask & keep].abs().max() > 0


# --- the paired standard error ----------------------------------------------------------------


def test_paired_gain_one_seed_is_the_classical_paired_se():
    rng = np.random.default_rng(0)
    a, b = rng.random((1, 400)) < 0.6, rng.random((1, 400)) < 0.5
    d = a.astype(float) - b
    g = paired_gain(a, b)
    assert g["gain"] == pytest.approx(100 * d.mean())
    assert g["se"] == pytest.approx(100 * d.std(ddof=1) / np.sqrt(400))


def test_paired_gain_se_matches_monte_carlo_spread():
    """Simulate the two-way layout (problem effects, seed effects, noise) many times: the mean
    estimated SE is close to the observed standard deviation of the gain."""
    rng = np.random.default_rng(1)
    s, n = 5, 300
    gains, ses, problem_only = [], [], []
    for _ in range(400):
        difficulty = rng.normal(size=n)
        seed_shift = rng.normal(scale=0.4, size=s)
        pa = 1 / (1 + np.exp(-(difficulty[None] + 0.3 + seed_shift[:, None])))
        pb = 1 / (1 + np.exp(-(difficulty[None])))
        a, b = rng.random((s, n)) < pa, rng.random((s, n)) < pb
        g = paired_gain(a, b)
        gains.append(g["gain"])
        ses.append(g["se"])
        problem_only.append(g["se_problems"])
    ratio = np.mean(ses) / np.std(gains, ddof=1)
    assert 0.85 < ratio < 1.15, ratio
    # ignoring the seed component would understate it here
    assert np.mean(problem_only) / np.std(gains, ddof=1) < 0.8


@pytest.mark.parametrize("nested", [False, True], ids=["seeds-crossed", "seeds-nested"])
def test_paired_gain_with_several_base_models_matches_monte_carlo_spread(nested):
    """Three base models × three seeds × problems, with base-model effects: the mean estimated SE
    is close to the observed spread of the gain whether a seed's effect is shared by the bases
    (crossed) or not (nested), and an SE that treats the nine runs as seeds of one base
    understates it."""
    rng = np.random.default_rng(2)
    nb, s, n = 3, 3, 200
    gains, ses, as_seeds = [], [], []
    for _ in range(400):
        difficulty = rng.normal(size=n)
        base_shift = rng.normal(scale=0.5, size=nb)[:, None]
        seed_shift = rng.normal(scale=0.3, size=(nb, s) if nested else (1, s))
        shift = (base_shift + seed_shift)[:, :, None]
        pa = 1 / (1 + np.exp(-(difficulty + 0.3 + shift)))
        pb = 1 / (1 + np.exp(-difficulty))[None, None]
        a, b = rng.random((nb, s, n)) < pa, rng.random((nb, s, n)) < pb
        g = paired_gain(a, b)
        gains.append(g["gain"])
        ses.append(g["se"])
        as_seeds.append(paired_gain(a.reshape(nb * s, n), b.reshape(nb * s, n))["se"])
        assert g["n_bases"] == nb and np.shape(g["per_run"]) == (nb, s)
    spread = np.std(gains, ddof=1)
    assert 0.85 < np.mean(ses) / spread < 1.15, np.mean(ses) / spread
    assert np.mean(as_seeds) / spread < 0.8


def test_paired_gain_with_one_base_model_is_the_two_way_formula():
    rng = np.random.default_rng(3)
    a, b = rng.random((4, 300)) < 0.6, rng.random((4, 300)) < 0.5
    assert paired_gain(a[None], b[None]) == paired_gain(a, b)
    assert paired_gain(a, b)["se_bases"] == 0 and paired_gain(a, b)["n_bases"] == 1


def test_paired_gain_zero_differences_get_a_floor():
    a = np.zeros((2, 50))
    g = paired_gain(a, a)
    assert g["gain"] == 0 and g["se"] == pytest.approx(100 / 100)


def test_runner_package_imports_without_torch():
    code = ("import sys, scalefit.runner, scalefit.runner.cli, scalefit.runner.sweep; "
            "import argparse; p = argparse.ArgumentParser(); "
            "scalefit.runner.cli.add_arguments(p); p.parse_args(['--preset', 'small']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
