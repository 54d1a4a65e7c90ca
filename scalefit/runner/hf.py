"""transformers causal LMs behind the runner's model interface; LoRA through peft.

``HFCausalLM`` wraps any ``AutoModelForCausalLM`` as a ``model.CausalLM`` (logits for a
left-padded batch with the runner's position ids, a ``transformers`` KV cache for ``generate``),
so SFT, OPSD and evaluation run on it unchanged. ``load_base`` loads a checkpoint (a local
directory or a hub name) frozen, in bfloat16 on CUDA by default; ``lora_student`` puts fresh
LoRA adapters on it and gives the teacher as the same model with its adapters disabled (no second
copy of the weights). ``char_tokenizer`` builds a character-level tokenizer with a chat template
locally, for random-init models made from a config (tests, benchmarks, the GPU check).
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from scalefit.errors import ScalefitError
from scalefit.runner.config import FORMAT_VERSION, LoraConfig
from scalefit.runner.model import CausalLM, positions

__all__ = ["HFCausalLM", "resolve_dtype", "model_info", "load_base", "lora_student",
           "adapter_state", "char_tokenizer", "CHATML"]


@dataclass
class _Cache:
    """A transformers KV cache and what the next step needs: the pad mask so far and the next
    positions."""

    past: object
    mask: torch.Tensor
    next_pos: torch.Tensor


class HFCausalLM(CausalLM):
    """A transformers causal LM as a ``CausalLM``. With ``adapters_off`` every call runs with
    the (peft) model's adapters disabled: the initial policy of a LoRA run."""

    def __init__(self, hf, adapters_off: bool = False):
        super().__init__()
        self.hf, self.adapters_off = hf, adapters_off
        self.max_positions = getattr(hf.config, "max_position_embeddings", None) or 1 << 30
        inner = hf.get_base_model() if hasattr(hf, "get_base_model") else hf
        self._keeps_logits = "logits_to_keep" in inspect.signature(inner.forward).parameters

    def _run(self, last: int | None = None, **inputs):
        if self._keeps_logits:
            inputs["logits_to_keep"] = last or 0
        with self.hf.disable_adapter() if self.adapters_off else nullcontext():
            out = self.hf(**inputs)
        return out, out.logits if last is None or self._keeps_logits else out.logits[:, -last:]

    def forward(self, idx, pad_mask=None, last: int | None = None):
        if pad_mask is None:
            pad_mask = torch.ones_like(idx, dtype=torch.bool)
        return self._run(last, input_ids=idx, attention_mask=pad_mask.long(),
                         position_ids=positions(pad_mask), use_cache=False)[1]

    def start(self, prompt, prompt_mask, max_len: int):
        mask = prompt_mask.long()
        pos = positions(prompt_mask)
        out, logits = self._run(1, input_ids=prompt, attention_mask=mask, position_ids=pos,
                                use_cache=True)
        return logits[:, -1], _Cache(out.cache, mask, pos[:, -1:] + 1)

    def extend(self, cache: _Cache, tokens):
        cache.mask = torch.cat([cache.mask, torch.ones_like(cache.mask[:, :1])], dim=1)
        out, logits = self._run(1, input_ids=tokens[:, None], attention_mask=cache.mask,
                                position_ids=cache.next_pos, cache=cache.past, use_cache=True)
        cache.past, cache.next_pos = out.cache, cache.next_pos + 1
        return logits[:, -1]


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` → bfloat16 on CUDA, float32 elsewhere; ``float32`` / ``bfloat16`` as named."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in ("float32", "bfloat16"):
        raise ScalefitError(f"unknown dtype {name!r}; use auto, float32 or bfloat16")
    return getattr(torch, name)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def _load_config(name: str):
    path = Path(name).expanduser()
    local = path.exists() or name.startswith(("/", ".", "~"))
    if local and not (path / "config.json").is_file():
        raise ScalefitError(f"model {name!r}: " + ("no config.json in that directory"
                                                   if path.is_dir() else "no such directory"))
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(path) if local else name)
    except Exception as err:  # noqa: BLE001 - offline, unknown repo, bad config: one line
        raise ScalefitError(f"model {name!r}: not a local directory with a config.json, and "
                            f"not loadable from the Hugging Face hub ({_first_line(err)})") from None


def model_info(name: str) -> dict:
    """A checkpoint's parameter count and what identifies it (for the base model's cache key),
    from its config alone: the model is built on the meta device, nothing is loaded.
    ScalefitError (one line) if ``name`` is neither a model directory nor a hub model, or its
    tokenizer cannot be loaded."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = _load_config(name)
    try:
        with torch.device("meta"):
            shell = AutoModelForCausalLM.from_config(config)
        AutoTokenizer.from_pretrained(name)
    except Exception as err:  # noqa: BLE001 - not a causal LM, no tokenizer: one line
        raise ScalefitError(f"model {name!r}: {_first_line(err)}") from None
    identity = {k: v for k, v in config.to_dict().items()
                if k not in ("_name_or_path", "transformers_version")}
    path = Path(name).expanduser()
    weights = ({p.name: p.stat().st_size for p in sorted(path.glob("*.safetensors"))
                + sorted(path.glob("*.bin"))} if path.is_dir() else
               getattr(config, "_commit_hash", None))
    return {"n_params": sum(p.numel() for p in shell.parameters()),
            "architecture": type(shell).__name__, "config": identity, "weights": weights}


def base_settings(name: str, info: dict, dtype: str) -> dict:
    """Everything that determines a transformers base model: the checkpoint (its config and its
    weight files' sizes, or its hub revision) and the dtype it is loaded in."""
    return {"format": FORMAT_VERSION, "model": name, "config": info["config"],
            "weights": info["weights"], "dtype": dtype}


def load_base(name: str, device: torch.device, dtype: str, *,
              gradient_checkpointing: bool = False,
              quiet: bool = False) -> tuple[HFCausalLM, object]:
    """The checkpoint ``name`` as a frozen ``HFCausalLM`` in eval mode on ``device``, and its
    tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    if quiet:
        logging.disable_progress_bar()

    try:
        hf = AutoModelForCausalLM.from_pretrained(name, dtype=resolve_dtype(dtype, device))
        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as err:  # noqa: BLE001
        raise ScalefitError(f"model {name!r}: {_first_line(err)}") from None
    hf.to(device).eval()
    if gradient_checkpointing:  # recompute activations in backward: long rollouts fit
        hf.activation_checkpointing_enable({"use_reentrant": False})
    for p in hf.parameters():
        p.requires_grad_(False)
    return HFCausalLM(hf), tokenizer


@contextmanager
def lora_student(base: HFCausalLM, lora: LoraConfig):
    """Fresh LoRA adapters (rank, alpha, dropout; every linear layer but the output head) on the
    base model: yields (student, teacher), the teacher being the same model with the adapters
    disabled. Leaving the block removes the adapters, so the base is as it was."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    peft_model = get_peft_model(base.hf, PeftLoraConfig(
        r=lora.rank, lora_alpha=lora.scale_alpha, lora_dropout=lora.dropout,
        target_modules="all-linear", task_type="CAUSAL_LM"))
    try:
        yield HFCausalLM(peft_model), HFCausalLM(peft_model, adapters_off=True)
    finally:
        peft_model.unload()


def adapter_state(student: HFCausalLM) -> dict:
    """The LoRA adapter weights of a student (what a LoRA run changed), on the CPU."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().cpu() for k, v in get_peft_model_state_dict(student.hf).items()}


# A ChatML chat template (the format of Qwen's instruct models).
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def char_tokenizer(alphabet: str, size: int | None = None):
    """A character-level fast tokenizer over ``alphabet`` (other characters become ``<unk>``),
    with ChatML's special tokens (eos ``<|im_end|>``) and chat template, built locally: for
    random-init models made from a config, nothing downloaded. ``size`` pads the vocabulary
    with unused tokens to a model's (any token a random model samples can be decoded)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
    tokens = specials + sorted(set(alphabet) - set(specials))
    tokens += [f"<unused{i}>" for i in range((size or 0) - len(tokens))]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<|im_start|>", eos_token="<|im_end|>")
    fast.chat_template = CHATML
    return fast
