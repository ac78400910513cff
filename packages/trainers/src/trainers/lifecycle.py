"""One training lifecycle for every training stage: a config and a trainer factory in, a saved
model and its metrics out.

Resume from a fingerprinted checkpoint -> train within the time budget -> chat stop tokens ->
held-out figures -> atomic save. Pretraining, SFT and preference learning (and next a reward
model or an online loop) differ only in their datasets and in the trainer their factory builds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback

from trainers.arguments import training_kwargs
from trainers.callbacks import LossCarryCallback, MlflowStepCallback, TimeBudgetCallback
from trainers.checkpoints import CheckpointManifest, checkpoint_step, prepare_checkpoints
from trainers.config import TrainConfig
from trainers.model_dir import save_trained, set_chat_stop_tokens
from trainers.reporting import split_results

# (TrainingArguments fields from the config, callbacks) -> a Trainer or any TRL trainer; the
# factory picks the config class (SFTConfig, DPOConfig, RewardConfig, ...) and adds its fields
TrainerFactory = Callable[[dict[str, Any], list[TrainerCallback]], Trainer]
# the trained Trainer -> held-out figures, computed before the model is saved
Evaluation = Callable[[Trainer], Mapping[str, Any]]


@dataclass(frozen=True)
class TrainingJob:
    """Where a run writes: its model dir, its resumable state, its MLflow run."""

    root: Path  # the repository root (DeepSpeed config paths are relative to it)
    out_dir: Path  # the saved model
    checkpoints: Path
    fingerprint: Mapping[str, Any]  # params + input digests: a checkpoint resumes only if equal
    run: Any = None  # the stage's StageRun on rank 0, else None
    callbacks: Sequence[TrainerCallback] = ()


@dataclass
class TrainingResult:
    """Results (the metrics file, the card) apart from what depends on the run (MLflow only)."""

    metrics: dict[str, Any]
    mlflow_only: dict[str, Any] = field(default_factory=dict)
    model: Any = None


def run_training(
    job: TrainingJob,
    cfg: TrainConfig,
    tokenizer: Any,
    make_trainer: TrainerFactory,
    *,
    evaluate: Evaluation | None = None,
    tokens_per_step: int = 0,
) -> TrainingResult:
    """Train with the trainer `make_trainer` builds, save to `job.out_dir`, return the metrics.

    `tokens_per_step`: tokens one optimizer step reads, when known, for a throughput figure.
    """
    resume = prepare_checkpoints(job.checkpoints, job.fingerprint)
    budget = TimeBudgetCallback(cfg.max_time_s)
    arguments = training_kwargs(cfg, job.root, job.checkpoints)
    carry = LossCarryCallback()
    # the manifest comes after every callback that writes into a checkpoint: it marks it whole
    callbacks = [MlflowStepCallback(job.run), budget, carry, *job.callbacks, CheckpointManifest()]
    trainer = make_trainer(arguments, callbacks)
    budget.attach(trainer)
    carry.attach(trainer, resume)
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    set_chat_stop_tokens(trainer.model, tokenizer)
    heldout = dict(evaluate(trainer)) if evaluate else {}
    save_trained(trainer, tokenizer, job.out_dir)
    results, mlflow_only = split_results(
        {
            "global_step": trainer.state.global_step,
            "train_loss": output.training_loss,
            "stopped_by_time_budget": budget.stopped_at is not None,
        }
        | heldout
    )
    mlflow_only |= {"train_seconds": round(seconds, 1), "resumed_from": resume or ""}
    if tokens_per_step:
        steps = trainer.state.global_step - checkpoint_step(resume)
        mlflow_only["tokens_per_second"] = round(steps * tokens_per_step / max(seconds, 1e-9), 1)
    return TrainingResult(results, mlflow_only, trainer.model)
