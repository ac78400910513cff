"""The one training lifecycle with a plain Trainer (any factory works): resume by fingerprint,
results apart from run-dependent values, metrics files and cards that hold results only."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset
from trainers.checkpoints import STAMP, checkpoint_step, prepare_checkpoints
from trainers.config import PretrainConfig
from trainers.lifecycle import TrainingJob, run_training
from trainers.model_dir import save_tokenizer
from trainers.pretrain import new_model, pack_blocks
from trainers.reporting import split_results, write_metrics
from transformers import (
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from tests.trainers.conftest import TINY_MODEL, Crash, CrashAt, corpus


def causal_lm(tokenizer, cfg: PretrainConfig):
    """A trainer factory over a fresh tiny model and the test corpus."""
    blocks = pack_blocks(corpus(), tokenizer, cfg.max_length)

    def make(arguments: dict, callbacks: list[TrainerCallback]) -> Trainer:
        return Trainer(
            model=new_model(TINY_MODEL, tokenizer, seed=0),
            args=TrainingArguments(**arguments),
            train_dataset=Dataset.from_dict({"input_ids": blocks}),
            data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
            processing_class=tokenizer,
            callbacks=callbacks,
        )

    return make


CFG = PretrainConfig(max_steps=4, save_steps=2, per_device_train_batch_size=2, max_length=32)


def test_a_matching_fingerprint_resumes_and_a_mismatched_one_starts_fresh(
    tmp_path, tokenizer
) -> None:
    ckpt = tmp_path / "ck"
    crashing = TrainingJob(tmp_path, tmp_path / "out", ckpt, {"data": "v1"}, callbacks=[CrashAt(3)])
    with pytest.raises(Crash):
        run_training(crashing, CFG, tokenizer, causal_lm(tokenizer, CFG))
    assert json.loads((ckpt / STAMP).read_text()) == {"data": "v1"}
    assert (ckpt / "checkpoint-2").is_dir()

    assert prepare_checkpoints(ckpt, {"data": "v1"}).endswith("checkpoint-2")
    assert prepare_checkpoints(ckpt, {"data": "v2"}) is None  # stale: cleared, not resumed
    assert not (ckpt / "checkpoint-2").exists()
    assert json.loads((ckpt / STAMP).read_text()) == {"data": "v2"}
    assert checkpoint_step(None) == 0 and checkpoint_step("ck/checkpoint-12") == 12


def test_results_are_apart_from_run_dependent_values(tmp_path, tokenizer) -> None:
    job = TrainingJob(tmp_path, tmp_path / "out", tmp_path / "ck", {"data": "v1"})

    def heldout(trainer: Trainer) -> dict:
        return {"eval_loss": 1.5, "eval_runtime": 0.2, "eval_samples_per_second": 9.0}

    result = run_training(
        job, CFG, tokenizer, causal_lm(tokenizer, CFG), evaluate=heldout, tokens_per_step=64
    )
    assert result.metrics == {
        "global_step": 4,
        "train_loss": pytest.approx(result.metrics["train_loss"]),
        "stopped_by_time_budget": False,
        "eval_loss": 1.5,
    }
    assert set(result.mlflow_only) == {
        "train_seconds",
        "resumed_from",
        "tokens_per_second",
        "eval_runtime",
        "eval_samples_per_second",
    }
    assert (tmp_path / "out" / "model.safetensors").exists() and not (tmp_path / "ck").exists()
    eos = result.model.generation_config.eos_token_id
    assert tokenizer.convert_tokens_to_ids("<|eot_id|>") in eos  # chat stop tokens set


def test_metrics_file_holds_results_only(tmp_path) -> None:
    metrics = {"train_loss": 1.0, "train_seconds": 3.2, "resumed_from": "", "eval_runtime": 1.0}
    write_metrics(tmp_path / "m.json", metrics)
    assert json.loads((tmp_path / "m.json").read_text()) == {"train_loss": 1.0}
    results, rest = split_results(metrics)
    assert results == {"train_loss": 1.0} and set(rest) == set(metrics) - {"train_loss"}


def test_a_saved_tokenizer_does_not_record_how_it_was_loaded(tmp_path, tokenizer) -> None:
    """Offline loading (HF_HUB_OFFLINE=1) must not reach the saved files: same md5 anywhere."""
    tokenizer.save_pretrained(tmp_path / "source")
    for name, offline in (("offline", True), ("online", False)):
        loaded = AutoTokenizer.from_pretrained(tmp_path / "source", local_files_only=offline)
        save_tokenizer(loaded, tmp_path / name)
    saved = (tmp_path / "offline/tokenizer_config.json").read_bytes()
    assert b"local_files_only" not in saved
    assert saved == (tmp_path / "online/tokenizer_config.json").read_bytes()
