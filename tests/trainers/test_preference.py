"""DPO, KTO and NCA smoke runs on a tiny model: they train, log per-step metrics, save a model."""

from __future__ import annotations

import pytest
from trainers.config import PreferenceConfig
from trainers.lifecycle import TrainingJob
from trainers.preference import pair_rows, train_preference, unpaired_rows
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.trainers.conftest import preferences


class FakeRun:
    """Collects what MlflowStepCallback would send to MLflow."""

    def __init__(self) -> None:
        self.metrics: dict[str, list[float]] = {}

    def log_metrics(self, metrics, step=None) -> None:
        for key, value in metrics.items():
            self.metrics.setdefault(key, []).append(value)


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        ("dpo", ["rewards.accuracies", "rewards.margins", "logps.chosen", "logps.rejected"]),
        ("nca", ["rewards.accuracies", "rewards.margins", "logps.chosen", "logps.rejected"]),
        ("kto", ["rewards.chosen", "rewards.rejected", "logps.chosen", "kl"]),
    ],
)
def test_preference_smoke(loss, expected, tmp_path, tokenizer, tiny_model_dir) -> None:
    records = preferences(24)
    train, test = pair_rows(records, "train", 8), pair_rows(records, "test", None)
    cfg = PreferenceConfig(
        max_steps=2,
        per_device_train_batch_size=4,
        max_length=128,
        logging_steps=1,
        save_steps=10,
        learning_rate=1e-3,
    )
    run = FakeRun()
    out = tmp_path / "models" / loss
    job = TrainingJob(tmp_path, out, tmp_path / "ck", {"loss": loss}, run=run)
    metrics = train_preference(loss, tiny_model_dir, tokenizer, train, test, cfg, job).metrics
    assert metrics["global_step"] == 2
    assert metrics["loss_type"] == {"dpo": "sigmoid", "nca": "nca_pair", "kto": "kto"}[loss]
    for key in expected:
        assert len(run.metrics.get(key, [])) >= 2, (key, sorted(run.metrics))
    assert 0.0 <= metrics[f"heldout_{loss}_reward_accuracy"] <= 1.0
    assert metrics["heldout_sft_reward_accuracy"] == 0.5  # the reference against itself: all ties
    model = AutoModelForCausalLM.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).chat_template
    assert tokenizer.convert_tokens_to_ids("<|eot_id|>") in model.generation_config.eos_token_id


def test_kto_rows_are_unpaired() -> None:
    rows = unpaired_rows(pair_rows(preferences(4), "train", None))
    assert [r["label"] for r in rows[:2]] == [True, False]
    assert rows[0]["prompt"] == rows[1]["prompt"] and rows[0]["completion"] != rows[1]["completion"]


def test_pairs_stored_as_whole_conversations_are_split_at_the_prompt() -> None:
    record = preferences(1)[0]
    whole = record.model_copy(
        update={
            "chosen": record.prompt + record.chosen,
            "rejected": record.prompt + record.rejected,
        }
    )
    assert pair_rows([whole], "test", None) == pair_rows([record], "test", None)
    row = pair_rows([whole], "test", None)[0]
    assert [m["role"] for m in row["chosen"]] == ["assistant"]
