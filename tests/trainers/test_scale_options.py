"""Scale options of the training stages: loads in the configured precision (TRL's policy and
reference, the base copy of real weights) and the Liger kernel switch."""

from __future__ import annotations

import importlib.util
import json
import struct

import pytest
import torch
from data_core.errors import ConfigError
from trainers import arguments
from trainers.arguments import training_kwargs
from trainers.config import ModelConfig, PreferenceConfig, PretrainConfig, SftConfig
from trainers.lifecycle import TrainingJob
from trainers.preference import pair_rows, preference_trainer
from trainers.pretrain import pretrain
from transformers import TrainingArguments

from tests.trainers.conftest import preferences


def safetensors_dtypes(path) -> set[str]:
    """The dtypes a safetensors file stores (from its JSON header)."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    return {v["dtype"] for k, v in header.items() if k != "__metadata__"}


@pytest.mark.parametrize(
    ("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)]
)
@pytest.mark.parametrize("loss", ["dpo", "kto"])
def test_trl_loads_policy_and_reference_in_the_configured_precision(
    loss, precision, dtype, tmp_path, tokenizer, tiny_model_dir
) -> None:
    # TRL defaults to float32 when model_init_kwargs names no dtype: bf16 must reach it
    cfg = PreferenceConfig(max_steps=1, max_length=64, precision=precision, output_dir="x")
    pairs = pair_rows(preferences(8), "train", None)
    factory = preference_trainer(loss, tiny_model_dir, tokenizer, pairs, [], cfg.for_loss(loss))
    on_cpu = {"use_cpu": True}  # transformers allows bf16 on a CPU only when told it is one
    trainer = factory(training_kwargs(cfg, tmp_path, tmp_path / "ck") | on_cpu, [])
    assert trainer.model.dtype == dtype
    assert trainer.ref_model.dtype == dtype


@pytest.mark.parametrize(("precision", "stored"), [("fp32", {"F32"}), ("bf16", {"BF16"})])
def test_the_base_copy_of_real_weights_is_saved_in_the_configured_precision(
    precision, stored, tmp_path, tokenizer, tiny_model_dir
) -> None:
    assert safetensors_dtypes(tiny_model_dir / "model.safetensors") == {"F32"}
    model_cfg = ModelConfig(base_path=str(tiny_model_dir))
    out = tmp_path / "base"
    job = TrainingJob(tmp_path, out, tmp_path / "ck", {})
    cfg = PretrainConfig(precision=precision)
    result = pretrain([], [], tokenizer, model_cfg, cfg, job)
    assert result.metrics["mode"] == "copied"
    assert safetensors_dtypes(out / "model.safetensors") == stored
    if precision == "fp32":  # the default copies the weights unchanged, byte for byte
        source = (tiny_model_dir / "model.safetensors").read_bytes()
        assert (out / "model.safetensors").read_bytes() == source


def test_liger_switch_reaches_the_training_arguments(monkeypatch, tmp_path) -> None:
    assert training_kwargs(SftConfig(), tmp_path, tmp_path)["use_liger_kernel"] is False
    real = importlib.util.find_spec
    installed = lambda name, *a: object() if name == "liger_kernel" else real(name, *a)  # noqa: E731
    monkeypatch.setattr(arguments.importlib.util, "find_spec", installed)
    kwargs = training_kwargs(SftConfig(use_liger_kernel=True), tmp_path, tmp_path / "ck")
    assert kwargs["use_liger_kernel"] is True
    assert TrainingArguments(**kwargs).use_liger_kernel is True


@pytest.mark.skipif(
    importlib.util.find_spec("liger_kernel") is not None, reason="liger-kernel is installed here"
)
@pytest.mark.parametrize(("cfg", "key"), [(SftConfig, "sft"), (PreferenceConfig, "preference")])
def test_liger_switch_without_liger_names_the_param(cfg, key, tmp_path) -> None:
    with pytest.raises(ConfigError, match=rf"params.yaml: {key}\.use_liger_kernel: .*liger-kernel"):
        training_kwargs(cfg(use_liger_kernel=True), tmp_path, tmp_path / "ck")
