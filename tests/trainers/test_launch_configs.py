"""The launch configs in configs/ are consistent: they cannot run here (no GPU), but every file
they name exists and parses (the profiles: tests/pipeline/test_profiles.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

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
