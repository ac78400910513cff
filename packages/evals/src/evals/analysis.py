"""Why a model gets held-out knowledge items right or wrong: per-item evidence, split two ways.

- Did the base read the gold answer's facts during pretraining? (If not, no model can know it.)
- How many distractors were answers of SFT records? (A fine-tuned model may prefer names it was
  trained to say: an answer prior, not knowledge.)
Each split gives every model's accuracy on the items of that split, and how often the model chose
an option that was an SFT answer, from the per-item predictions of `evaluate`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from data_core.schemas import EvalItem, Instruction


def training_answers(records: Iterable[Instruction]) -> set[str]:
    """Knowledge-base ids (diseases, terms) that are the answer of an MC training record."""
    answers = set()
    for record in records:
        option_ids = record.meta.get("option_ids") if record.meta else None
        if record.answer and isinstance(option_ids, Mapping) and record.answer in option_ids:
            answers.add(option_ids[record.answer])
    return answers


def read_by_base(
    domain: Iterable[str], definition_items: Iterable[EvalItem], corpus: str
) -> set[str]:
    """What the base read: every knowledge-domain disease, and each definition item's term whose
    "Name: definition" passage is among its pretraining documents (`corpus`)."""
    read = set(domain)
    read |= {i.meta["subject"] for i in definition_items if f"{i.options[i.answer]}: " in corpus}
    return read


def item_evidence(
    items: Sequence[EvalItem], read: set[str], answers: set[str]
) -> dict[str, dict[str, Any]]:
    """Per item id: whether the base read its gold subject, and its distractors that are answers."""
    out = {}
    for item in items:
        option_ids = item.meta.get("option_ids") or {}
        distractors = [oid for letter, oid in option_ids.items() if letter != item.answer]
        out[item.id] = {
            "gold_read": item.meta.get("subject") in read,
            "answer_distractors": sum(d in answers for d in distractors),
            "answer_letters": sorted(k for k, v in option_ids.items() if v in answers),
        }
    return out


def _accuracy(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    return {
        "n": n,
        "acc": sum(r["correct"] for r in rows) / n if n else None,
        # share of items where the model chose an option that an SFT record had as its answer
        "chose_training_answer": sum(r["prediction"] in r["answer_letters"] for r in rows) / n
        if n
        else None,
    }


def breakdown(predictions: pl.DataFrame, evidence: Mapping[str, Mapping[str, Any]]) -> dict:
    """One model's accuracy by `gold_read` and by the number of distractors that were answers."""
    rows = [
        {**evidence[r["id"]], "correct": bool(r["correct"]), "prediction": r["prediction"]}
        for r in predictions.select("id", "correct", "prediction").iter_rows(named=True)
        if r["id"] in evidence
    ]
    by_read: dict[str, list] = defaultdict(list)
    by_count: dict[str, list] = defaultdict(list)
    for row in rows:
        by_read["read" if row["gold_read"] else "unread"].append(row)
        by_count[str(row["answer_distractors"])].append(row)
    return {
        "all": _accuracy(rows),
        "by_gold_read": {k: _accuracy(v) for k, v in sorted(by_read.items())},
        "by_answer_distractors": {k: _accuracy(v) for k, v in sorted(by_count.items())},
    }


def diagnose(
    predictions: Mapping[str, Mapping[str, pl.DataFrame]],
    items: Mapping[str, Sequence[EvalItem]],
    read: Mapping[str, set[str]],
    answers: set[str],
) -> dict[str, Any]:
    """task key -> model -> breakdown; `read[task]` is the set of subjects the base read."""
    out: dict[str, Any] = {}
    for task, per_model in predictions.items():
        evidence = item_evidence(items[task], read[task], answers)
        out[task] = {
            "items": len(evidence),
            "gold_read": sum(e["gold_read"] for e in evidence.values()),
            "models": {m: breakdown(frame, evidence) for m, frame in per_model.items()},
        }
    return out
