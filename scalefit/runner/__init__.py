"""The OPSD runner: small, real On-Policy Self-Distillation experiments that write gain tables.

Importing this package does not import torch (the analysis side never needs it); torch is
imported when a run starts. Modules:

- ``config``: ``TaskConfig``, ``ModelConfig`` (the size family ``SIZES``), ``TrainConfig``,
  ``Reference``, ``ProblemsConfig``, ``LoraConfig``, ``RunConfig`` and the presets ``PRESETS``
  (tiny, smoke, study, small, latent, gpu, gsm8k) — no torch;
- ``task``: the synthetic reasoning task (sum K numbers with running sums) and its tokenizer;
- ``problems``: real problem sets (JSONL or hub datasets), chat prompts, math-verify grading;
- ``model``: the model interface ``CausalLM`` and the nanoGPT-style transformer with a KV cache,
  several models of one shape side by side;
- ``hf``: transformers causal LMs behind that interface, LoRA through peft;
- ``losses``: generalised JSD_β (chunked), the sampled-token policy-gradient loss (eq. 9);
- ``train``: pretraining, SFT, OPSD (the OPSD paper, Algorithm 1), evaluation — one loop for
  both kinds of model;
- ``results``: the typed results (an evaluation, a phase, a size) — no torch;
- ``stats``: the paired standard error of a gain over problems, seeds and base models — no
  torch;
- ``sweep``: ``run_size`` (one size or model, resumable), ``size_rows`` (its gain-table rows),
  ``run_sweep`` (sizes through an executor; writes the tables and manifest);
- ``cli``: ``scalefit run``.

Example::

    from scalefit.runner import PRESETS, run_sweep
    gains_csv = run_sweep(PRESETS["smoke"], "runs/smoke", workers=2)
"""

from scalefit.runner.config import (PRESETS, SIZES, LoraConfig, ModelConfig, ProblemsConfig,
                                    Reference, RunConfig, TaskConfig, TrainConfig, compute_cost,
                                    resolve_size, shape_for_params)
from scalefit.runner.stats import paired_gain
from scalefit.runner.sweep import run_size, run_sweep, size_rows, write_tables

__all__ = ["PRESETS", "SIZES", "LoraConfig", "ModelConfig", "ProblemsConfig", "Reference",
           "RunConfig", "TaskConfig", "TrainConfig",
           "compute_cost", "resolve_size", "shape_for_params", "paired_gain", "run_size", "run_sweep",
           "size_rows", "write_tables"]
