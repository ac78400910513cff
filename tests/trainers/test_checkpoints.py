"""Which checkpoint a killed run resumes from: only a whole one, and never the one at the end of
training (the Trainer would run a step past the end)."""

from __future__ import annotations

from pathlib import Path

import pytest
from trainers.checkpoints import MANIFEST, is_complete, last_complete_checkpoint
from trainers.config import SftConfig
from trainers.lifecycle import TrainingJob
from trainers.sft import conversations, train_sft
from transformers import Trainer, TrainerCallback

from tests.trainers.conftest import Crash, instructions

CFG = SftConfig(
    output_dir="sft",
    max_steps=6,
    save_steps=2,
    per_device_train_batch_size=4,
    max_length=128,
    learning_rate=5e-3,
    logging_steps=1,
)


def job(root: Path, out: str, *callbacks: TrainerCallback) -> TrainingJob:
    return TrainingJob(root, root / out, root / f"{out}-ck", {"data": "v1"}, callbacks=callbacks)


class Steps(TrainerCallback):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.seen.append(state.global_step)


class CrashAtTrainEnd(TrainerCallback):
    """Killed after the last step, during the held-out evaluation or the final save."""

    def on_train_end(self, args, state, control, **kwargs):
        raise Crash("killed after training")


def checkpoint(folder: Path, files: dict[str, bytes], manifest: bool = True) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    if manifest:
        sizes = ", ".join(f'"{name}": {len(data)}' for name, data in files.items())
        (folder / MANIFEST).write_text("{" + sizes + "}")
    return folder


def test_only_whole_checkpoints_are_resume_points(tmp_path) -> None:
    files = {"model.safetensors": b"w" * 10, "trainer_state.json": b"{}"}
    whole = checkpoint(tmp_path / "checkpoint-2", files)
    unfinished = checkpoint(tmp_path / "checkpoint-4", files, manifest=False)  # killed saving
    cut = checkpoint(tmp_path / "checkpoint-6", files)
    (cut / "model.safetensors").write_bytes(b"w" * 3)  # a file not whole
    gone = checkpoint(tmp_path / "checkpoint-8", files)
    (gone / "model.safetensors").unlink()  # killed while rmtree deleted it
    assert [is_complete(f) for f in (whole, unfinished, cut, gone)] == [True, False, False, False]
    assert last_complete_checkpoint(tmp_path, tidy=False) == str(whole)
    assert unfinished.exists()
    assert last_complete_checkpoint(tmp_path, tidy=True) == str(whole)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2"]


def test_run_killed_while_saving_a_checkpoint_resumes_from_the_one_before(
    tmp_path, tokenizer, tiny_model_dir, monkeypatch
) -> None:
    records = instructions(48)
    train, test = conversations(records, "train", None), conversations(records, "test", None)
    save_rng = Trainer._save_rng_state

    def killed_at_step_4(self, output_dir):  # weights and optimizer written, the rest not
        if self.state.global_step == 4:
            raise Crash("killed saving checkpoint-4")
        save_rng(self, output_dir)

    monkeypatch.setattr(Trainer, "_save_rng_state", killed_at_step_4)
    with pytest.raises(Crash):
        train_sft(tiny_model_dir, tokenizer, train, test, CFG, job(tmp_path, "sft"))
    assert (tmp_path / "sft-ck/checkpoint-4/optimizer.pt").exists()  # a partial checkpoint
    monkeypatch.setattr(Trainer, "_save_rng_state", save_rng)

    steps = Steps()
    resumed = train_sft(tiny_model_dir, tokenizer, train, test, CFG, job(tmp_path, "sft", steps))
    assert resumed.mlflow_only["resumed_from"].endswith("checkpoint-2")
    assert steps.seen == [3, 4, 5, 6]
    clean = train_sft(tiny_model_dir, tokenizer, train, test, CFG, job(tmp_path, "ref"))
    assert resumed.metrics == clean.metrics
    saved = (tmp_path / "sft/model.safetensors").read_bytes()
    assert saved == (tmp_path / "ref/model.safetensors").read_bytes()


def test_run_killed_after_its_last_step_ends_as_an_uninterrupted_one(
    tmp_path, tokenizer, tiny_model_dir
) -> None:
    train = conversations(instructions(48), "train", None)
    with pytest.raises(Crash):
        train_sft(
            tiny_model_dir, tokenizer, train, [], CFG, job(tmp_path, "sft", CrashAtTrainEnd())
        )
    # the last step saved no checkpoint: resuming from one at max_steps, the Trainer ran a 7th
    assert sorted(p.name for p in (tmp_path / "sft-ck").glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
    ]
    steps = Steps()
    resumed = train_sft(tiny_model_dir, tokenizer, train, [], CFG, job(tmp_path, "sft", steps))
    assert steps.seen == [5, 6] and resumed.metrics["global_step"] == 6
    clean = train_sft(tiny_model_dir, tokenizer, train, [], CFG, job(tmp_path, "ref"))
    assert resumed.metrics == clean.metrics
    saved = (tmp_path / "sft/model.safetensors").read_bytes()
    assert saved == (tmp_path / "ref/model.safetensors").read_bytes()
