"""The OPSD runner: small, real On-Policy Self-Distillation experiments that write gain tables.

Importing this package does not import torch (the analysis side never needs it); torch is
imported when a run starts. Modules:

- ``config``: ``TaskConfig``, ``ModelConfig`` (the size family ``SIZES``), ``TrainConfig``,
  ``RunConfig`` and the presets ``PRESETS`` (smoke, small, gpu) — no torch;
- ``task``: the synthetic reasoning task (sum K numbers with running sums) and its tokenizer;
- ``model``: the nanoGPT-style transformer with a KV cache;
- ``losses``: generalised JSD_β (chunked), the sampled-token policy-gradient loss (eq. 9);
- ``train``: pretraining, SFT, OPSD (seed 002, Algorithm 1), evaluation;
- ``stats``: the paired standard error of a gain over problems and seeds — no torch;
- ``sweep``: ``run_size`` (one size, resumable), ``size_rows`` (its gain-table rows),
  ``run_sweep`` (sizes through an executor; writes the tables and manifest);
- ``cli``: ``scalefit run``.

Example::

    from scalefit.runner import PRESETS, run_sweep
    gains_csv = run_sweep(PRESETS["smoke"], "runs/smoke", workers=2)
"""

from scalefit.runner.config import (PRESETS, SIZES, ModelConfig, RunConfig, TaskConfig,
                                    TrainConfig, compute_cost, resolve_size, shape_for_params)
from scalefit.runner.stats import paired_gain
from scalefit.runner.sweep import run_size, run_sweep, size_rows, write_tables

__all__ = ["PRESETS", "SIZES", "ModelConfig", "RunConfig", "TaskConfig", "TrainConfig",
           "compute_cost", "resolve_size", "shape_for_params", "paired_gain", "run_size", "run_sweep",
           "size_rows", "write_tables"]
