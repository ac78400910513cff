"""ZeRO-3 partitions at load: with a ZeRO-3 config every training path creates its model while
`is_deepspeed_zero3_enabled()` is true, so from_pretrained / from_config go through
deepspeed.zero.Init and no rank materialises the whole model."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from trainers.pretrain import new_model

from tests.trainers.conftest import TINY_MODEL

ROOT = Path(__file__).resolve().parents[2]
PATHS = (
    "pretrain_random_init",
    "sft",
    "dpo_policy",
    "dpo_separate_reference",
    "kto_policy",
    "reward_model",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _deepspeed_or_skip() -> None:
    if importlib.util.find_spec("deepspeed") is None:
        pytest.skip(
            "deepspeed is not installed (it comes with the gpu extra, `uv sync --extra gpu`; "
            "on a CPU host: DS_BUILD_OPS=0 uv pip install --no-build-isolation deepspeed)"
        )
    probe = subprocess.run(
        [sys.executable, "-c", "import deepspeed"], capture_output=True, text=True, timeout=300
    )
    if probe.returncode:
        last = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"deepspeed is installed but does not import on this host: {last}")


def test_every_training_path_creates_its_model_partitioned_under_zero3(tmp_path, tokenizer) -> None:
    _deepspeed_or_skip()
    whole = new_model(TINY_MODEL, tokenizer).num_parameters()  # the probe's model, unpartitioned
    out = tmp_path / "seen.json"
    # one rank of a real (gloo/shm) process group: what `accelerate launch` gives each process
    env = os.environ | {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "HF_HUB_OFFLINE": "1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "tests.trainers.zero3_probe", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(out.read_text())
    for path in PATHS:
        assert seen[path].get("zero3_at_creation") is True, (path, seen[path])
        # and the flag took effect: zero.Init left each rank only its (here: empty) partition
        assert seen[path]["partitioned"] is True, (path, seen[path])
        # every parameter was created (a reward model adds its score head)
        assert seen[path]["parameters"] >= whole, (path, seen[path])
    # reward.score_init: zero writes the whole head, not each rank's empty shard of it
    head = seen["reward_head_zeroed"]
    assert head["zero3"] is True and head["before"] > 0 and head["after"] == 0, head
