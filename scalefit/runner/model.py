"""The runner's model interface, and its own small decoder-only transformer (nanoGPT-style).

``CausalLM`` is what the training loop (``scalefit.runner.train``) asks of a model: logits for a
left-padded batch (``model(tokens, pad_mask, last=T)``: the last T positions' logits), and a KV
cache to continue prompts one token at a time (``start`` and ``extend``), on which ``generate``
is written once. ``GPT`` below implements it; ``scalefit.runner.hf.HFCausalLM`` implements it for
any ``transformers`` causal LM.

A ``GPT`` holds ``n_models`` models of one shape side by side: every weight has a leading model
axis, every linear layer is one batched matmul over the models, and the rows of a batch are
grouped by model (the first B rows go to model 0, the next B to model 1, …). Training K models
this way is K independent trainings computed together — the losses add up, so each model's
gradient is its own — at a fraction of the cost of K small models one after another (the
fine-tuning seeds of a size and its several base models; ``benchmarks/bench_runner.py``
measures the ratio). A transformers model is one model (``n_models`` = 1).

Batches of different prompt lengths are left-padded: ``pad_mask`` marks real tokens, positions
count real tokens only, and padded keys are masked out of attention, so a padded sequence gets
the same logits as the unpadded one. ``generate`` samples (or decodes greedily) with the KV
cache: each new token costs one single-position forward that attends over the cached keys and
values. ``use_cache=False`` recomputes the whole prefix at every step (the benchmark's baseline,
and a test checks that both give the same tokens).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from scalefit.runner.config import ModelConfig

__all__ = ["CausalLM", "GPT", "KVCache", "ModelConfig", "positions"]


def positions(pad_mask):
    """Position ids of a left-padded batch: real tokens count from 0 (padding gets 0)."""
    return (pad_mask.long().cumsum(1) - 1).clamp(min=0)


class CausalLM(nn.Module):
    """The model interface of the training loop. Subclasses set ``max_positions`` (and
    ``n_models`` when they hold several models, rows grouped by model) and implement
    ``forward(tokens, pad_mask=None, last=None)`` → logits (B, T or ``last``, V),
    ``start(prompt, prompt_mask, max_len)`` → (the last position's logits, a cache) and
    ``extend(cache, tokens)`` → the logits after appending ``tokens`` (B,) to the cache."""

    max_positions: int
    n_models: int = 1

    @torch.no_grad()
    def generate(self, prompt, prompt_mask, max_new_tokens: int, eos: int, *,
                 temperature: float = 1.0, greedy: bool = False, generators=None,
                 use_cache: bool = True):
        """Continue left-padded prompts (B, P). Returns the new tokens (B, T) and their mask
        (True up to and including each sequence's first ``eos``); T ≤ ``max_new_tokens``
        (generation stops when every sequence has ended). Sampling draws each model's rows
        from its own generator (``generators``: one per model, or None), so a model samples
        the same tokens whichever models it is stacked with."""
        b, p = prompt.shape
        device = prompt.device
        groups = torch.arange(b, device=device).chunk(self.n_models)
        generators = generators or [None] * self.n_models
        max_new_tokens = min(max_new_tokens, self.max_positions - p)
        out = torch.full((b, max_new_tokens), eos, dtype=torch.long, device=device)
        alive = torch.zeros(b, max_new_tokens, dtype=torch.bool, device=device)
        done = torch.zeros(b, dtype=torch.bool, device=device)
        if use_cache:
            logits, cache = self.start(prompt, prompt_mask, p + max_new_tokens)
        else:
            logits = self(prompt, prompt_mask, last=1)[:, -1]
        n = 0
        for n in range(max_new_tokens):
            if greedy:
                nxt = logits.argmax(-1)
            else:
                probs = F.softmax(logits.float() / temperature, dim=-1)
                nxt = torch.full((b,), eos, dtype=torch.long, device=device)
                for rows, g in zip(groups, generators):
                    if not done[rows].all():  # a model alone would have stopped drawing
                        nxt[rows] = torch.multinomial(probs[rows], 1, generator=g).squeeze(1)
            nxt = torch.where(done, eos, nxt)
            alive[:, n] = ~done
            out[:, n] = nxt
            done = done | (nxt == eos)
            if bool(done.all()) or n == max_new_tokens - 1:
                break
            if use_cache:
                logits = self.extend(cache, nxt)
            else:
                seq = torch.cat([prompt, out[:, :n + 1]], dim=1)
                mask = torch.cat([prompt_mask, torch.ones_like(alive[:, :n + 1])], dim=1)
                logits = self(seq, mask, last=1)[:, -1]
        return out[:, :n + 1], alive[:, :n + 1]


class KVCache:
    """Preallocated keys and values (layer, B, H, T_max, head dim) and the pad mask of the
    positions written so far; ``length`` is the number of positions filled."""

    def __init__(self, cfg: ModelConfig, batch: int, max_len: int, device, dtype):
        hd = cfg.n_embd // cfg.n_head
        shape = (cfg.n_layer, batch, cfg.n_head, max_len, hd)
        self.k = torch.empty(shape, device=device, dtype=dtype)
        self.v = torch.empty(shape, device=device, dtype=dtype)
        self.mask = torch.zeros(batch, max_len, dtype=torch.bool, device=device)
        self.length = 0


class Linear(nn.Module):
    """``nn.Linear`` for K models side by side: weight (K, in, out), input (K, …, in)."""

    def __init__(self, n_models: int, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_models, d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(n_models, d_out)) if bias else None

    def forward(self, x):
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        y = (torch.bmm(flat, self.weight) if self.bias is None
             else torch.baddbmm(self.bias[:, None], flat, self.weight))
        return y.view(*x.shape[:-1], -1)


class LayerNorm(nn.Module):
    """``nn.LayerNorm`` for K models side by side: weight and bias (K, d), input (K, …, d)."""

    def __init__(self, n_models: int, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_models, d))
        self.bias = nn.Parameter(torch.zeros(n_models, d))

    def forward(self, x):
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return F.layer_norm(x, x.shape[-1:]) * self.weight.view(shape) + self.bias.view(shape)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, n_models: int):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = Linear(n_models, cfg.n_embd, 3 * cfg.n_embd)
        self.proj = Linear(n_models, cfg.n_embd, cfg.n_embd)

    def forward(self, x, attn_mask, cache: KVCache | None = None, layer: int = 0):
        """``x`` (K, B, T, C); ``attn_mask`` (K·B, 1, T_q, T_k) is True where a query may
        attend."""
        k_models, b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=-1)
        q, k, v = (z.reshape(k_models * b, t, self.n_head, c // self.n_head).transpose(1, 2)
                   for z in (q, k, v))
        if cache is not None:
            start = cache.length
            cache.k[layer, :, :, start:start + t] = k
            cache.v[layer, :, :, start:start + t] = v
            k = cache.k[layer, :, :, :start + t]
            v = cache.v[layer, :, :, :start + t]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(y.transpose(1, 2).reshape(k_models, b, t, c))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, n_models: int):
        super().__init__()
        self.ln1, self.ln2 = LayerNorm(n_models, cfg.n_embd), LayerNorm(n_models, cfg.n_embd)
        self.attn = SelfAttention(cfg, n_models)
        self.fc = Linear(n_models, cfg.n_embd, 4 * cfg.n_embd)
        self.out = Linear(n_models, 4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x, attn_mask, cache=None, layer=0):
        x = x + self.attn(self.ln1(x), attn_mask, cache, layer)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(CausalLM):
    """``n_models`` GPTs of one shape (pre-LayerNorm blocks, GELU MLP × 4, learned positions,
    the output head tied to the token embedding, as in GPT-2). Model k is initialised from
    ``seeds[k]`` (default: torch's global generator), so it starts from the same weights in
    any stack."""

    def __init__(self, cfg: ModelConfig, n_models: int = 1, seeds: list[int] | None = None):
        super().__init__()
        self.cfg, self.n_models = cfg, n_models
        self.max_positions = cfg.block_size
        self.wte = nn.Parameter(torch.empty(n_models, cfg.vocab_size, cfg.n_embd))
        self.wpe = nn.Parameter(torch.empty(n_models, cfg.block_size, cfg.n_embd))
        self.blocks = nn.ModuleList(Block(cfg, n_models) for _ in range(cfg.n_layer))
        self.ln_f = LayerNorm(n_models, cfg.n_embd)
        if seeds is not None and len(seeds) != n_models:
            raise ValueError(f"{n_models} models need {n_models} seeds, got {len(seeds)}")
        for k in range(n_models):
            gen = None if seeds is None else torch.Generator().manual_seed(seeds[k])
            self._init(k, gen)

    @torch.no_grad()
    def _init(self, k: int, gen):
        """GPT-2's initialisation of model k: N(0, 0.02) weights and embeddings, the residual
        projections scaled down by sqrt(2 · layers), zero biases, unit LayerNorms."""
        for name, p in self.named_parameters():
            matrix = p.dim() == 3  # linear weights and embeddings (biases and norms have 2)
            if matrix:
                residual = name.endswith(("proj.weight", "out.weight"))
                std = 0.02 / math.sqrt(2 * self.cfg.n_layer) if residual else 0.02
                p[k].normal_(0.0, std, generator=gen)

    def n_params(self) -> int:
        """Parameters of one model."""
        return sum(p.numel() for p in self.parameters()) // self.n_models

    def model_state(self, k: int) -> dict:
        """Model k's weights (each without the model axis): what a checkpoint of one model
        keeps."""
        return {name: p[k].detach().clone() for name, p in self.named_parameters()}

    @classmethod
    def stack(cls, cfg: ModelConfig, states: list[dict]) -> "GPT":
        """The models of ``states`` (``model_state`` output) side by side, in that order."""
        model = cls(cfg, n_models=len(states), seeds=[0] * len(states))  # weights replaced below
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(torch.stack([s[name] for s in states]))
        return model

    def select(self, models: list[int]) -> "GPT":
        """A new stack of copies of the given models (repeats allowed), on the same device."""
        device = self.wte.device
        return GPT.stack(self.cfg, [self.model_state(k) for k in models]).to(device)

    def _embed(self, table, idx):
        """Rows of each model's ``table`` (K, N, C) at ``idx`` (K·B, T) → (K, B, T, C)."""
        k_models, n, c = table.shape
        offset = torch.arange(k_models, device=idx.device).repeat_interleave(
            idx.shape[0] // k_models) * n
        return F.embedding(idx + offset[:, None], table.reshape(-1, c)).view(
            k_models, -1, idx.shape[1], c)

    def forward(self, idx, pad_mask=None, cache: KVCache | None = None, last: int | None = None):
        """Logits (K·B, T, V) for tokens ``idx`` (K·B, T), rows grouped by model, or of the
        ``last`` positions only; ``pad_mask`` (K·B, T) is True on real tokens (default: all).
        With a ``cache`` the tokens continue the cached positions and are appended to it."""
        b, t = idx.shape
        if pad_mask is None:
            pad_mask = torch.ones(b, t, dtype=torch.bool, device=idx.device)
        past = 0 if cache is None else cache.length
        if cache is not None:
            cache.mask[:, past:past + t] = pad_mask
            full_mask = cache.mask[:, :past + t]
        else:
            full_mask = pad_mask
        t_all = past + t
        pos = positions(full_mask)[:, past:]
        causal = torch.ones(t, t_all, dtype=torch.bool, device=idx.device).tril(past)
        attn_mask = causal[None, None] & full_mask[:, None, None, :]
        # a padded query row would attend to nothing; let it see itself so softmax stays finite
        own = torch.zeros(t, t_all, dtype=torch.bool, device=idx.device)
        own[torch.arange(t), torch.arange(past, t_all)] = True
        attn_mask = attn_mask | own[None, None]
        x = self._embed(self.wte, idx) + self._embed(self.wpe, pos)
        for i, block in enumerate(self.blocks):
            x = block(x, attn_mask, cache, i)
        if cache is not None:
            cache.length += t
        if last is not None:
            x = x[:, :, -last:]
        x = self.ln_f(x)
        logits = torch.bmm(x.reshape(self.n_models, -1, x.shape[-1]), self.wte.transpose(1, 2))
        return logits.view(b, x.shape[2], -1)

    def start(self, prompt, prompt_mask, max_len: int):
        cache = KVCache(self.cfg, prompt.shape[0], max_len, prompt.device, self.wte.dtype)
        return self(prompt, prompt_mask, cache, last=1)[:, -1], cache

    def extend(self, cache: KVCache, tokens):
        step_mask = torch.ones(tokens.shape[0], 1, dtype=torch.bool, device=tokens.device)
        return self(tokens[:, None], step_mask, cache)[:, -1]
