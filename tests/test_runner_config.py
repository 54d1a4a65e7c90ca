"""Cache keys derived from the config (no torch): every setting that changes a phase's result
changes that phase's key, and nothing else does; the command line builds the configs it says."""

from __future__ import annotations

import argparse
from dataclasses import fields, replace

import pytest

from scalefit.errors import ScalefitError
from scalefit.runner import cli
from scalefit.runner.config import (PHASES, PRESETS, LoraConfig, ProblemsConfig, Reference,
                                    RunConfig, TaskConfig, TrainConfig, base_eval_settings,
                                    base_settings, finetune_settings, settings_key)

CFG = PRESETS["tiny"]
SIZE = CFG.sizes[0]


def _changed(value):
    """Another valid value of a setting's type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, tuple):
        return value + (value[-1] + 1,)
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return 0.5  # None: top_k, teacher_ema, micro_batch


def _keys(cfg: RunConfig) -> dict[str, str]:
    """Every cached phase's key for one size, one reference and one seed."""
    base = settings_key(base_settings(cfg, SIZE))
    ref = cfg.references()[0]
    return {"pretrain": base,
            "eval": settings_key(base_eval_settings(base, cfg, ref)),
            **{m: settings_key(finetune_settings(base, cfg, ref, 0, m)) for m in ("sft", "opsd")}}


@pytest.mark.parametrize("kind, part", [(TrainConfig, "train"), (TaskConfig, "task")])
def test_every_setting_changes_exactly_the_phases_it_declares(kind, part):
    """A new pretraining field cannot silently reuse a stale base model: each field names the
    phases it changes, and changing it changes those keys (and the keys built on them)."""
    before = _keys(CFG)
    for f in fields(kind):
        phases = f.metadata["phases"]  # every field must declare them
        assert set(phases) <= set(PHASES), f.name
        section = getattr(CFG, part)
        after = _keys(replace(CFG, **{part: replace(section, **{f.name: _changed(
            getattr(section, f.name))})}))
        moved = {phase for phase in before if before[phase] != after[phase]}
        # the base model's key is part of every later phase's settings, and a fine-tuning
        # checkpoint holds its evaluation
        expected = set(before) if "pretrain" in phases else set(phases)
        if "eval" in phases:
            expected |= {"sft", "opsd"}
        assert moved == expected, (f.name, moved, expected)


def test_reference_and_seed_change_the_finetuning_keys():
    base = settings_key(base_settings(CFG, SIZE))
    one = finetune_settings(base, CFG, Reference(0.0), 0, "opsd")
    assert settings_key(one) != settings_key(finetune_settings(base, CFG, Reference(0.5), 0, "opsd"))
    assert settings_key(one) != settings_key(
        finetune_settings(base, CFG, Reference(0.0, show_sums=False), 0, "opsd"))
    assert settings_key(one) != settings_key(finetune_settings(base, CFG, Reference(0.0), 1, "opsd"))
    lora = replace(CFG, lora=LoraConfig(8))
    assert settings_key(one) != settings_key(finetune_settings(base, lora, Reference(0.0), 0, "opsd"))


def _parse(*argv):
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return cli.config_from_args(p.parse_args(list(argv)))


def test_command_line_configs():
    cfg = _parse("--models", "a,b", "--data", "x.jsonl", "--lora", "8", "--steps", "3")
    assert cfg.real and cfg.units() == ("a", "b") and cfg.lora == LoraConfig(8)
    assert cfg.problems == ProblemsConfig("x.jsonl")  # --data replaces the preset's test set
    assert cfg.train.finetune_steps == 3 and cfg.train.lr == PRESETS["gsm8k"].train.lr
    assert _parse("--models", "a", "--data", "x.jsonl", "--lora", "0").lora is None
    assert _parse("--preset", "gsm8k").problems == PRESETS["gsm8k"].problems
    assert not _parse("--preset", "tiny").real
    with pytest.raises(ScalefitError, match="--sizes is the synthetic family"):
        _parse("--models", "a", "--data", "x.jsonl", "--sizes", "10k")
    with pytest.raises(ScalefitError, match="--hide-sums"):
        _parse("--models", "a", "--data", "x.jsonl", "--hide-sums")
    round_trip = RunConfig.from_dict(cfg.to_dict())
    assert round_trip == cfg
    study = _parse("--preset", "study", "--base-seeds", "3", "--pretrain-sloppy", "0.7")
    assert study.base_seeds == 3 and study.train.pretrain_sloppy == 0.7
    assert PRESETS["study"].base_seeds >= 2 and PRESETS["latent"].base_seeds >= 2


def test_wider_models_pretrain_at_a_smaller_learning_rate():
    from scalefit.runner.config import pretrain_peak_lr

    scaled = replace(CFG.train, pretrain_lr=3e-3, pretrain_lr_width=64)
    assert pretrain_peak_lr(scaled, 40) == pretrain_peak_lr(scaled, 64) == 3e-3
    assert pretrain_peak_lr(scaled, 128) == pytest.approx(1.5e-3)
    assert pretrain_peak_lr(replace(scaled, pretrain_lr_width=None), 128) == 3e-3
    assert _parse("--preset", "study", "--pretrain-lr-width", "32").train.pretrain_lr_width == 32


def test_base_models_have_their_own_seeds_and_keys():
    cfg = replace(CFG, base_seeds=3)
    keys = {settings_key(base_settings(cfg, SIZE, b)) for b in range(3)}
    assert len(keys) == 3
    assert base_settings(cfg, SIZE, 0) == base_settings(CFG, SIZE)  # base 0 is the one base


def test_several_base_models_of_a_checkpoint_are_refused():
    from scalefit.runner.sweep import check_run

    cfg = _parse("--models", "a", "--data", "x.jsonl", "--base-seeds", "2")
    with pytest.raises(ScalefitError, match="--base-seeds .* one base model"):
        check_run(cfg)
