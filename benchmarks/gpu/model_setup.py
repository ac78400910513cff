"""The benchmarked model: a Llama-3-architecture model built at a named size with the project's
tokenizer (trainers.pretrain.new_model, the pipeline's own builder), or a local model dir."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

# Llama-3.2-1B's shape (GQA 32/8, SwiGLU 8192, 16 layers, tied embeddings); with the pipeline's
# 4,096-token tokenizer that is 0.98B parameters, with Llama-3's 128,256 tokens 1.24B.
SIZES: dict[str, dict[str, int]] = {
    "1b": {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
    },
    # a CPU smoke test of the whole path in seconds
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 192,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    },
}


def shape(model: Any) -> dict[str, Any]:
    """What the FLOPs formula needs (and the report shows) about a built model."""
    from benchmarks.gpu.hardware import matmul_params

    cfg = model.config
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "matmul_parameters": matmul_params(model),
        "layers": cfg.num_hidden_layers,
        "hidden_size": cfg.hidden_size,
        "vocab_size": cfg.vocab_size,
        "tied_embeddings": bool(getattr(cfg, "tie_word_embeddings", False)),
    }


def _new_model(cfg: Any, tokenizer: Any, seed: int) -> tuple[Any, str]:
    """The pipeline's builder, trainers.pretrain.new_model; where trainers does not import (the
    lent GPU machine's eval bundle has no polars, which trainers -> data_core.io imports), the
    same Llama-3 config through transformers, saying so."""
    from trainers.model_dir import set_chat_stop_tokens

    try:
        from trainers.pretrain import new_model
    except ImportError as exc:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(seed)
        fields = cfg.model_dump(exclude={"base_path", "attn_implementation"})
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **fields,
        )
        config._attn_implementation = cfg.attn_implementation
        model = LlamaForCausalLM(config)
        set_chat_stop_tokens(model, tokenizer)
        return model, f"transformers.LlamaConfig (trainers.pretrain: {exc})"
    return new_model(cfg, tokenizer, seed), "trainers.pretrain.new_model"


def build_model(size: str, tokenizer_dir: Path, out_dir: Path, device: str, seed: int = 0) -> dict:
    """Random-init the `size` model on `device` (fast on a GPU), save it bf16 there, fp32 on CPU."""
    import torch
    from trainers.config import ModelConfig
    from trainers.model_dir import save_model_dir
    from transformers import AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = ModelConfig(**SIZES[size], max_position_embeddings=4096, attn_implementation="sdpa")
    with torch.device(device):
        model, builder = _new_model(cfg, tokenizer, seed)
    if device.startswith("cuda"):
        model = model.to(torch.bfloat16)
    save_model_dir(model, tokenizer, out_dir)  # trainers.model_dir: the pipeline's atomic save
    info = {"source": f"random init, size {size}, tokenizer {tokenizer_dir}"} | shape(model)
    return info | {
        "builder": builder,
        "dtype": str(model.dtype),
        "build_s": round(time.perf_counter() - start, 1),
    }


def describe_model(model_dir: Path) -> dict:
    """The shape of an existing model dir, counted on the meta device (no weights loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {"source": str(model_dir)} | shape(model) | {"dtype": str(config.dtype)}


def run_build(spec: dict[str, Any]) -> dict[str, Any]:
    """The `model` part: build the spec's size into spec['model_dir']."""
    return build_model(
        spec["size"], Path(spec["tokenizer"]), Path(spec["model_dir"]), spec["device"]
    )
