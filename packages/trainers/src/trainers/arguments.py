"""A TrainConfig as keyword arguments: for TrainingArguments (and TRL's configs) and for loading."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import torch
from data_core.errors import ConfigError

from trainers.config import TrainConfig

LIGER = "liger-kernel"  # the distribution `use_liger_kernel` needs (module liger_kernel)


def training_kwargs(cfg: TrainConfig, root: Path, checkpoints: Path) -> dict[str, Any]:
    """The TrainingArguments fields a TrainConfig sets (shared by Trainer and TRL configs)."""
    deepspeed = str(root / cfg.deepspeed) if cfg.deepspeed else None
    require_liger(cfg)
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
        "use_liger_kernel": cfg.use_liger_kernel,
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


def require_liger(cfg: TrainConfig) -> None:
    """`use_liger_kernel: true` needs liger-kernel installed: say so before any model loads
    (transformers would fail later, mid-setup, without naming the param)."""
    if cfg.use_liger_kernel and importlib.util.find_spec("liger_kernel") is None:
        raise ConfigError(
            f"params.yaml: {cfg.section}.use_liger_kernel: true needs {LIGER}, which is not "
            f"installed (uv pip install {LIGER}, on a CUDA host), or set it to false"
        )


def is_zero3(cfg: TrainConfig, root: Path) -> bool:
    """Whether `cfg.deepspeed` names a ZeRO stage-3 config: the model's parameters are
    partitioned over the ranks, so nothing may run the bare model before the Trainer wraps it."""
    if not cfg.deepspeed:
        return False
    config = json.loads((root / cfg.deepspeed).read_text())
    return (config.get("zero_optimization") or {}).get("stage") == 3
