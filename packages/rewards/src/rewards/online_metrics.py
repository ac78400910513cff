"""Per-round figures of online DPO: what the reward model saw and chose, and whether what it
prefers is right. Reward hacking shows as a rising top-1 reward with a falling verified rate of
the reward model's best response (or as a reward that grows with length)."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from synth.judge import verify

from rewards.online_pairs import PromptSamples, best_and_worst


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson correlation; None when it is undefined (fewer than 2 points or a constant)."""
    if len(xs) < 2:
        return None
    try:
        return round(statistics.correlation(xs, ys), 4)
    except statistics.StatisticsError:
        return None


def verified_rates(
    groups: Sequence[PromptSamples],
    sample: int | None,
    seed: int,
    length_penalty: float,
    open_threshold: float,
) -> dict[str, Any]:
    """Gold-checked share of three responses per checked prompt: a seeded random one, the reward
    model's best and its worst (by the ranking score); prompts without a gold answer don't count.

    `sample` prompts are checked (a seeded choice; None: all of them).
    """
    rng = random.Random(seed)
    chosen = range(len(groups))
    if sample is not None and sample < len(groups):
        chosen = sorted(rng.sample(range(len(groups)), sample))
    checks: dict[str, list[bool]] = {"random": [], "best": [], "worst": []}
    checked = 0
    for i in chosen:
        group = groups[i]
        best, worst = best_and_worst(group.scores(length_penalty))
        picks = {"random": rng.randrange(len(group.texts)), "best": best, "worst": worst}
        texts = {k: group.texts[j] for k, j in picks.items()}
        verdicts = {k: verify(group.record, t, open_threshold) for k, t in texts.items()}
        if verdicts["best"] is None:  # no gold answer to check against
            continue
        checked += 1
        for key, verdict in verdicts.items():
            checks[key].append(bool(verdict))
    rates = {f"verified_{k}": _mean([float(v) for v in vs]) for k, vs in checks.items()}
    return {"verified_prompts": checked, **rates}


def round_metrics(
    groups: Sequence[PromptSamples],
    kept: Sequence[tuple[PromptSamples, int, int]],
    dropped: Counter[str],
    *,
    verified: dict[str, Any],
) -> dict[str, Any]:
    """Results of one round: pairs kept / dropped by reason (`contaminated`: the benchmark screen
    left the prompt fewer than two responses; such prompts are not in `groups`), reward mean and
    top-1 (the mean over prompts of the best reward), chosen / rejected lengths, reward-length
    correlation, verified rates (see `verified_rates`)."""
    rewards = [r for g in groups for r in g.rewards]
    tokens = [float(t) for g in groups for t in g.tokens]
    return {
        "prompts": len(groups) + dropped.get("contaminated", 0),  # = pairs kept + dropped
        "responses": len(rewards),
        "pairs_kept": len(kept),
        "pairs_dropped": sum(dropped.values()),
        "dropped_tie": dropped.get("tie", 0),
        "dropped_below_margin": dropped.get("below_margin", 0),
        "dropped_contaminated": dropped.get("contaminated", 0),  # < 2 responses left unmatched
        "reward_mean": _mean(rewards),
        "reward_top1": _mean([max(g.rewards) for g in groups if g.rewards]),
        "response_tokens_mean": _mean(tokens),
        "chosen_tokens_mean": _mean([float(g.tokens[c]) for g, c, _ in kept]),
        "rejected_tokens_mean": _mean([float(g.tokens[r]) for g, _, r in kept]),
        "chosen_reward_mean": _mean([g.rewards[c] for g, c, _ in kept]),
        "rejected_reward_mean": _mean([g.rewards[r] for g, _, r in kept]),
        "reward_length_pearson": pearson(rewards, tokens),
        **verified,
    }
