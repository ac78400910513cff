"""What every training stage shares: TrainingArguments from params, resumable checkpoints,
MLflow per-step logging, a time budget, and atomic saving of the final model."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from data_core.io import file_digest, write_json
from transformers import PreTrainedModel, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from trainers.config import TrainConfig

log = logging.getLogger(__name__)


def is_main_process() -> bool:
    """True on rank 0 (or when not launched distributed): only it logs and writes outputs."""
    return int(os.environ.get("RANK", "0")) == 0


def training_kwargs(cfg: TrainConfig, root: Path, checkpoints: Path) -> dict[str, Any]:
    """The TrainingArguments fields a TrainConfig sets (shared by Trainer, SFT, DPO, KTO configs)."""
    deepspeed = str(root / cfg.deepspeed) if cfg.deepspeed else None
    return {
        "output_dir": str(checkpoints),
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        "warmup_steps": cfg.warmup_ratio,  # a float < 1 is a ratio of the total steps
        "weight_decay": cfg.weight_decay,
        "num_train_epochs": cfg.num_train_epochs,
        "max_steps": cfg.max_steps,
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "per_device_eval_batch_size": cfg.per_device_eval_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "bf16": cfg.precision == "bf16",
        "fp16": cfg.precision == "fp16",
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "logging_steps": cfg.logging_steps,
        "save_strategy": "steps",
        "save_steps": cfg.save_steps,
        "save_total_limit": cfg.save_total_limit,
        "eval_strategy": "steps" if cfg.eval_steps else "no",
        "eval_steps": cfg.eval_steps,
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "deepspeed": deepspeed,
        "report_to": "none",  # MlflowStepCallback logs into the stage's own run instead
        "disable_tqdm": False,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": torch.cuda.is_available(),
        "save_only_model": False,  # optimizer + scheduler + RNG state are what make resume exact
    }


def model_init_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    """from_pretrained kwargs from params: attention kernel and dtype (remote code stays off)."""
    kwargs: dict[str, Any] = {}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.precision != "fp32":
        kwargs["dtype"] = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
    return kwargs


def is_distributed() -> bool:
    """True under `accelerate launch` / torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def prepare_checkpoints(checkpoints: Path, fingerprint: Mapping[str, Any]) -> str | None:
    """The checkpoint to resume from, if `checkpoints` holds one made with the same fingerprint.

    A checkpoint made with other params or data is stale: resuming it would mix two recipes, so
    the folder is cleared instead. Rank 0 tidies the folder first; the other ranks then read it.
    """
    from accelerate import PartialState

    stamp = checkpoints / "fingerprint.json"
    wanted = json.dumps(fingerprint, sort_keys=True, default=str)
    state = PartialState()
    with state.main_process_first():
        same = stamp.exists() and stamp.read_text(encoding="utf-8") == wanted
        last = get_last_checkpoint(str(checkpoints)) if same and checkpoints.is_dir() else None
        if state.is_main_process and not last:
            shutil.rmtree(checkpoints, ignore_errors=True)
            checkpoints.mkdir(parents=True, exist_ok=True)
            stamp.write_text(wanted, encoding="utf-8")
    if last:
        log.info("resuming from %s", last)
    return last


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
                log.info("time budget: %d of %d planned steps fit in %.0f s",
                         fits, self.planned, self.max_time_s)  # fmt: skip
                self.planned = max(fits, state.global_step + 1)
            self.mark = None  # plan once; the cap below still guards the wall time
        if now - self.start > self.max_time_s or (
            self.planned is not None and state.global_step >= self.planned
        ):
            self.stopped_at = state.global_step
            control.should_training_stop = True
            control.should_save = True
        return control


@contextmanager
def system_metrics(run: Any, interval_s: float = 5.0) -> Iterator[None]:
    """MLflow system metrics (CPU, memory, GPU when present) for the run, if psutil is usable."""
    if run is None:
        yield
        return
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(
            run.run_id, sampling_interval=interval_s, samples_before_logging=1
        )
        monitor.start()
    except Exception as exc:  # optional extra: training must not fail because psutil is missing
        log.warning("system metrics unavailable: %s", exc)
        monitor = None
    try:
        yield
    finally:
        if monitor is not None:
            monitor.finish()


def save_trained(trainer: Any, tokenizer: Any, out_dir: Path) -> None:
    """Save a trained model on every rank (ZeRO-3 gathers its shards), then swap it into place."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    if trainer.accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(tmp)
        for leftover in ("training_args.bin",):  # a model dir, not a checkpoint
            (tmp / leftover).unlink(missing_ok=True)
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
        # checkpoints exist to resume an interrupted run; a finished one leaves none, so a forced
        # re-run (`dvc repro -f`) trains again instead of "resuming" at the last step
        shutil.rmtree(trainer.args.output_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()


def save_model_dir(model: PreTrainedModel, tokenizer: Any, out_dir: Path) -> None:
    """Save model (safetensors) + tokenizer into a temp folder, then swap it into place."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def set_chat_stop_tokens(model: PreTrainedModel, tokenizer: Any) -> None:
    """Generation stops at <|eot_id|> as well as EOS, as Llama-3-Instruct's generation config does."""
    ids = [tokenizer.eos_token_id]
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    if isinstance(eot, int) and eot != tokenizer.unk_token_id and eot not in ids:
        ids.append(eot)
    model.generation_config.eos_token_id = ids
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id


def model_reference(run: Any, out_dir: Path, name: str, root: Path) -> dict[str, str]:
    """Log the saved model to MLflow as a reference (path + digest), never the weights."""
    digest = file_digest(out_dir)
    shown = out_dir.resolve().relative_to(root.resolve()).as_posix()
    if run is not None:
        run.log_output(out_dir, name)
        run._mlflow.set_tags({f"model.{name}.path": shown, f"model.{name}.md5": digest})
    return {"path": shown, "md5": digest}


_RUN_SPECIFIC = ("seconds", "per_second", "runtime", "resumed_from")


def model_card(
    out_dir: Path,
    *,
    title: str,
    base: str,
    data: Mapping[str, str],
    recipe: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> Path:
    """Write README.md (a model card: base, data digests, recipe, metrics) into the model dir.

    Timings and resume paths stay out (they are in metrics/<stage>.json and MLflow): the card is
    part of the model directory whose md5 DVC tracks, so it holds only what the weights depend on
    and a re-run that reproduces the weights reproduces the directory's md5.
    """
    metrics = {k: v for k, v in metrics.items() if not any(w in k for w in _RUN_SPECIFIC)}
    lines = [f"# {title}", "", f"- base: `{base}`", "", "## Data", ""]
    lines += [f"- `{path}` md5 `{digest}`" for path, digest in data.items()]
    lines += ["", "## Recipe", "", "```json", json.dumps(recipe, indent=2, default=str), "```"]
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    for key, value in sorted(metrics.items()):
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {shown} |")
    lines += ["", "Loadable with `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer`."]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_metrics(path: Path, metrics: Mapping[str, Any]) -> None:
    """The DVC metrics file of a stage (rank 0 only)."""
    if is_main_process():
        write_json(path, dict(metrics))


def maybe_run(ctx: Any) -> Any:
    """The stage's MLflow run context on rank 0; a no-op context yielding None elsewhere."""
    return ctx if is_main_process() else nullcontext(None)
