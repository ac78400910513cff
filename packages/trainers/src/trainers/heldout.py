"""Held-out measurements shared by the stages: assistant-token loss, preference accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

Messages = list[dict[str, str]]


def assistant_labels(tokenizer: Any, messages: Messages, max_length: int) -> dict[str, list[int]]:
    """input_ids and labels of one conversation; labels are -100 outside assistant turns."""
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = list(out["input_ids"])[:max_length]
    mask = list(out["assistant_masks"])[:max_length]
    return {"input_ids": ids, "labels": [t if m else -100 for t, m in zip(ids, mask, strict=True)]}


def _pad(rows: Sequence[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows])


@torch.no_grad()
def assistant_loss(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Messages],
    max_length: int = 512,
    batch_size: int = 16,
) -> dict[str, float]:
    """Mean NLL per assistant token over held-out conversations (the SFT objective, no packing)."""
    model.eval()
    total, count = 0.0, 0
    pad = tokenizer.pad_token_id
    for start in tqdm(range(0, len(conversations), batch_size), desc="held-out loss", leave=False):
        rows = [
            assistant_labels(tokenizer, m, max_length)
            for m in conversations[start : start + batch_size]
        ]
        ids = _pad([r["input_ids"] for r in rows], pad)
        labels = _pad([r["labels"] for r in rows], -100)
        attention = _pad([[1] * len(r["input_ids"]) for r in rows], 0)
        logits = model(input_ids=ids, attention_mask=attention).logits
        shift_logits, shift_labels = logits[:, :-1].float(), labels[:, 1:]
        nll = torch.nn.functional.cross_entropy(
            shift_logits.reshape(-1, shift_logits.size(-1)),
            shift_labels.reshape(-1),
            ignore_index=-100,
            reduction="sum",
        )
        total += nll.item()
        count += int((shift_labels != -100).sum())
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50)), "tokens": count}


@torch.no_grad()
def completion_logps(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Messages],
    completions: Sequence[Messages],
    max_length: int = 512,
    batch_size: int = 16,
) -> list[float]:
    """Sum of log p(completion tokens | prompt) for each (prompt, completion) pair."""
    model.eval()
    out: list[float] = []
    pad = tokenizer.pad_token_id
    for start in range(0, len(prompts), batch_size):
        rows = [
            assistant_labels(tokenizer, p + c, max_length)
            for p, c in zip(
                prompts[start : start + batch_size],
                completions[start : start + batch_size],
                strict=True,
            )
        ]
        ids = _pad([r["input_ids"] for r in rows], pad)
        labels = _pad([r["labels"] for r in rows], -100)
        attention = _pad([[1] * len(r["input_ids"]) for r in rows], 0)
        logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
        target = labels[:, 1:]
        logp = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0).unsqueeze(-1))
        out.extend((logp.squeeze(-1) * (target != -100)).sum(-1).tolist())
    return out


def pair_logps(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[dict[str, Messages]],
    max_length: int = 512,
    batch_size: int = 16,
) -> tuple[list[float], list[float]]:
    """(log p(chosen | prompt), log p(rejected | prompt)) for every pair."""
    prompts = [p["prompt"] for p in pairs]
    chosen = completion_logps(
        model, tokenizer, prompts, [p["chosen"] for p in pairs], max_length, batch_size
    )
    rejected = completion_logps(
        model, tokenizer, prompts, [p["rejected"] for p in pairs], max_length, batch_size
    )
    return chosen, rejected


def preference_accuracy(
    policy: tuple[list[float], list[float]],
    reference: tuple[list[float], list[float]] | None,
    beta: float = 0.1,
) -> dict[str, float]:
    """Held-out pair metrics from (chosen, rejected) log-probs: how often the chosen answer wins.

    `likelihood_accuracy`: log p_policy(chosen) > log p_policy(rejected), comparable across models.
    `reward_accuracy`: implicit DPO reward beta*log(p_policy/p_ref), chosen > rejected (ties
    count half, so a policy equal to its reference scores 0.5, chance).
    """
    chosen, rejected = policy
    n = max(len(chosen), 1)
    result = {
        "pairs": float(len(chosen)),
        "likelihood_accuracy": sum(c > r for c, r in zip(chosen, rejected, strict=True)) / n,
        "logps_chosen": sum(chosen) / n,
        "logps_rejected": sum(rejected) / n,
    }
    if reference is not None:
        ref_c, ref_r = reference
        margins = [
            beta * ((c - rc) - (r - rr))
            for c, rc, r, rr in zip(chosen, ref_c, rejected, ref_r, strict=True)
        ]
        wins = sum(1.0 if m > 1e-6 else 0.5 if abs(m) <= 1e-6 else 0.0 for m in margins)
        result.update(reward_accuracy=wins / n, reward_margin=sum(margins) / n)
    return result
