"""Reward baselines on the same pairs: what a trained reward model has to beat.

- `longer_wins`: the longer response (in characters) is preferred; equal lengths are a tie, wrong.
- `sft_logprob`: the SFT model's mean log-probability per response token.
- `dpo_implicit`: the DPO model's implicit reward beta * (log p_dpo - log p_sft) of the response.

Each returns (chosen scores, rejected scores), scored like a reward model's rewards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_core.errors import DataCoreError
from generation.hf import load_hf
from trainers.heldout import assistant_labels, completion_logps

from rewards.benchmark import Messages, RewardPair

Scores = tuple[list[float], list[float]]


def longer_wins(pairs: Sequence[RewardPair]) -> Scores:
    """Response length in characters as the reward."""
    return [float(len(p.chosen)) for p in pairs], [float(len(p.rejected)) for p in pairs]


@dataclass(frozen=True)
class ResponseLogps:
    """Summed log p(response | prompt) and response token counts, chosen and rejected."""

    chosen: list[float]
    rejected: list[float]
    chosen_tokens: list[int]
    rejected_tokens: list[int]


def _turn(text: str) -> Messages:
    return [{"role": "assistant", "content": text}]


def response_logps(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[RewardPair],
    max_length: int = 512,
    batch_size: int = 16,
) -> ResponseLogps:
    """log p(chosen | prompt) and log p(rejected | prompt) with their response token counts.

    Both sides go through `completion_logps` in one call, sorted by length (less padding).
    """
    prompts = [p.prompt for p in pairs] * 2
    turns = [_turn(p.chosen) for p in pairs] + [_turn(p.rejected) for p in pairs]
    labels = [
        assistant_labels(tokenizer, p + c, max_length)["labels"]
        for p, c in zip(prompts, turns, strict=True)
    ]
    # the tokens completion_logps sums over: assistant labels after truncation
    counts = [sum(label != -100 for label in row) for row in labels]
    empty = sorted({pairs[i % len(pairs)].id for i, n in enumerate(counts) if n == 0})
    if empty:
        raise DataCoreError(f"a response has no token within max_length={max_length}: {empty[:5]}")
    order = sorted(range(len(labels)), key=lambda i: len(labels[i]))
    sorted_logps = completion_logps(
        model,
        tokenizer,
        [prompts[i] for i in order],
        [turns[i] for i in order],
        max_length,
        batch_size,
    )
    logps = [0.0] * len(order)
    for i, value in zip(order, sorted_logps, strict=True):
        logps[i] = value
    n = len(pairs)
    return ResponseLogps(logps[:n], logps[n:], counts[:n], counts[n:])


def mean_logprob(logps: ResponseLogps) -> Scores:
    """Mean log-probability per response token."""
    return (
        [s / n for s, n in zip(logps.chosen, logps.chosen_tokens, strict=True)],
        [s / n for s, n in zip(logps.rejected, logps.rejected_tokens, strict=True)],
    )


def dpo_implicit(policy: ResponseLogps, reference: ResponseLogps, beta: float) -> Scores:
    """DPO's implicit reward beta * (log p_policy(y|x) - log p_reference(y|x)) of each response."""
    return (
        [beta * (p - r) for p, r in zip(policy.chosen, reference.chosen, strict=True)],
        [beta * (p - r) for p, r in zip(policy.rejected, reference.rejected, strict=True)],
    )


def model_logps(
    path: str | Path, pairs: Sequence[RewardPair], max_length: int, batch_size: int
) -> ResponseLogps:
    """Load a causal LM (CPU, float32: `completion_logps` keeps its tensors on the CPU), score."""
    model, tokenizer, _ = load_hf(path, device="cpu", dtype="float32")
    try:
        return response_logps(model, tokenizer, pairs, max_length, batch_size)
    finally:
        del model


def baseline_scores(
    pairs: Sequence[RewardPair],
    sft: str | Path,
    dpo: str | Path,
    beta: float,
    max_length: int = 512,
    batch_size: int = 16,
) -> dict[str, Scores]:
    """The three baselines' (chosen, rejected) scores; the SFT log-probs serve two of them."""
    sft_logps = model_logps(sft, pairs, max_length, batch_size)
    dpo_logps = model_logps(dpo, pairs, max_length, batch_size)
    return {
        "longer_wins": longer_wins(pairs),
        "sft_logprob": mean_logprob(sft_logps),
        "dpo_implicit": dpo_implicit(dpo_logps, sft_logps, beta),
    }
