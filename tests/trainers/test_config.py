"""Params validation: a bad value is a ConfigError naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_core.config import load_params
from data_core.errors import ConfigError
from data_core.paths import stage_paths
from trainers.config import LOSSES, SECTIONS, parse

ROOT = Path(__file__).resolve().parents[2]


def test_repo_params_are_valid() -> None:
    params = load_params(ROOT / "params.yaml")
    for section in SECTIONS:
        parse(params, section)
    pref = parse(params, "preference")
    outputs = {pref.for_loss(loss).output_dir for loss in LOSSES}
    assert outputs == {"models/dpo", "models/kto", "models/nca"}


def test_output_dirs_agree_with_params_paths() -> None:
    """The stages save where params `paths:` says; `output_dir` is what the card's recipe shows."""
    params = load_params(ROOT / "params.yaml")
    paths = stage_paths(params, ROOT)
    assert parse(params, "pretrain").output_dir == paths.relative("models.base")
    assert parse(params, "sft").output_dir == paths.relative("models.sft")
    pref = parse(params, "preference")
    for loss in LOSSES:
        assert pref.for_loss(loss).output_dir == f"{paths.relative('models.preference')}/{loss}"


@pytest.mark.parametrize(
    ("section", "raw", "message"),
    [
        ("sft", {"learning_rate": -1.0}, "params.yaml: sft.learning_rate: Input should be greater"),
        ("sft", {"learning_rat": 1e-3}, "params.yaml: sft.learning_rat: unknown key"),
        ("sft", {"precision": "fp8"}, "params.yaml: sft.precision: Input should be 'fp32', 'bf16'"),
        ("pretrain", {"knowledge": {"variants": 0}}, "params.yaml: pretrain.knowledge.variants:"),
        ("preference", {"dpo": {"beta": 0}}, "params.yaml: preference.dpo.beta:"),
        ("model", {"num_attention_heads": 6, "num_key_value_heads": 4},
         "num_attention_heads must be divisible by num_key_value_heads"),
        ("tokenizer", {"vocab_size": 10}, "params.yaml: tokenizer.vocab_size:"),
    ],
)  # fmt: skip
def test_bad_values_name_the_key(section: str, raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse({section: raw}, section)
    assert message in str(err.value)


def test_missing_section() -> None:
    with pytest.raises(ConfigError, match="missing section 'sft'"):
        parse({}, "sft")
