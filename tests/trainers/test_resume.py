"""Resume: an interrupted SFT run continues from its last checkpoint, it does not start over."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from trainers import callbacks
from trainers.config import SftConfig
from trainers.lifecycle import TrainingJob
from trainers.sft import conversations, train_sft
from transformers import AutoModelForCausalLM, TrainerCallback

from tests.trainers.conftest import Crash, CrashAt, instructions


def job(root, out: str, checkpoints: str, fingerprint, *callbacks: TrainerCallback) -> TrainingJob:
    return TrainingJob(root, root / out, root / checkpoints, fingerprint, callbacks=callbacks)


class Steps(TrainerCallback):
    """Records the global step of every optimizer step this process runs."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.seen.append(state.global_step)


@pytest.mark.parametrize("logging_steps", [1, 3])  # 3: the checkpoint holds an unlogged loss sum
def test_interrupted_run_resumes_from_checkpoint(
    tmp_path, tokenizer, tiny_model_dir, logging_steps
) -> None:
    records = instructions(48)
    train, test = conversations(records, "train", None), conversations(records, "test", None)
    cfg = SftConfig(
        output_dir="sft",
        max_steps=6,
        save_steps=2,
        per_device_train_batch_size=4,
        max_length=128,
        learning_rate=5e-3,
        logging_steps=logging_steps,
    )
    fingerprint = {"params": cfg.model_dump(), "data": "v1"}
    ckpt = tmp_path / "checkpoints"
    with pytest.raises(Crash):
        crashing = job(tmp_path, "sft", "checkpoints", fingerprint, CrashAt(5))
        train_sft(tiny_model_dir, tokenizer, train, test, cfg, crashing)
    assert (ckpt / "checkpoint-4").is_dir() and not (tmp_path / "sft").exists()

    steps = Steps()
    resumed = job(tmp_path, "sft", "checkpoints", fingerprint, steps)
    result = train_sft(tiny_model_dir, tokenizer, train, test, cfg, resumed)
    assert result.mlflow_only["resumed_from"].endswith("checkpoint-4")
    assert steps.seen == [5, 6]  # continued at step 5: no restart from step 1
    assert result.metrics["global_step"] == 6  # same final step count as an uninterrupted run

    # an uninterrupted run from scratch ends in the same weights (optimizer, scheduler, RNG kept)
    fresh = job(tmp_path, "ref", "fresh", fingerprint)
    clean = train_sft(tiny_model_dir, tokenizer, train, test, cfg, fresh)
    assert clean.metrics["global_step"] == 6 and clean.mlflow_only["resumed_from"] == ""
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "sft").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "ref").state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)
    # the resumed run reports the whole run's loss (the Trainer alone averages steps 5-6 only),
    # so its metrics, and the card written from them, equal the uninterrupted run's
    assert result.metrics["train_loss"] == clean.metrics["train_loss"]
    assert result.metrics == clean.metrics


def test_stale_checkpoints_are_not_resumed(tmp_path, tokenizer, tiny_model_dir) -> None:
    records = instructions(24)
    train = conversations(records, "train", None)
    cfg = SftConfig(
        output_dir="sft", max_steps=4, save_steps=2, per_device_train_batch_size=4, max_length=128
    )
    with pytest.raises(Crash):
        crashing = job(tmp_path, "sft", "checkpoints", {"data": "v1"}, CrashAt(3))
        train_sft(tiny_model_dir, tokenizer, train, [], cfg, crashing)
    assert (tmp_path / "checkpoints" / "checkpoint-2").is_dir()
    # other data: the old checkpoint belongs to another recipe, so training starts fresh
    steps = Steps()
    other = job(tmp_path, "sft", "checkpoints", {"data": "v2"}, steps)
    result = train_sft(tiny_model_dir, tokenizer, train, [], cfg, other)
    assert result.mlflow_only["resumed_from"] == "" and steps.seen == [1, 2, 3, 4]


def test_finished_run_leaves_no_checkpoint_and_a_rerun_reproduces_it(
    tmp_path, tokenizer, tiny_model_dir
) -> None:
    train = conversations(instructions(24), "train", None)
    cfg = SftConfig(
        output_dir="sft",
        max_steps=4,
        save_steps=2,
        per_device_train_batch_size=4,
        max_length=128,
        learning_rate=5e-3,
    )
    train_sft(tiny_model_dir, tokenizer, train, [], cfg, job(tmp_path, "sft", "ck", {"data": "v1"}))
    assert not (tmp_path / "ck").exists()  # `dvc repro -f` must train again, not resume at step 4
    first = (tmp_path / "sft" / "model.safetensors").read_bytes()
    steps = Steps()
    again = job(tmp_path, "sft", "ck", {"data": "v1"}, steps)
    result = train_sft(tiny_model_dir, tokenizer, train, [], cfg, again)
    assert result.mlflow_only["resumed_from"] == "" and steps.seen == [1, 2, 3, 4]
    assert (tmp_path / "sft" / "model.safetensors").read_bytes() == first  # bit for bit


class LearningRates(TrainerCallback):
    def __init__(self) -> None:
        self.values: list[float] = []

    def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
        self.values.append(lr_scheduler.get_last_lr()[0])


def test_time_budget_shrinks_the_schedule(tmp_path, tokenizer, tiny_model_dir, monkeypatch) -> None:
    # a fake clock (1 s per optimizer step) makes the test independent of the machine's speed
    ticks = iter(range(10_000))
    clock = SimpleNamespace(monotonic=lambda: float(next(ticks)))
    monkeypatch.setattr(callbacks, "time", clock)
    train = conversations(instructions(48), "train", None)  # 40 conversations: 10 steps an epoch
    cfg = SftConfig(
        output_dir="sft",
        num_train_epochs=100,
        per_device_train_batch_size=4,
        max_length=128,
        learning_rate=1e-3,
        save_steps=10_000,
        max_time_s=30,
    )
    lrs = LearningRates()
    budgeted = job(tmp_path, "sft", "ck", {"budget": 1}, lrs)
    metrics = train_sft(tiny_model_dir, tokenizer, train, [], cfg, budgeted).metrics
    # 1,000 steps planned; after 5 measured steps the 30 "seconds" fit 30 steps, and the schedule
    # (warmup + cosine) is re-planned over those 30
    assert metrics["stopped_by_time_budget"] and metrics["global_step"] == 30
    assert (tmp_path / "sft" / "model.safetensors").exists()  # saved although stopped early
    assert lrs.values[-1] < 0.05 * max(lrs.values)  # the schedule decayed within the budget
