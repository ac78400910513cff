"""Trainer callbacks every training stage installs: per-step MLflow logging and a time budget."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from data_core.io import write_json
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

log = logging.getLogger(__name__)


class MlflowStepCallback(TrainerCallback):
    """Log every Trainer log event (loss, lr, rewards/..., eval_...) to the stage's MLflow run."""

    def __init__(self, run: Any, prefix: str = "") -> None:
        self.run, self.prefix = run, prefix

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.run is None or not state.is_world_process_zero or not logs:
            return
        metrics = {
            f"{self.prefix}{k.replace('/', '.')}": v
            for k, v in logs.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        self.run.log_metrics(metrics, step=state.global_step)


class TimeBudgetCallback(TrainerCallback):
    """Fit training into `max_time_s` of wall time: shrink the LR schedule to the steps that fit.

    After a few steps it measures seconds per step and, if the planned steps will not fit, plans
    fewer; the warmup + cosine/linear schedule follows the new plan (so the learning rate still
    decays to zero), and training stops and saves when the budget is spent.
    """

    MEASURE_AFTER = 5  # steps before the speed is trusted (the first steps pay start-up costs)

    def __init__(self, max_time_s: float | None) -> None:
        self.max_time_s = max_time_s
        self.start = time.monotonic()
        self.stopped_at: int | None = None
        self.planned: int | None = None  # total optimizer steps the schedule decays over
        self.first_step: int | None = None
        self.mark: tuple[int, float] | None = None

    def attach(self, trainer: Any) -> None:
        """Give `trainer` a schedule that follows `self.planned` (only when a budget is set)."""
        if not self.max_time_s or trainer.args.lr_scheduler_type not in ("cosine", "linear"):
            return
        kind, args = trainer.args.lr_scheduler_type, trainer.args

        def create_scheduler(num_training_steps: int, optimizer: Any = None) -> Any:
            if trainer.lr_scheduler is None:
                self.planned = num_training_steps
                warmup = args.warmup_steps

                def factor(step: int) -> float:
                    total = max(self.planned or num_training_steps, 1)
                    warm = int(warmup * total) if warmup < 1 else int(warmup)
                    if step < warm:
                        return (step + 1) / (warm + 1)
                    progress = min(1.0, (step - warm) / max(1, total - warm))
                    if kind == "linear":
                        return 1.0 - progress
                    return 0.5 * (1.0 + math.cos(math.pi * progress))

                trainer.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                    optimizer or trainer.optimizer, factor
                )
            return trainer.lr_scheduler

        trainer.create_scheduler = create_scheduler

    def on_step_end(self, args, state, control, **kwargs):
        if not self.max_time_s:
            return control
        now = time.monotonic()
        if self.first_step is None:
            self.first_step = state.global_step
            self.mark = (state.global_step, now)
        elif self.mark and state.global_step - self.mark[0] >= self.MEASURE_AFTER:
            per_step = (now - self.mark[1]) / (state.global_step - self.mark[0])
            fits = state.global_step + int((self.max_time_s - (now - self.start)) / per_step)
            if self.planned is not None and fits < self.planned:
                log.info(
                    "time budget: %d of %d planned steps fit in %.0f s",
                    fits,
                    self.planned,
                    self.max_time_s,
                )
                self.planned = max(fits, state.global_step + 1)
            self.mark = None  # plan once; the cap below still guards the wall time
        if now - self.start > self.max_time_s or (
            self.planned is not None and state.global_step >= self.planned
        ):
            self.stopped_at = state.global_step
            control.should_training_stop = True
            control.should_save = True
        return control


class LossCarryCallback(TrainerCallback):
    """A resumed run reports the training loss of the whole run, not of its resumed steps only.

    The Trainer averages the loss over the steps of the current `train()` call, so a run resumed
    at step 200 of 300 reported the mean of steps 201-300 (and its card and metrics differed from
    an uninterrupted run's). Each checkpoint keeps the loss summed so far (and the sum not yet
    logged); a resume starts from those sums and divides by all the steps, which gives the same
    float as an uninterrupted run: the same additions in the same order.
    """

    FILE = "loss_sums.json"

    def __init__(self) -> None:
        self.trainer: Any = None
        self.resume: str | None = None

    def attach(self, trainer: Any, resume: str | None) -> None:
        self.trainer, self.resume = trainer, resume

    def on_train_begin(self, args, state, control, **kwargs):
        saved = Path(self.resume) / self.FILE if self.resume else None
        if self.trainer is None or saved is None or not saved.exists():
            return
        sums = json.loads(saved.read_text(encoding="utf-8"))
        self.trainer._total_loss_scalar = sums["logged"]
        self.trainer._tr_loss += sums["pending"]
        self.trainer._initial_global_step = 0  # divide by every step of the run

    def on_save(self, args, state, control, **kwargs):
        if self.trainer is None or not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        sums = {
            "logged": self.trainer._total_loss_scalar,
            "pending": self.trainer._tr_loss.item(),
        }
        if folder.is_dir():
            write_json(folder / self.FILE, sums)
