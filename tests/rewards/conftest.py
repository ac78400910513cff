"""Reward-model fixtures: the trainers' tiny tokenizer and model, and one short reward run on
pairs whose preference is learnable in a few steps (a diagnosis beats a refusal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from data_core.schemas import Message
from rewards.config import RewardConfig
from rewards.pairs import RewardPair
from rewards.training import train_reward
from trainers.lifecycle import TrainingJob

from tests.trainers.conftest import instructions, tiny_model_dir, tokenizer  # noqa: F401

REFUSAL = "I cannot say without more information."


def known_pairs(n: int = 48) -> list[RewardPair]:
    """The diagnosis questions of the trainers' fixtures: the diagnosis is chosen, a refusal
    rejected; every sixth record is a test pair."""
    out = []
    for rec in instructions(n):
        out.append(
            RewardPair(
                id=rec.id,
                source="test",
                prompt=rec.messages[:-1],
                chosen=rec.messages[-1:],
                rejected=[Message(role="assistant", content=REFUSAL)],
                margin=7.0,
                category="easy" if int(rec.id.split(":")[1]) % 12 == 0 else "hard",
            )
        )
    return out


def reward_config(**over: Any) -> RewardConfig:
    base = {
        "learning_rate": 3e-3,
        "max_steps": 24,
        "per_device_train_batch_size": 8,
        "max_length": 128,
        "logging_steps": 4,
        "save_steps": 100,
        "warmup_ratio": 0.0,
    }
    return RewardConfig(**(base | over))


@pytest.fixture(scope="session")
def trained_reward(tmp_path_factory, tokenizer, tiny_model_dir) -> tuple[Path, dict[str, Any]]:  # noqa: F811
    """(model dir, metrics) of a 24-step reward run from the tiny causal LM."""
    root = tmp_path_factory.mktemp("reward")
    pairs = known_pairs()
    train = [p for i, p in enumerate(pairs) if i % 6]
    test = [p for i, p in enumerate(pairs) if not i % 6]
    out = root / "models" / "reward"
    job = TrainingJob(root, out, root / "checkpoints", {"test": "reward"})
    result = train_reward(tiny_model_dir, tokenizer, train, {"test": test}, reward_config(), job)
    return out, result.metrics
