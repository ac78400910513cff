"""Online DPO's data rules: the prompt pool and its per-iteration slices, the reward model's
best-vs-worst pairs (ties and small gaps dropped, optional length penalty)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data_core.errors import DataCoreError
from data_core.schemas import Instruction, Preference
from synth.sample import stable_order

Messages = list[dict[str, str]]
TIE = 1e-9  # ranking scores closer than this are equal
_SAMPLE_SUFFIX = re.compile(r"#\d+$")  # preference ids are "<instruction id>#<k>"


@dataclass
class PromptSamples:
    """One prompt of an iteration: its instruction (gold), messages, responses and their rewards."""

    record: Instruction
    messages: Messages
    texts: list[str]
    rewards: list[float]
    tokens: list[int]  # response lengths in policy tokens

    def scores(self, length_penalty: float) -> list[float]:
        """What pairs are ranked by: reward - alpha * response tokens."""
        return [r - length_penalty * t for r, t in zip(self.rewards, self.tokens, strict=True)]


def best_and_worst(scores: Sequence[float]) -> tuple[int, int]:
    """(argmax, argmin) of the scores; the first index wins among equals."""
    if not scores:
        raise DataCoreError("online_dpo: a prompt without responses cannot make a pair")
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    worst = min(range(len(scores)), key=lambda i: (scores[i], i))
    return best, worst


def pick_pair(
    scores: Sequence[float], texts: Sequence[str], min_margin: float
) -> tuple[int, int] | str:
    """(chosen, rejected) indices, or why the prompt gives no pair: `tie` (every score equal, or
    the best and worst texts are the same) or `below_margin` (best - worst < min_margin)."""
    best, worst = best_and_worst(scores)
    gap = scores[best] - scores[worst]
    if gap <= TIE or texts[best].strip() == texts[worst].strip():
        return "tie"
    if gap < min_margin:
        return "below_margin"
    return best, worst


def make_pairs(
    groups: Sequence[PromptSamples], min_margin: float, length_penalty: float
) -> tuple[list[dict], list[tuple[PromptSamples, int, int]], Counter[str]]:
    """Conversational DPO rows, the (group, chosen, rejected) they come from, drops by reason."""
    rows: list[dict] = []
    kept: list[tuple[PromptSamples, int, int]] = []
    dropped: Counter[str] = Counter()
    for group in groups:
        picked = pick_pair(group.scores(length_penalty), group.texts, min_margin)
        if isinstance(picked, str):
            dropped[picked] += 1
            continue
        chosen, rejected = picked
        rows.append(
            {
                "prompt": group.messages,
                "chosen": [{"role": "assistant", "content": group.texts[chosen]}],
                "rejected": [{"role": "assistant", "content": group.texts[rejected]}],
            }
        )
        kept.append((group, chosen, rejected))
    return rows, kept, dropped


def prompt_pool(
    instructions: Sequence[Instruction],
    preferences: Sequence[Preference] | None,
    source: Path,
) -> list[Instruction]:
    """The train-split instructions online DPO may prompt with (never a test-split prompt).

    With `preferences`, only the instructions the preference set's train pairs were made from
    (a preference id is `<instruction id>#<k>`); `source` names the instruction file in errors.
    """
    train = {r.id: r for r in instructions if r.split == "train"}
    if preferences is None:
        pool = list(train.values())
    else:
        known = {r.id for r in instructions}
        test = {_SAMPLE_SUFFIX.sub("", p.id) for p in preferences if p.split == "test"}
        wanted = dict.fromkeys(
            _SAMPLE_SUFFIX.sub("", p.id) for p in preferences if (p.split or "train") == "train"
        )
        missing = [i for i in wanted if i not in known]
        if missing:
            more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
            raise DataCoreError(
                f"{source}: no instruction for preference prompt(s) {', '.join(missing[:5])}{more}"
            )
        # a prompt of a test pair or a test-split instruction never enters the pool
        pool = [train[i] for i in wanted if i in train and i not in test]
    if not pool:
        raise DataCoreError(f"{source}: no train-split prompts for online_dpo")
    return pool


def prompt_slices(
    pool: Sequence[Instruction], iterations: int, per_iteration: int, seed: int
) -> list[list[Instruction]]:
    """Disjoint per-iteration prompt sets, in a seeded hash order of the ids (adding prompts to
    the pool does not reorder the others)."""
    need = iterations * per_iteration
    if need > len(pool):
        raise DataCoreError(
            f"params.yaml: online_dpo: {iterations} iterations x {per_iteration} prompts need "
            f"{need} distinct prompts, the pool has {len(pool)}"
        )
    ordered = stable_order(list(pool), salt=f"online_dpo:{seed}")
    return [ordered[i * per_iteration : (i + 1) * per_iteration] for i in range(iterations)]
