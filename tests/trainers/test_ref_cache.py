"""Reference log-probs computed once: stable dataset fingerprints and TRL's on-disk cache."""

from __future__ import annotations

import pytest
from datasets import Dataset
from trainers.config import PreferenceConfig
from trainers.lifecycle import TrainingJob
from trainers.preference import (
    REF_CACHE,
    CachedDPOTrainer,
    content_fingerprint,
    pair_rows,
    persisted,
    train_preference,
)

from tests.trainers.conftest import preferences

ROWS = [{"prompt_ids": [1, 2, 3], "chosen_ids": [4]}, {"prompt_ids": [5], "chosen_ids": [6, 7]}]


def test_fingerprint_follows_content_not_identity(tmp_path) -> None:
    a, b = Dataset.from_list(ROWS), Dataset.from_list([dict(r) for r in ROWS])
    # in memory, TRL's cache file for a fingerprint gets a fresh random name in a temp dir
    assert a._get_cache_file_path("x") != a._get_cache_file_path("x")
    assert content_fingerprint(a) == content_fingerprint(b)
    assert content_fingerprint(a, "DPO") != content_fingerprint(a, "KTO")
    assert content_fingerprint(a) != content_fingerprint(Dataset.from_list(ROWS[::-1]))
    changed = [ROWS[0], {"prompt_ids": [5], "chosen_ids": [6, 8]}]
    assert content_fingerprint(a) != content_fingerprint(Dataset.from_list(changed))


def test_persisted_dataset_is_file_backed_and_stable(tmp_path) -> None:
    first = persisted(Dataset.from_list(ROWS), tmp_path)
    again = persisted(Dataset.from_list(ROWS), tmp_path)
    assert first._fingerprint == again._fingerprint == content_fingerprint(Dataset.from_list(ROWS))
    assert first.cache_files and first.cache_files[0]["filename"].startswith(str(tmp_path))
    assert first.to_list() == ROWS
    # TRL names its cache file after the fingerprint, next to the dataset's own file
    assert first._get_cache_file_path("x") == str(tmp_path / "cache-x.arrow")
    assert len(list(tmp_path.glob("rows-*.arrow"))) == 1


def _cfg(precompute: bool) -> PreferenceConfig:
    return PreferenceConfig(
        max_steps=2,
        per_device_train_batch_size=4,
        max_length=128,
        logging_steps=1,
        save_steps=10,
        learning_rate=1e-3,
        precompute_ref_log_probs=precompute,
    )


def _train(loss, tmp_path, tokenizer, model_dir, precompute, name):
    records = preferences(24)
    train, test = pair_rows(records, "train", 8), pair_rows(records, "test", None)
    job = TrainingJob(tmp_path, tmp_path / "models" / name, tmp_path / "ck" / name, {"n": name})
    return train_preference(loss, model_dir, tokenizer, train, test, _cfg(precompute), job)


@pytest.fixture
def ref_calls(monkeypatch) -> list[int]:
    """Counts the reference forwards TRL's precompute runs."""
    calls: list[int] = []
    original = CachedDPOTrainer.compute_ref_log_probs

    def counting(self, model, inputs):
        calls.append(len(inputs["input_ids"]))
        return original(self, model, inputs)

    monkeypatch.setattr(CachedDPOTrainer, "compute_ref_log_probs", counting)
    return calls


def test_dpo_and_nca_share_one_reference_pass(tmp_path, tokenizer, tiny_model_dir, ref_calls):
    dpo = _train("dpo", tmp_path, tokenizer, tiny_model_dir, True, "dpo").metrics
    first = len(ref_calls)
    assert first > 0  # computed once: 8 train pairs in batches of 4
    cached = list((tmp_path / "ck" / REF_CACHE).glob("cache-*.arrow"))
    assert len(cached) == 1
    nca = _train("nca", tmp_path, tokenizer, tiny_model_dir, True, "nca").metrics
    assert len(ref_calls) == first  # nca: the same pairs and reference, read from disk
    again = _train("dpo", tmp_path, tokenizer, tiny_model_dir, True, "dpo-again").metrics
    assert len(ref_calls) == first
    assert again["train_loss"] == dpo["train_loss"]
    assert nca["train_loss"] != dpo["train_loss"]  # a different loss on the same cached figures


def test_cached_reference_trains_like_a_live_one(tmp_path, tokenizer, tiny_model_dir) -> None:
    live = _train("dpo", tmp_path, tokenizer, tiny_model_dir, False, "live").metrics
    cached = _train("dpo", tmp_path, tokenizer, tiny_model_dir, True, "cached").metrics
    assert cached["train_loss"] == pytest.approx(live["train_loss"], rel=1e-4)
    key = "heldout_dpo_reward_accuracy"
    assert cached[key] == pytest.approx(live[key], abs=1e-6)
