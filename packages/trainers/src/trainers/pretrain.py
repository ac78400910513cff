"""Pretraining the tiny Llama-3-architecture base on knowledge text with the HF Trainer."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
from datasets import Dataset
from generation.weights import load_pretrained
from transformers import (
    AutoModelForCausalLM,
    DataCollatorForLanguageModeling,
    LlamaConfig,
    LlamaForCausalLM,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.integrations import is_deepspeed_zero3_enabled

from trainers.arguments import model_init_kwargs
from trainers.config import ModelConfig, PretrainConfig
from trainers.distributed import is_main_process
from trainers.lifecycle import TrainingJob, TrainingResult, run_training
from trainers.model_dir import save_model_dir, set_chat_stop_tokens

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


def new_model(
    cfg: ModelConfig, tokenizer: Any, seed: int = 42, attn_implementation: str | None = None
) -> LlamaForCausalLM:
    """A freshly initialised LlamaForCausalLM (seeded, so the same params give the same weights).

    Under ZeRO-3 (a live DeepSpeed config: create the TrainingArguments first) it is built
    through `_from_config`, which partitions each layer as it is created (deepspeed.zero.Init)
    instead of materialising the whole model on every rank; its initialiser draws in another
    order, so the same seed gives other (equally distributed) weights than without ZeRO-3.
    """
    torch.manual_seed(seed)
    config = llama_config(cfg, tokenizer)
    config._attn_implementation = attn_implementation or cfg.attn_implementation
    if is_deepspeed_zero3_enabled():
        model = LlamaForCausalLM._from_config(config)
    else:  # the constructor, as ever: the default's weights stay byte-identical
        model = LlamaForCausalLM(config)
    set_chat_stop_tokens(model, tokenizer)
    return model


def parameter_count(model: Any) -> int:
    """Parameters of `model`, also when ZeRO-3 has partitioned them (each keeps `ds_numel`)."""
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())


def copy_base(
    base_path: str, tokenizer: Any, cfg: PretrainConfig, job: TrainingJob
) -> TrainingResult:
    """The real weights become models/base in the configured precision (bf16 for a bf16 run,
    not fp32: half the memory and the file size). Nothing trains, so nothing is partitioned:
    one process (rank 0) loads and saves; under a multi-process launch the others return."""
    if not is_main_process():
        return TrainingResult({"mode": "copied"}, {}, None)
    model = load_pretrained(AutoModelForCausalLM, base_path, **model_init_kwargs(cfg))
    save_model_dir(model, tokenizer, job.out_dir)
    return TrainingResult({"mode": "copied", "parameters": parameter_count(model)}, {}, model)


def pack_blocks(texts: Sequence[str], tokenizer: Any, block: int) -> list[list[int]]:
    """<bos> text <eos> for each document, concatenated and cut into `block`-token rows."""
    ids: list[int] = []
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    for row in encoded:
        ids.extend([tokenizer.bos_token_id, *row, tokenizer.eos_token_id])
    return [ids[i : i + block] for i in range(0, len(ids) - block + 1, block)]


def pretrain(
    texts: Sequence[str],
    eval_texts: Sequence[str],
    tokenizer: Any,
    model_cfg: ModelConfig,
    cfg: PretrainConfig,
    job: TrainingJob,
) -> TrainingResult:
    """Train the base from scratch (or take over `model.base_path`) and save it to `job.out_dir`."""
    if model_cfg.base_path:  # full scale: the real weights are the base; nothing to pretrain
        return copy_base(model_cfg.base_path, tokenizer, cfg, job)
    train_blocks = pack_blocks(texts, tokenizer, cfg.max_length)
    eval_blocks = pack_blocks(eval_texts, tokenizer, cfg.max_length) if eval_texts else []

    def make_trainer(arguments: dict[str, Any], callbacks: list[TrainerCallback]) -> Trainer:
        args = TrainingArguments(**arguments)
        # created after `args`: its DeepSpeed config is live, so ZeRO-3 partitions at creation
        model = new_model(model_cfg, tokenizer, cfg.seed, cfg.attn_implementation)
        log.info(
            "model: %.2fM parameters; %d train blocks of %d tokens",
            parameter_count(model) / 1e6,
            len(train_blocks),
            cfg.max_length,
        )
        return Trainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_dict({"input_ids": train_blocks}),
            eval_dataset=Dataset.from_dict({"input_ids": eval_blocks}) if eval_blocks else None,
            data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
            processing_class=tokenizer,
            callbacks=callbacks,
        )

    def evaluate(trainer: Trainer) -> dict[str, float]:
        if not eval_blocks:
            return {}
        loss = trainer.evaluate()["eval_loss"]
        return {"eval_loss": loss, "eval_perplexity": math.exp(min(loss, 50))}

    tokens_per_step = (
        cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * cfg.max_length
    )
    result = run_training(
        job, cfg, tokenizer, make_trainer, evaluate=evaluate, tokens_per_step=tokens_per_step
    )
    result.metrics = {
        "mode": "trained",
        "parameters": parameter_count(result.model),
        "train_blocks": len(train_blocks),
        "train_tokens_per_epoch": len(train_blocks) * cfg.max_length,
    } | result.metrics
    return result
