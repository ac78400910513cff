"""Held-out preference accuracy of online DPO's policies on the preference test split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from generation.weights import load_pretrained
from trainers.arguments import model_init_kwargs
from trainers.heldout import pair_logps, preference_accuracy
from transformers import AutoModelForCausalLM

from rewards.online_config import OnlineDpoConfig


def _logps(path: Path, tokenizer: Any, test: Sequence[dict], cfg: OnlineDpoConfig):
    model = load_pretrained(AutoModelForCausalLM, path, **model_init_kwargs(cfg))
    try:
        return pair_logps(model, tokenizer, test, cfg.max_length, cfg.per_device_eval_batch_size)
    finally:
        del model


def heldout_figures(
    models: Mapping[str, Path],
    reference: Path | None,
    tokenizer: Any,
    test: Sequence[dict],
    cfg: OnlineDpoConfig,
) -> dict[str, Any]:
    """`heldout_<name>_<figure>` per model: likelihood accuracy (comparable across models) and,
    against `reference` (the dpo stage's: models/sft), the implicit-reward accuracy and margin."""
    ref = _logps(reference, tokenizer, test, cfg) if reference is not None else None
    out: dict[str, Any] = {"heldout_pairs": len(test)}
    for name, path in models.items():
        figures = preference_accuracy(_logps(path, tokenizer, test, cfg), ref, cfg.beta)
        out |= {f"heldout_{name}_{k}": v for k, v in figures.items() if k != "pairs"}
    return out
