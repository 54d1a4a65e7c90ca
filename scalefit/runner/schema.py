"""The runner's gain tables, declared once: the writer (``sweep.write_tables``) and every reader
(``scalefit run``'s summary, the closed loop, the runner figures) use these names.

Three files per run folder: ``gains.csv`` (OPSD − SFT, distillable rows: the table to fit),
``gains_vs_base.csv`` (OPSD − base, distillable rows) and ``gains_all.csv`` (both comparisons,
every row, with a ``comparison`` column). The evaluation split (``id`` or ``ood``) travels in the
``benchmark`` column, so that ``scalefit fit --per-benchmark`` fits each split on its own
(synthetic task: ``ood`` has more terms; real problems: ``id`` is held out of the training set
or ``--eval-data``, ``ood`` is ``--ood-data``). ``eval_metric`` says which accuracy the gain is
of: ``greedy`` or ``avg@k``.
"""

from __future__ import annotations

import numpy as np

FILES = {"gains": "gains.csv", "gains_vs_base": "gains_vs_base.csv", "gains_all": "gains_all.csv"}

SPLIT = "benchmark"
SPLITS = {"id": "in-distribution problems", "ood": "out-of-distribution problems"}

COMPARISON = "comparison"
COMPARISONS = {"opsd-sft": "OPSD − SFT", "opsd-base": "OPSD − base"}
BASELINES = {"sft": "opsd-sft", "base": "opsd-base"}  # --baseline → comparison

COLUMNS = [
    "size_m", "gain", "se", SPLIT, "richness", "distillable", "param_count", "size_name",
    "show_answer", "show_sums", "teacher_advantage", "acc_base", "acc_teacher", "acc_sft",
    "acc_opsd", "accuracy_baseline",
    "se_base", "se_teacher", "se_sft", "se_opsd", "se_problems", "se_seeds", "se_bases",
    "n_problems", "n_seeds", "n_bases", "len_base", "len_sft", "len_opsd", "entropy_base", "entropy_sft",
    "entropy_opsd", "div_base", "div_sft", "div_opsd", "sft_seconds", "opsd_seconds",
    "opsd_tokens_generated", "div_at_base", "div_after_base", "opsd_loss_at",
    "opsd_loss_after", "opsd_first_disagreement", "note", "eval_metric",
]


def selected(rows, baseline: str, split: str, richness: float):
    """Boolean mask of ``rows`` (a ``gains_all.csv`` frame) for one comparison (``baseline``
    "sft" or "base"), one split and one richness level."""
    return ((rows[COMPARISON] == BASELINES[baseline]) & (rows[SPLIT] == split)
            & np.isclose(rows["richness"].astype(float), richness))
