"""OPSD objectives (the OPSD paper, eq. 6-9) on per-position logits of the student's own rollout.

``generalized_jsd`` is eq. 7 per position over the full vocabulary:

    JSD_β(p_T ‖ p_S) = β KL(p_T ‖ m) + (1 − β) KL(p_S ‖ m),   m = β p_T + (1 − β) p_S,

which is 0 at β = 0 and 1 by construction; as in TRL's GKD (``generalized_jsd_loss``) β = 0 is
taken to mean the forward KL(p_T ‖ p_S) and β = 1 the reverse KL(p_S ‖ p_T). ``opsd_loss`` averages
it over each rollout's valid tokens (1/|ŷ| Σ_n, eq. 6) and then over the batch (Algorithm 1), in
chunks of positions recomputed in the backward pass, so that beyond the gradient itself memory
does not grow with rollout length; each chunk is computed in at least float32 (bfloat16 logits of
a transformers model are upcast a chunk at a time). The teacher's logits are a constant
(gradients reach the student only).
``policy_gradient_loss`` is the sampled-token variant of eq. 9.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from scalefit.runner.results import Regions


def _restrict_top_k(student_logits, teacher_logits, top_k: int | None):
    """Keep the teacher's top-k tokens in both distributions (renormalised), as the official
    OPSD code does; None keeps the full vocabulary."""
    if top_k is None or top_k >= teacher_logits.shape[-1]:
        return student_logits, teacher_logits
    keep = torch.zeros_like(teacher_logits, dtype=torch.bool)
    keep.scatter_(-1, teacher_logits.topk(top_k, dim=-1).indices, True)
    neg = torch.finfo(student_logits.dtype).min
    return student_logits.masked_fill(~keep, neg), teacher_logits.masked_fill(~keep, neg)


def generalized_jsd(student_logits, teacher_logits, beta: float, *, temperature: float = 1.0,
                    top_k: int | None = None):
    """Per-position JSD_β(p_T ‖ p_S) over the last (vocabulary) axis (eq. 7)."""
    s, t = _restrict_top_k(student_logits / temperature, teacher_logits / temperature, top_k)
    log_s, log_t = F.log_softmax(s, dim=-1), F.log_softmax(t, dim=-1)
    p_s, p_t = log_s.exp(), log_t.exp()
    if beta == 0.0:
        return (p_t * (log_t - log_s)).sum(-1)
    if beta == 1.0:
        return (p_s * (log_s - log_t)).sum(-1)
    log_m = torch.logsumexp(torch.stack([log_t + math.log(beta), log_s + math.log(1 - beta)]), 0)
    kl_t = (p_t * (log_t - log_m)).sum(-1)
    kl_s = (p_s * (log_s - log_m)).sum(-1)
    return beta * kl_t + (1 - beta) * kl_s


class _ChunkedDivergence(torch.autograd.Function):
    """Per rollout b, Σ_n w_{bn} JSD_β(b, n), computed ``step`` positions at a time in forward
    (no graph kept) and recomputed chunk by chunk in backward, each chunk's gradient written
    into one preallocated buffer: beyond that gradient, memory does not grow with rollout
    length. (Autograd through slices would allocate a full-size zero gradient for every chunk.)"""

    @staticmethod
    def forward(ctx, student_logits, teacher_logits, weights, beta, temperature, top_k, step):
        ctx.save_for_backward(student_logits, teacher_logits, weights)
        ctx.options = (beta, temperature, top_k, step)
        total = weights.new_zeros(weights.shape[0])
        for a in range(0, student_logits.shape[1], step):
            div = generalized_jsd(_wide(student_logits[:, a:a + step]),
                                  _wide(teacher_logits[:, a:a + step]), beta,
                                  temperature=temperature, top_k=top_k)
            total += (div * weights[:, a:a + step]).sum(1)
        return total

    @staticmethod
    def backward(ctx, grad_output):
        student_logits, teacher_logits, weights = ctx.saved_tensors
        beta, temperature, top_k, step = ctx.options
        grad = torch.empty_like(student_logits)
        for a in range(0, student_logits.shape[1], step):
            with torch.enable_grad():
                s = _wide(student_logits[:, a:a + step]).detach().requires_grad_(True)
                div = generalized_jsd(s, _wide(teacher_logits[:, a:a + step]), beta,
                                      temperature=temperature, top_k=top_k)
                (g,) = torch.autograd.grad((div * weights[:, a:a + step]).sum(), s)
            grad[:, a:a + step] = g * grad_output[:, None, None]
        return grad, None, None, None, None, None, None


def _wide(logits):
    """Logits in at least float32 (a chunk of bfloat16 logits is upcast; float64 stays)."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def _chunks(width: int, chunk_size: int | None):
    step = chunk_size or width
    return [slice(a, a + step) for a in range(0, width, step)]


@torch.no_grad()
def token_jsd(student_logits, teacher_logits, beta: float = 0.5, chunk_size: int | None = 32):
    """Per-position JSD_β (B, T) in float32, ``chunk_size`` positions at a time (a diagnostic:
    no gradient, and no full-size float32 copy of bfloat16 logits)."""
    return torch.cat([generalized_jsd(student_logits[:, c].float(), teacher_logits[:, c].float(),
                                      beta) for c in _chunks(student_logits.shape[1], chunk_size)],
                     1)


