"""A small decoder-only transformer (nanoGPT-style) with a KV cache and left-padded batches.

Batches of different prompt lengths are left-padded: ``pad_mask`` marks real tokens, positions
count real tokens only, and padded keys are masked out of attention, so a padded sequence gets
the same logits as the unpadded one. ``generate`` samples (or decodes greedily) with a
preallocated KV cache: each new token costs one single-position forward that attends over the
cached keys and values. ``use_cache=False`` recomputes the whole prefix at every step (the
benchmark's baseline, and a test checks that both give the same tokens).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from scalefit.runner.config import ModelConfig

__all__ = ["GPT", "KVCache", "ModelConfig"]


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


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
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

    def forward(self, idx, pad_mask=None, cache: KVCache | None = None):
        """Logits (B, T, V) for tokens ``idx`` (B, T); ``pad_mask`` (B, T) is True on real
        tokens (default: all). With a ``cache`` the tokens continue the cached positions and
        are appended to it."""
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
        pos = (full_mask.long().cumsum(1) - 1).clamp(min=0)[:, past:]
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
        return self.head(self.ln_f(x))

    @torch.no_grad()
    def generate(self, prompt, prompt_mask, max_new_tokens: int, eos: int, *,
                 temperature: float = 1.0, greedy: bool = False, generator=None,
                 use_cache: bool = True):
        """Continue left-padded prompts (B, P). Returns the new tokens (B, T) and their mask
        (True up to and including each sequence's first ``eos``); T ≤ ``max_new_tokens``
        (generation stops when every sequence has ended)."""
        b, p = prompt.shape
        device = prompt.device
        max_new_tokens = min(max_new_tokens, self.cfg.block_size - p)
        out = torch.full((b, max_new_tokens), eos, dtype=torch.long, device=device)
        alive = torch.zeros(b, max_new_tokens, dtype=torch.bool, device=device)
        done = torch.zeros(b, dtype=torch.bool, device=device)
        cache = None
        if use_cache:
            cache = KVCache(self.cfg, b, p + max_new_tokens, device, self.wte.weight.dtype)
        logits = self(prompt, prompt_mask, cache)[:, -1]
        n = 0
        step_mask = torch.ones(b, 1, dtype=torch.bool, device=device)
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
                logits = self(nxt[:, None], step_mask, cache)[:, -1]
            else:
                seq = torch.cat([prompt, out[:, :n + 1]], dim=1)
                mask = torch.cat([prompt_mask, step_mask.expand(b, n + 1)], dim=1)
                logits = self(seq, mask)[:, -1]
        return out[:, :n + 1], alive[:, :n + 1]
