"""Preference learning from the SFT model with TRL: DPO (sigmoid), NCA (nca_pair), KTO (unpaired)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_core.errors import DataCoreError
from data_core.schemas import Preference
from datasets import Dataset
from transformers import AutoModelForCausalLM, TrainerCallback
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

from trainers.common import (
    MlflowStepCallback,
    TimeBudgetCallback,
    is_distributed,
    model_init_kwargs,
    prepare_checkpoints,
    save_trained,
    set_chat_stop_tokens,
    training_kwargs,
)
from trainers.config import LOSSES, PreferenceConfig
from trainers.evaluate import pair_logps, preference_accuracy

log = logging.getLogger(__name__)

DPO_LOSS_TYPE = {"dpo": "sigmoid", "nca": "nca_pair"}


def _completion(prompt: list[dict], messages: list[dict]) -> list[dict]:
    """The turns after the prompt: records may store chosen/rejected as whole conversations."""
    return messages[len(prompt) :] if messages[: len(prompt)] == prompt else messages


def pair_rows(records: Sequence[Preference], split: str, limit: int | None) -> list[dict]:
    """Conversational DPO rows (prompt / chosen / rejected message lists) of one split."""
    rows = []
    for r in records:
        if (r.split or "train") != split:
            continue
        prompt = [m.model_dump() for m in r.prompt]
        chosen = _completion(prompt, [m.model_dump() for m in r.chosen])
        rejected = _completion(prompt, [m.model_dump() for m in r.rejected])
        if not chosen or not rejected:
            raise DataCoreError(f"preference {r.id}: chosen/rejected add no turn to the prompt")
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return rows[:limit] if limit is not None else rows


def unpaired_rows(pairs: Sequence[dict]) -> list[dict]:
    """KTO's unpaired format: each pair gives a desirable and an undesirable example."""
    rows = []
    for p in pairs:
        rows.append({"prompt": p["prompt"], "completion": p["chosen"], "label": True})
        rows.append({"prompt": p["prompt"], "completion": p["rejected"], "label": False})
    return rows


def trainer_for(
    loss: str, model_path: Path, tokenizer: Any, train: list[dict], test: list[dict],
    cfg: PreferenceConfig, root: Path, checkpoints: Path, callbacks: list[Any],
) -> DPOTrainer | KTOTrainer:  # fmt: skip
    """The TRL trainer of `loss`; the reference model is loaded from `model_path` by TRL itself."""
    common = training_kwargs(cfg, root, checkpoints) | {
        "max_length": cfg.max_length,
        "beta": cfg.beta,
    }
    if loss in DPO_LOSS_TYPE:
        args = DPOConfig(**common, loss_type=[DPO_LOSS_TYPE[loss]])
        return DPOTrainer(
            model=str(model_path), args=args, processing_class=tokenizer, callbacks=callbacks,
            train_dataset=Dataset.from_list(train),
            eval_dataset=Dataset.from_list(test) if test else None,
        )  # fmt: skip
    over = getattr(cfg, loss)
    args = KTOConfig(**common, desirable_weight=over.desirable_weight,
                     undesirable_weight=over.undesirable_weight)  # fmt: skip
    return KTOTrainer(
        model=str(model_path), args=args, processing_class=tokenizer, callbacks=callbacks,
        train_dataset=Dataset.from_list(unpaired_rows(train)),
        eval_dataset=Dataset.from_list(unpaired_rows(test)) if test else None,
    )  # fmt: skip


def train_preference(
    loss: str,
    model_path: Path,
    tokenizer: Any,
    train: list[dict],
    test: list[dict],
    cfg: PreferenceConfig,
    root: Path,
    checkpoints: Path,
    fingerprint: dict[str, Any],
    run: Any = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> dict[str, Any]:
    """Train `loss` (dpo | kto | nca) from the model at `model_path`; return held-out figures."""
    if loss not in LOSSES:
        raise DataCoreError(f"unknown preference loss {loss!r}; known: {', '.join(LOSSES)}")
    if not train:
        raise DataCoreError(f"{loss}: no training pairs")
    cfg = cfg.for_loss(loss)
    local = bool(test) and not is_distributed()  # sharded models: rely on TRL's eval metrics
    logps = lambda model: pair_logps(  # noqa: E731
        model, tokenizer, test, cfg.max_length, cfg.per_device_eval_batch_size
    )
    ref_logps = None
    if local:  # the reference's log-probs serve both "before" (policy = reference) and "after"
        reference = AutoModelForCausalLM.from_pretrained(
            model_path, trust_remote_code=False, **model_init_kwargs(cfg)
        )
        ref_logps = logps(reference)
        del reference
    before = preference_accuracy(ref_logps, ref_logps, cfg.beta) if local else {}
    resume = prepare_checkpoints(checkpoints, fingerprint)
    budget = TimeBudgetCallback(cfg.max_time_s)
    trainer = trainer_for(loss, model_path, tokenizer, train, test, cfg, root, checkpoints,
                          [MlflowStepCallback(run), budget, *callbacks])  # fmt: skip
    budget.attach(trainer)
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    set_chat_stop_tokens(trainer.model, tokenizer)
    if local:
        after = preference_accuracy(logps(trainer.model), ref_logps, cfg.beta)
    elif test:
        after = {k.removeprefix("eval_").replace("/", "_"): v
                 for k, v in trainer.evaluate().items()}  # fmt: skip
    else:
        after = {}
    save_trained(trainer, tokenizer, root / cfg.output_dir)
    metrics: dict[str, Any] = {
        "loss_type": DPO_LOSS_TYPE.get(loss, "kto"),
        "beta": cfg.beta,
        "train_pairs": len(train),
        "test_pairs": len(test),
        "global_step": trainer.state.global_step,
        "train_loss": output.training_loss,
        "train_seconds": round(seconds, 1),
        "resumed_from": resume or "",
        "stopped_by_time_budget": budget.stopped_at is not None,
    }
    metrics |= {f"heldout_sft_{k}": v for k, v in before.items() if k != "pairs"}
    metrics |= {f"heldout_{loss}_{k}": v for k, v in after.items() if k != "pairs"}
    return metrics