@torch.no_grad()
def token_entropy(logits, chunk_size: int | None = 32):
    """Per-position entropy (B, T) of ``logits`` in float32, ``chunk_size`` positions at a time."""
    out = []
    for c in _chunks(logits.shape[1], chunk_size):
        logp = F.log_softmax(logits[:, c].float(), -1)
        out.append(-(logp.exp() * logp).sum(-1))
    return torch.cat(out, 1)


def token_weights(mask, keep=None, dtype=torch.float32):
    """Eq. 6's weights: each valid token 1/|ŷ| within its rollout; tokens outside ``keep`` (if
    given) weigh 0 without renormalising the others."""
    m = mask.to(dtype)
    w = m / m.sum(1, keepdim=True).clamp(min=1)
    return w if keep is None else w * keep


def _reduce(per_rollout, reduction: str):
    """Algorithm 1's mean over rollouts (``"mean"``), or each rollout's loss (``"none"``)."""
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return per_rollout.mean() if reduction == "mean" else per_rollout


def first_disagreement(student_logits, teacher_logits, mask):
    """Per rollout, the first valid position where the student's and the teacher's most likely
    tokens differ (the rollout width T where they never do)."""
    differ = (student_logits.argmax(-1) != teacher_logits.argmax(-1)) & mask
    pos = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return torch.where(differ, pos, mask.shape[1]).min(1).values


def divergence_regions(student_logits, teacher_logits, mask, beta: float = 0.5, *,
                       first=None, divergence=None) -> Regions:
    """Where the divergence mass lies relative to each rollout's first argmax disagreement:
    shares ``before``, ``at`` and ``after`` of Σ weights × JSD_β (eq. 6 weights), the mean
    first disagreement as a share of the rollout length (1 where none), and the share of
    rollouts without any disagreement. ``first`` (``first_disagreement``) and ``divergence``
    (the per-token JSD_β, float32) are reused when the caller already has them."""
    with torch.no_grad():
        if first is None:
            first = first_disagreement(student_logits, teacher_logits, mask)
        if divergence is None:
            divergence = token_jsd(student_logits, teacher_logits, beta)
        pos = torch.arange(mask.shape[1], device=mask.device)[None]
        mass = divergence * token_weights(mask)
        total = mass.sum().clamp(min=1e-12)
        n = mask.sum(1).clamp(min=1)
        return Regions(before=float(mass[pos < first[:, None]].sum() / total),
                       at=float(mass[pos == first[:, None]].sum() / total),
                       after=float(mass[pos > first[:, None]].sum() / total),
                       first_position=float((first.clamp(max=n) / n).mean()),
                       no_disagreement=float((first == mask.shape[1]).float().mean()))


def opsd_loss(student_logits, teacher_logits, mask, beta: float = 0.5, *,
              temperature: float = 1.0, top_k: int | None = None, chunk_size: int | None = 32,
              keep=None, reduction: str = "mean"):
    """Eq. 6 and Algorithm 1: mean over the batch of each rollout's mean per-token JSD_β
    (``reduction="none"``: each rollout's, shape (B,)).

    ``student_logits`` and ``teacher_logits`` are (B, T, V) at the rollout's positions and
    ``mask`` (B, T) marks its valid tokens; ``keep`` (B, T), if given, zeroes the loss of the
    other tokens (the 1/|ŷ| normalisation is unchanged). With ``chunk_size`` the divergence is
    computed ``chunk_size`` positions at a time, in forward and again in backward
    (``_ChunkedDivergence``).
    """
    teacher_logits = teacher_logits.detach()
    weights = token_weights(mask, keep, torch.promote_types(student_logits.dtype, torch.float32))
    if chunk_size:
        per_rollout = _ChunkedDivergence.apply(student_logits, teacher_logits, weights, beta,
                                               temperature, top_k, chunk_size)
    else:
        per_rollout = (generalized_jsd(_wide(student_logits), _wide(teacher_logits), beta,
                                       temperature=temperature, top_k=top_k) * weights).sum(1)
    return _reduce(per_rollout, reduction)


def policy_gradient_loss(student_logits, teacher_logits, tokens, mask, *,
                         temperature: float = 1.0, keep=None, reduction: str = "mean"):
    """Eq. 9: −mean over rollouts of (1/|ŷ|) Σ_n A_n log p_S(ŷ_n), with the advantage
    A_n = log p_T(ŷ_n) − log p_S(ŷ_n) held constant (no gradient through it); ``keep`` and
    ``reduction`` as in ``opsd_loss``."""
    log_s = F.log_softmax(_wide(student_logits) / temperature, -1).gather(-1, tokens[..., None])[..., 0]
    log_t = F.log_softmax(_wide(teacher_logits.detach()) / temperature, -1).gather(
        -1, tokens[..., None])[..., 0]
    advantage = (log_t - log_s).detach()
    return _reduce(-(advantage * log_s * token_weights(mask, keep, log_s.dtype)).sum(1),
                   reduction)
