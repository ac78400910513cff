"""Pretraining the tiny Llama-3-architecture base on knowledge text with the HF Trainer."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import (
    AutoModelForCausalLM,
    DataCollatorForLanguageModeling,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    Trainer,
    TrainingArguments,
)

from trainers.common import (
    MlflowStepCallback,
    TimeBudgetCallback,
    prepare_checkpoints,
    save_model_dir,
    save_trained,
    set_chat_stop_tokens,
    training_kwargs,
)
from trainers.config import ModelConfig, PretrainConfig

log = logging.getLogger(__name__)


def llama_config(cfg: ModelConfig, tokenizer: Any) -> LlamaConfig:
    """A Llama-3-style config (GQA, RoPE theta 500000, SwiGLU) sized by params."""
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        rope_theta=cfg.rope_theta,
        rms_norm_eps=cfg.rms_norm_eps,
        hidden_act=cfg.hidden_act,
        tie_word_embeddings=cfg.tie_word_embeddings,
        initializer_range=cfg.initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def new_model(cfg: ModelConfig, tokenizer: Any, seed: int = 42) -> LlamaForCausalLM:
    """A freshly initialised LlamaForCausalLM (seeded, so the same params give the same weights)."""
    torch.manual_seed(seed)
    config = llama_config(cfg, tokenizer)
    config._attn_implementation = cfg.attn_implementation
    model = LlamaForCausalLM(config)
    set_chat_stop_tokens(model, tokenizer)
    return model


def pack_blocks(texts: Sequence[str], tokenizer: Any, block: int) -> list[list[int]]:
    """<bos> text <eos> for each document, concatenated and cut into `block`-token rows."""
    ids: list[int] = []
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    for row in encoded:
        ids.extend([tokenizer.bos_token_id, *row, tokenizer.eos_token_id])
    return [ids[i : i + block] for i in range(0, len(ids) - block + 1, block)]


@dataclass
class PretrainResult:
    """What the stage reports: sizes, losses, throughput."""

    metrics: dict[str, Any] = field(default_factory=dict)
    model: PreTrainedModel | None = None


def pretrain(
    texts: Sequence[str],
    eval_texts: Sequence[str],
    tokenizer: Any,
    model_cfg: ModelConfig,
    cfg: PretrainConfig,
    root: Path,
    checkpoints: Path,
    fingerprint: dict[str, Any],
    run: Any = None,
) -> PretrainResult:
    """Train the base from scratch (or load `model.base_path`) and save it to `cfg.output_dir`."""
    out_dir = root / cfg.output_dir
    if model_cfg.base_path:  # full scale: the real weights are the base; nothing to pretrain
        model = AutoModelForCausalLM.from_pretrained(model_cfg.base_path, trust_remote_code=False)
        save_model_dir(model, tokenizer, out_dir)
        return PretrainResult({"mode": "copied", "parameters": model.num_parameters()}, model)
    train_blocks = pack_blocks(texts, tokenizer, cfg.max_length)
    eval_blocks = pack_blocks(eval_texts, tokenizer, cfg.max_length) if eval_texts else []
    model = new_model(model_cfg, tokenizer, cfg.seed)
    log.info("model: %.2fM parameters; %d train blocks of %d tokens",
             model.num_parameters() / 1e6, len(train_blocks), cfg.max_length)  # fmt: skip
    resume = prepare_checkpoints(checkpoints, fingerprint)
    budget = TimeBudgetCallback(cfg.max_time_s)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**training_kwargs(cfg, root, checkpoints)),
        train_dataset=Dataset.from_dict({"input_ids": train_blocks}),
        eval_dataset=Dataset.from_dict({"input_ids": eval_blocks}) if eval_blocks else None,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        processing_class=tokenizer,
        callbacks=[MlflowStepCallback(run), budget],
    )
    budget.attach(trainer)
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    metrics: dict[str, Any] = {
        "mode": "trained",
        "parameters": model.num_parameters(),
        "train_blocks": len(train_blocks),
        "train_tokens_per_epoch": len(train_blocks) * cfg.max_length,
        "global_step": trainer.state.global_step,
        "train_loss": output.training_loss,
        "train_seconds": round(seconds, 1),
        "resumed_from": resume or "",
        "stopped_by_time_budget": budget.stopped_at is not None,
    }
    steps_run = trainer.state.global_step - (int(resume.rsplit("-", 1)[1]) if resume else 0)
    tokens = steps_run * cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps
    metrics["tokens_per_second"] = round(tokens * cfg.max_length / max(seconds, 1e-9), 1)
    if eval_blocks:
        loss = trainer.evaluate()["eval_loss"]
        metrics.update(eval_loss=loss, eval_perplexity=math.exp(min(loss, 50)))
    save_trained(trainer, tokenizer, out_dir)
    return PretrainResult(metrics, trainer.model)
