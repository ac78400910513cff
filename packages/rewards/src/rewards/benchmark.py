"""The medical reward benchmark (UltraMedical style): strict pair accuracy per category.

UltraMedical scores reward models on the test split of its preference set, per category (Easy,
Hard, Length, Human), and reports the plain mean of the categories. A pair counts as correct only
when the chosen response's reward is strictly higher (RewardBench's rule: a tie is wrong).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import polars as pl
from data_core.config import Strict
from data_core.errors import DataCoreError
from data_core.io import atomic_path
from data_core.schemas import Preference
from evals.config import BootstrapParams
from evals.stats import bootstrap_ci
from pydantic import Field
from trainers.preference import pair_rows

Messages = list[dict[str, str]]

# UltraMedical's categories first (in the paper's order), any other category after them, sorted
CATEGORY_ORDER = ("easy", "hard", "length", "human")


class RewardEvalConfig(Strict):
    """params `reward_eval:`: which pairs, how the reward model runs, intervals, extra files."""

    split: Literal["train", "test"] = "test"
    max_pairs: int | None = Field(None, ge=1)
    batch_size: int = Field(16, ge=1)
    max_length: int = Field(512, ge=16)
    device: str = "cpu"
    bootstrap: BootstrapParams = Field(default_factory=BootstrapParams)
    # RewardBench-format files (jsonl/json, relative to the root) also scored with the reward model
    rewardbench_files: list[str] = Field(default_factory=list)


class Rewarder(Protocol):
    """What the benchmark needs of a reward model (rewards.scoring.RewardModel has it)."""

    def rewards(self, prompts: Sequence[Messages], responses: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True)
class RewardPair:
    """One preference pair as a reward model sees it: prompt turns and two response texts."""

    id: str
    category: str
    prompt: Messages
    chosen: str
    rejected: str


def _response(pair_id: str, side: str, turns: Messages) -> str:
    if len(turns) != 1 or turns[0].get("role") != "assistant":
        roles = [t.get("role") for t in turns]
        raise DataCoreError(
            f"preference {pair_id}: {side} must add one assistant turn, got {roles}"
        )
    return turns[0]["content"]


def reward_pairs(
    records: Sequence[Preference], split: str = "test", limit: int | None = None
) -> list[RewardPair]:
    """The pairs of one split (in file order), chosen/rejected reduced to their response text."""
    selected = [r for r in records if (r.split or "train") == split]
    rows = pair_rows(records, split, None)  # the trainers' prompt/completion split, validated
    pairs = [
        RewardPair(
            id=r.id,
            category=r.category,
            prompt=row["prompt"],
            chosen=_response(r.id, "chosen", row["chosen"]),
            rejected=_response(r.id, "rejected", row["rejected"]),
        )
        for r, row in zip(selected, rows, strict=True)
    ]
    if not pairs:
        raise DataCoreError(f"no preference pairs in split {split!r}")
    return pairs[:limit] if limit is not None else pairs


def pair_rewards(model: Rewarder, pairs: Sequence[RewardPair]) -> tuple[list[float], list[float]]:
    """(reward of chosen, reward of rejected) for every pair, in one batched call."""
    prompts = [p.prompt for p in pairs]
    scores = model.rewards(
        prompts + prompts, [p.chosen for p in pairs] + [p.rejected for p in pairs]
    )
    if len(scores) != 2 * len(pairs):
        raise DataCoreError(f"reward model returned {len(scores)} rewards for {2 * len(pairs)}")
    return [float(s) for s in scores[: len(pairs)]], [float(s) for s in scores[len(pairs) :]]


def ordered_categories(categories: Sequence[str]) -> list[str]:
    """Distinct categories, UltraMedical's first in their order, others sorted after."""
    present = set(categories)
    return [c for c in CATEGORY_ORDER if c in present] + sorted(present - set(CATEGORY_ORDER))


def accuracy_cell(
    chosen: Sequence[float], rejected: Sequence[float], boot: BootstrapParams
) -> dict[str, Any]:
    """Strict accuracy (chosen > rejected), its bootstrap interval, ties and count."""
    c, r = np.asarray(chosen, dtype=float), np.asarray(rejected, dtype=float)
    if c.shape != r.shape:
        raise ValueError(f"chosen and rejected differ in size: {c.size} vs {r.size}")
    ci = bootstrap_ci(
        (c > r).astype(float),
        resamples=boot.resamples,
        confidence=boot.confidence,
        seed=boot.seed,
    )
    return {
        "accuracy": ci.value,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "ties": int((c == r).sum()),
        "n": ci.n,
    }


