"""Supervised fine-tuning with TRL's SFTTrainer: chat template, assistant-only loss, packing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_core.errors import DataCoreError
from data_core.schemas import Instruction
from datasets import Dataset
from generation.weights import load_pretrained
from transformers import AutoModelForCausalLM, TrainerCallback
from trl import SFTConfig, SFTTrainer

from trainers.arguments import is_zero3, model_init_kwargs
from trainers.config import SftConfig
from trainers.distributed import is_distributed
from trainers.heldout import assistant_loss
from trainers.lifecycle import TrainingJob, TrainingResult, run_training

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


def sft_config(cfg: SftConfig, arguments: dict[str, Any], **overrides: Any) -> SFTConfig:
    """TRL's SFTConfig: the shared TrainingArguments fields, packing (BFD), assistant-only loss."""
    kwargs = arguments | {
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
    job: TrainingJob,
    replay: Sequence[str] = (),
) -> TrainingResult:
    """Fine-tune the model at `model_path`; save to `job.out_dir`; return held-out figures.

    `replay`: pretraining documents mixed into the training set (knowledge replay).
    """
    if not train:
        raise DataCoreError("sft: no training conversations ending with an assistant turn")
    # held-out loss of the base and of the result, on whole conversations; when the model is
    # sharded (a multi-process launch, or ZeRO-3 partitioning it at load) the bare model cannot
    # run before the Trainer wraps it, so the Trainer's own distributed evaluate() stands in
    local = bool(test) and not is_distributed() and not is_zero3(cfg, job.root)
    before: dict[str, float] = {}

    def heldout(model: Any) -> dict[str, float]:
        return assistant_loss(
            model, tokenizer, test, cfg.max_length, cfg.per_device_eval_batch_size
        )

    def make_trainer(arguments: dict[str, Any], callbacks: list[TrainerCallback]) -> SFTTrainer:
        # pre-tokenized rows carry their own assistant masks (TRL applies them as the labels)
        args = sft_config(cfg, arguments, **({"assistant_only_loss": False} if replay else {}))
        # created only now that `args` (and so its DeepSpeed config) exists: under ZeRO-3
        # from_pretrained partitions the weights as it loads them (deepspeed.zero.Init)
        model = load_pretrained(AutoModelForCausalLM, model_path, **model_init_kwargs(cfg))
        if local:
            before.update(heldout(model))
        rows = tokenized_rows(tokenizer, train, replay) if replay else {"messages": train}
        return SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_dict(rows),
            eval_dataset=Dataset.from_dict({"messages": test}) if test else None,
            processing_class=tokenizer,
            callbacks=callbacks,
        )

    def evaluate(trainer: SFTTrainer) -> dict[str, float]:
        if local:
            after = heldout(trainer.model)
        elif test:
            after = {"loss": trainer.evaluate()["eval_loss"]}
        else:
            after = {}
        return {f"heldout_{k}_sft": v for k, v in after.items()}

    result = run_training(job, cfg, tokenizer, make_trainer, evaluate=evaluate)
    result.metrics = (
        {
            "train_conversations": len(train),
            "replay_documents": len(replay),
            "test_conversations": len(test),
        }
        | result.metrics
        | {f"heldout_{k}_base": v for k, v in before.items()}
    )
    return result
