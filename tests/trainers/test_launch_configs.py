"""The launch configs in configs/ are consistent: they cannot run here (no GPU), but every file
they name exists and parses, and the full-scale profile only sets keys params.yaml accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from data_core.config import load_params
from trainers.config import SECTIONS, parse

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE = sorted((ROOT / "configs/accelerate").glob("*.yaml"))


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_config_points_at_a_valid_deepspeed_file(path: Path) -> None:
    cfg = yaml.safe_load(path.read_text())
    assert cfg["num_processes"] >= 1 and cfg["num_machines"] >= 1
    if cfg["distributed_type"] != "DEEPSPEED":
        return
    ds_path = ROOT / cfg["deepspeed_config"]["deepspeed_config_file"]
    ds = json.loads(ds_path.read_text())
    assert f"zero{ds['zero_optimization']['stage']}" in path.stem  # zero2.yaml -> stage 2
    # batch sizes and precision are "auto": TrainingArguments (from params) fill them in
    for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps"):
        assert ds[key] == "auto"
    assert ds["bf16"]["enabled"] == "auto"


def test_full_scale_profile_is_valid_params() -> None:
    params = load_params(ROOT / "params.yaml")
    profile = yaml.safe_load((ROOT / "configs/profiles/llama3-8b-8gpu.yaml").read_text())
    for section, values in profile.items():
        assert section in SECTIONS, f"profile section {section!r} is not a trainers section"
        merged = {**params, section: {**params[section], **values}}
        cfg = parse(merged, section)
        if getattr(cfg, "deepspeed", None):
            assert (ROOT / cfg.deepspeed).is_file()
    assert parse({**params, "sft": {**params["sft"], **profile["sft"]}}, "sft").max_steps == -1