def category_scores(
    categories: Sequence[str],
    chosen: Sequence[float],
    rejected: Sequence[float],
    boot: BootstrapParams,
) -> dict[str, dict[str, Any]]:
    """Per category: accuracy, interval, ties, n (the UltraMedical reward benchmark's table)."""
    cats = np.asarray(categories)
    c, r = np.asarray(chosen, dtype=float), np.asarray(rejected, dtype=float)
    if not (cats.size == c.size == r.size):
        raise ValueError(
            f"sizes differ: {cats.size} categories, {c.size} chosen, {r.size} rejected"
        )
    return {
        k: accuracy_cell(c[cats == k], r[cats == k], boot) for k in ordered_categories(categories)
    }


def mean_of_categories(cells: Mapping[str, Mapping[str, Any]]) -> float:
    """UltraMedical's average: the plain mean of the category accuracies."""
    if not cells:
        return float("nan")
    return float(np.mean([v["accuracy"] for v in cells.values()]))


def length_split(
    pairs: Sequence[RewardPair],
    chosen: Sequence[float],
    rejected: Sequence[float],
    boot: BootstrapParams,
    category: str = "easy",
) -> dict[str, dict[str, Any]]:
    """`category`'s accuracy split by whether the chosen response is the longer one (characters).

    A reward model that only learnt "longer is better" is right on chosen_longer and wrong on
    chosen_shorter; equal lengths (rare) get their own cell. Empty groups are left out.
    """
    groups: dict[str, list[int]] = {"chosen_longer": [], "chosen_shorter": [], "equal_length": []}
    for i, p in enumerate(pairs):
        if p.category == category:
            diff = len(p.chosen) - len(p.rejected)
            key = "chosen_longer" if diff > 0 else "chosen_shorter" if diff < 0 else "equal_length"
            groups[key].append(i)
    c, r = np.asarray(chosen, dtype=float), np.asarray(rejected, dtype=float)
    return {k: accuracy_cell(c[idx], r[idx], boot) for k, idx in groups.items() if idx}


def benchmark(
    pairs: Sequence[RewardPair],
    chosen: Sequence[float],
    rejected: Sequence[float],
    boot: BootstrapParams,
) -> dict[str, Any]:
    """One scorer's results: `categories`, their `mean`, and easy accuracy by length."""
    cells = category_scores([p.category for p in pairs], chosen, rejected, boot)
    return {
        "categories": cells,
        "mean": mean_of_categories(cells),
        "easy_by_length": length_split(pairs, chosen, rejected, boot),
    }


def reward_metrics(
    pairs: Sequence[RewardPair],
    scores: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    boot: BootstrapParams,
) -> dict[str, Any]:
    """metrics/reward_eval.json: the reward model (`scores["reward"]`) and every other scorer as a
    baseline (`categories` and `mean` each), on the same pairs. Results only."""
    if "reward" not in scores:
        raise ValueError("scores need the reward model's, under 'reward'")
    categories = [p.category for p in pairs]
    baselines = {}
    for name, (chosen, rejected) in scores.items():
        if name != "reward":
            cells = category_scores(categories, chosen, rejected, boot)
            baselines[name] = {"categories": cells, "mean": mean_of_categories(cells)}
    return {
        "pairs": len(pairs),
        **benchmark(pairs, *scores["reward"], boot),
        "baselines": baselines,
    }


def write_predictions(
    path: str | Path,
    pairs: Sequence[RewardPair],
    scores: Mapping[str, tuple[Sequence[float], Sequence[float]]],
) -> None:
    """Per pair: id, category, the reward model's chosen/rejected rewards, every scorer's margin."""
    columns: dict[str, Any] = {"id": [p.id for p in pairs], "category": [p.category for p in pairs]}
    for name, (chosen, rejected) in scores.items():
        if name == "reward":
            columns["reward_chosen"], columns["reward_rejected"] = list(chosen), list(rejected)
        columns[f"{name}_margin"] = [c - r for c, r in zip(chosen, rejected, strict=True)]
    with atomic_path(path) as tmp:
        pl.DataFrame(columns).write_parquet(tmp)
