"""Supervised fine-tuning with TRL's SFTTrainer: chat template, assistant-only loss, packing."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_core.errors import DataCoreError
from data_core.schemas import Instruction
from datasets import Dataset
from transformers import AutoModelForCausalLM, TrainerCallback
from trl import SFTConfig, SFTTrainer

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
from trainers.config import SftConfig
from trainers.evaluate import assistant_loss

log = logging.getLogger(__name__)


def conversations(
    records: Sequence[Instruction], split: str, limit: int | None
) -> list[list[dict]]:
    """Chat messages of the records in `split` that end with an assistant answer."""
    rows = [
        [m.model_dump() for m in r.messages]
        for r in records
        if (r.split or "train") == split and r.messages[-1].role == "assistant"
    ]
    return rows[:limit] if limit is not None else rows


def tokenized_rows(
    tokenizer: Any, conversations: Sequence[list[dict]], replay: Sequence[str] = ()
) -> dict[str, list[list[int]]]:
    """input_ids + assistant_masks: chat conversations (loss on assistant turns) and replayed
    plain documents (<bos> text <eos>, loss on every token), tokenized the way TRL does."""
    ids: list[list[int]] = []
    masks: list[list[int]] = []
    for messages in conversations:
        out = tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids.append(list(out["input_ids"]))
        masks.append(list(out["assistant_masks"]))
    for row in tokenizer(list(replay), add_special_tokens=False)["input_ids"] if replay else []:
        ids.append([tokenizer.bos_token_id, *row, tokenizer.eos_token_id])
        masks.append([1] * len(ids[-1]))
    return {"input_ids": ids, "assistant_masks": masks}


def replay_documents(documents: Sequence[str], count: int) -> list[str]:
    """`count` documents spread evenly over the (already hash-shuffled) pretraining corpus."""
    if count <= 0 or not documents:
        return []
    step = max(1, len(documents) // count)
    return list(documents[::step][:count])


def sft_config(cfg: SftConfig, root: Path, checkpoints: Path, **overrides: Any) -> SFTConfig:
    """TRL's SFTConfig from params: packing (padding-free, BFD) and assistant-only loss."""
    kwargs = training_kwargs(cfg, root, checkpoints) | {
        "max_length": cfg.max_length,
        "packing": cfg.packing,
        "packing_strategy": "bfd",
        "padding_free": cfg.packing,
        "eval_packing": False,  # held-out loss on whole conversations, comparable to the base's
        "assistant_only_loss": cfg.assistant_only_loss,
        "dataset_num_proc": None,
    }
    return SFTConfig(**(kwargs | overrides))


def train_sft(
    model_path: Path,
    tokenizer: Any,
    train: list[list[dict]],
    test: list[list[dict]],
    cfg: SftConfig,
    root: Path,
    checkpoints: Path,
    fingerprint: dict[str, Any],
    run: Any = None,
    callbacks: Sequence[TrainerCallback] = (),
    replay: Sequence[str] = (),
) -> dict[str, Any]:
    """Fine-tune the model at `model_path`; save to `cfg.output_dir`; return held-out figures.

    `replay`: pretraining documents mixed into the training set (knowledge replay).
    """
    if not train:
        raise DataCoreError("sft: no training conversations ending with an assistant turn")
    model = AutoModelForCausalLM.from_pretrained(
        model_path, trust_remote_code=False, **model_init_kwargs(cfg)
    )
    # held-out loss of the base and of the result, on whole conversations; under a multi-process
    # launch the model is sharded, so the Trainer's own distributed evaluate() stands in for it
    local = bool(test) and not is_distributed()
    heldout = lambda m: assistant_loss(  # noqa: E731
        m, tokenizer, test, cfg.max_length, cfg.per_device_eval_batch_size
    )
    before = heldout(model) if local else {}
    resume = prepare_checkpoints(checkpoints, fingerprint)
    budget = TimeBudgetCallback(cfg.max_time_s)
    trainer = SFTTrainer(
        model=model,
        # pre-tokenized rows carry their own assistant masks (TRL applies them as the labels)
        args=sft_config(
            cfg, root, checkpoints, **({"assistant_only_loss": False} if replay else {})
        ),
        train_dataset=(
            Dataset.from_dict(tokenized_rows(tokenizer, train, replay))
            if replay
            else Dataset.from_dict({"messages": train})
        ),
        eval_dataset=Dataset.from_dict({"messages": test}) if test else None,
        processing_class=tokenizer,
        callbacks=[MlflowStepCallback(run), budget, *callbacks],
    )
    budget.attach(trainer)
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    set_chat_stop_tokens(trainer.model, tokenizer)
    if local:
        after = heldout(trainer.model)
    elif test:
        after = {"loss": trainer.evaluate()["eval_loss"]}
    else:
        after = {}
    save_trained(trainer, tokenizer, root / cfg.output_dir)
    return (
        {
            "train_conversations": len(train),
            "replay_documents": len(replay),
            "test_conversations": len(test),
            "global_step": trainer.state.global_step,
            "train_loss": output.training_loss,
            "train_seconds": round(seconds, 1),
            "resumed_from": resume or "",
            "stopped_by_time_budget": budget.stopped_at is not None,
        }
        | {f"heldout_{k}_base": v for k, v in before.items()}
        | {f"heldout_{k}_sft": v for k, v in after.items()}
    )
