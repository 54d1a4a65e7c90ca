"""The runner's model interface, and its own small decoder-only transformer (nanoGPT-style).

``CausalLM`` is what the training loop (``scalefit.runner.train``) asks of a model: logits for a
left-padded batch (``model(tokens, pad_mask, last=T)``: the last T positions' logits), and a KV
cache to continue prompts one token at a time (``start`` and ``extend``), on which ``generate``
is written once. ``GPT`` below implements it; ``scalefit.runner.hf.HFCausalLM`` implements it for
any ``transformers`` causal LM.

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
    """The model interface of the training loop. Subclasses set ``max_positions`` and implement
    ``forward(tokens, pad_mask=None, last=None)`` → logits (B, T or ``last``, V),
    ``start(prompt, prompt_mask, max_len)`` → (the last position's logits, a cache) and
    ``extend(cache, tokens)`` → the logits after appending ``tokens`` (B,) to the cache."""

    max_positions: int

    @torch.no_grad()
    def generate(self, prompt, prompt_mask, max_new_tokens: int, eos: int, *,
                 temperature: float = 1.0, greedy: bool = False, generator=None,
                 use_cache: bool = True):
        """Continue left-padded prompts (B, P). Returns the new tokens (B, T) and their mask
        (True up to and including each sequence's first ``eos``); T ≤ ``max_new_tokens``
        (generation stops when every sequence has ended)."""
        b, p = prompt.shape
        device = prompt.device
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
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
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


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x, attn_mask, cache: KVCache | None = None, layer: int = 0):
        """``attn_mask`` (B, 1, T_q, T_k) is True where a query may attend."""
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            start = cache.length
            cache.k[layer, :, :, start:start + t] = k
            cache.v[layer, :, :, start:start + t] = v
            k = cache.k[layer, :, :, :start + t]
            v = cache.v[layer, :, :, :start + t]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = SelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd))

    def forward(self, x, attn_mask, cache=None, layer=0):
        x = x + self.attn(self.ln1(x), attn_mask, cache, layer)
        return x + self.mlp(self.ln2(x))


class GPT(CausalLM):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.max_positions = cfg.block_size
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.wte.weight  # weight tying, as in GPT-2
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, pad_mask=None, cache: KVCache | None = None, last: int | None = None):
        """Logits (B, T, V) for tokens ``idx`` (B, T), or of the ``last`` positions only;
        ``pad_mask`` (B, T) is True on real tokens (default: all). With a ``cache`` the tokens
        continue the cached positions and are appended to it."""
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
        x = self.wte(idx) + self.wpe(pos)
        for i, block in enumerate(self.blocks):
            x = block(x, attn_mask, cache, i)
        if cache is not None:
            cache.length += t
        if last is not None:
            x = x[:, -last:]
        return self.head(self.ln_f(x))

    def start(self, prompt, prompt_mask, max_len: int):
        cache = KVCache(self.cfg, prompt.shape[0], max_len, prompt.device, self.wte.weight.dtype)
        return self(prompt, prompt_mask, cache, last=1)[:, -1], cache

    def extend(self, cache: KVCache, tokens):
        step_mask = torch.ones(tokens.shape[0], 1, dtype=torch.bool, device=tokens.device)
        return self(tokens[:, None], step_mask, cache)[:, -1]
