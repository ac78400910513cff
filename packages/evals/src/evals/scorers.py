"""Scorers: option log-likelihood, generation + extraction, CoT, self-consistency, best-of-n.

Every scorer returns one row per item (the Parquet layout of data/eval/predictions/*.parquet):
id, gold, prediction (a letter or "unparsed"), correct, and what produced the prediction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from data_core.schemas import EvalItem

from evals.backends import Backend, GenerationConfig
from evals.extract import UNPARSED, extract_answer
from evals.prompts import choices


class RewardScorer(Protocol):
    """A reward model: one score per completion of a prompt (higher is better)."""

    def score(self, prompt: str, completions: Sequence[str]) -> Sequence[float]: ...


def _row(item: EvalItem, prediction: str | None, **extra: Any) -> dict[str, Any]:
    pred = prediction or UNPARSED
    return {
        "id": item.id,
        "gold": item.answer,
        "prediction": pred,
        "correct": pred == item.answer,
        **extra,
    }


def score_loglik(
    backend: Backend,
    items: Sequence[EvalItem],
    prompts: Sequence[str],
    *,
    chat: bool,
    kind: str = "letters",
) -> list[dict[str, Any]]:
    """acc: argmax of option log-likelihood; acc_norm: divided by the option's length in characters.

    acc_norm follows lm-evaluation-harness (length of the choice string, without the delimiter).
    """
    conts = [choices(item, kind, chat=chat) for item in items]
    scores = backend.loglikelihood([(p, c) for p, c in zip(prompts, conts, strict=True)])
    rows = []
    for item, row_scores in zip(items, scores, strict=True):
        letters = list(item.options)
        lls = np.array([s[0] for s in row_scores])
        texts = letters if kind == "letters" else list(item.options.values())
        lengths = np.array([float(len(t)) for t in texts])
        pred, pred_norm = letters[int(np.argmax(lls))], letters[int(np.argmax(lls / lengths))]
        rows.append(
            _row(
                item,
                pred,
                prediction_norm=pred_norm,
                correct_norm=pred_norm == item.answer,
                logliks=lls.tolist(),
                is_greedy=[bool(s[1]) for s in row_scores],
            )
        )
    return rows


def score_generate(
    backend: Backend, items: Sequence[EvalItem], prompts: Sequence[str], config: GenerationConfig
) -> list[dict[str, Any]]:
    """Greedy (or configured) generation, answer extracted from the first sample."""
    outputs = backend.generate(list(prompts), config)
    return [
        _row(item, extract_answer(outs[0], item.options), output=outs[0])
        for item, outs in zip(items, outputs, strict=True)
    ]


def majority_vote(answers: Sequence[str | None]) -> str | None:
    """Most frequent parsed answer; unparsed samples do not vote.

    Tie rule: among the tied answers, the one whose first vote came earliest in sample order wins
    (deterministic given the seeded samples, and it favours no particular letter).
    """
    votes = [a for a in answers if a and a != UNPARSED]
    if not votes:
        return None
    counts = Counter(votes)
    top = max(counts.values())
    return next(a for a in votes if counts[a] == top)


def score_self_consistency(
    backend: Backend, items: Sequence[EvalItem], prompts: Sequence[str], config: GenerationConfig
) -> list[dict[str, Any]]:
    """n sampled answers per item (UltraMedical: 10, T=0.7, top-p 0.9), majority vote."""
    outputs = backend.generate(list(prompts), config)
    rows = []
    for item, outs in zip(items, outputs, strict=True):
        answers = [extract_answer(o, item.options) for o in outs]
        rows.append(
            _row(
                item,
                majority_vote(answers),
                samples=list(outs),
                votes=[a or UNPARSED for a in answers],
            )
        )
    return rows


def score_best_of_n(
    backend: Backend,
    items: Sequence[EvalItem],
    prompts: Sequence[str],
    config: GenerationConfig,
    reward: RewardScorer | Callable[[str, Sequence[str]], Sequence[float]],
    *,
    questions: Sequence[str] | None = None,
    prefixes: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """n samples per item; the reward model's top completion is the answer (first on ties).

    The reward model reads each item's user-turn text (`questions`; default: the prompt) and the
    whole assistant reply: the answer's prefilled opening (`prefixes`) plus the sample, as it was
    trained. On the same samples each row also records the majority vote (self-consistency) and
    whether any sample is correct (the best any selector could do: the upper bound).
    """
    score = reward.score if hasattr(reward, "score") else reward
    outputs = backend.generate(list(prompts), config)
    questions = list(questions) if questions is not None else list(prompts)
    prefixes = list(prefixes) if prefixes is not None else [""] * len(items)
    rows = []
    for item, question, prefix, outs in zip(items, questions, prefixes, outputs, strict=True):
        rewards = [float(r) for r in score(question, [prefix + o for o in outs])]
        if len(rewards) != len(outs):
            raise ValueError(
                f"reward scorer returned {len(rewards)} scores for {len(outs)} completions"
            )
        answers = [extract_answer(o, item.options) for o in outs]
        best = int(np.argmax(rewards))
        vote = majority_vote(answers)
        rows.append(
            _row(
                item,
                answers[best],
                output=outs[best],
                samples=list(outs),
                rewards=rewards,
                votes=[a or UNPARSED for a in answers],
                self_consistency=vote or UNPARSED,
                any_correct=item.answer in answers,
            )
        )
    return rows
