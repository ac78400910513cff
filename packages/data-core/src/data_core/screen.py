"""Screening any stage's training texts against the benchmarks: one index, one removal table.

Every stage that writes text a model will train on (decontaminate, build, reward, online_dpo)
removes what matches a benchmark item here and keeps a `Removal` row with the evidence, so one
table across stages says which record left where, by which rule, matching which item.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from pydantic import BaseModel

from data_core.config import DecontaminateConfig
from data_core.contamination import BenchmarkIndex, Match
from data_core.io import atomic_path
from data_core.schemas import EvalItem

R = TypeVar("R", bound=BaseModel)

RULE_REASONS = {  # Match.rule -> the reason a removal row carries
    "ngram": "ngram_overlap",
    "stem": "stem_containment",
    "stem_answer": "stem_answer_containment",
    "stem_options": "stem_options_containment",
    "embedding": "embedding_similarity",
}
REASONS = ("exact_duplicate", "near_duplicate", *RULE_REASONS.values())


class Removal(BaseModel):
    """A record left out of a training set, why, and what it matched."""

    id: str
    stage: str  # the stage that removed it
    kind: str  # instruction | passage | completion | preference | reward_pair | online_pair
    reason: str
    matched_id: str  # the benchmark item (or, for duplicates, the record kept)
    matched_task: str | None = None
    score: float  # n-gram coverage, 1.0 for a contained stem, cosine similarity, or dedup score
    evidence: str = ""  # the normalised text that matched (an n-gram, a stem, ...)
    record: str  # the full record as JSON, so nothing is lost


def removal(
    record: BaseModel,
    *,
    stage: str,
    kind: str,
    match: Match,
    task_of: dict[str, str],
    record_id: str | None = None,
) -> Removal:
    """The removal row of a record a benchmark match took out (`record_id`: for records with no
    `id` field of their own)."""
    return Removal(
        id=record_id if record_id is not None else str(getattr(record, "id", "")),
        stage=stage,
        kind=kind,
        reason=RULE_REASONS[match.rule],
        matched_id=match.item_id,
        matched_task=task_of.get(match.item_id),
        score=match.score,
        evidence=match.evidence,
        record=record.model_dump_json(),
    )


class Screen:
    """One benchmark index for a stage, applied to any records through a text accessor."""

    def __init__(
        self, eval_items: Sequence[EvalItem], cfg: DecontaminateConfig, stage: str
    ) -> None:
        self.stage = stage
        self.index = BenchmarkIndex.from_eval_items(eval_items, cfg) if eval_items else None
        self.task_of = {item.id: item.task for item in eval_items}
        self.screened: Counter[str] = Counter()

    def split(
        self,
        records: Sequence[R],
        text_of: Callable[[R], str],
        kind: str,
        id_of: Callable[[R], str] | None = None,
    ) -> tuple[list[R], list[Removal]]:
        """(records kept, removal rows) in input order; every record is kept or removed.
        `id_of` names records that have no `id` field (a completion)."""
        self.screened[kind] += len(records)
        if self.index is None or not records:
            return list(records), []
        matches = self.index.match([text_of(r) for r in records])
        kept, removed = [], []
        for record, match in zip(records, matches, strict=True):
            if match is None:
                kept.append(record)
            else:
                rid = id_of(record) if id_of else None
                row = removal(
                    record,
                    stage=self.stage,
                    kind=kind,
                    match=match,
                    task_of=self.task_of,
                    record_id=rid,
                )
                removed.append(row)
        return kept, removed

    def counts(self, removed: Sequence[Removal]) -> dict[str, Any]:
        """Per kind: screened, removed per reason, kept (screened = kept + removed)."""
        out: dict[str, Any] = {}
        for kind, screened in sorted(self.screened.items()):
            reasons = Counter(r.reason for r in removed if r.kind == kind)
            out[kind] = {
                "screened": screened,
                "removed": dict(sorted(reasons.items())),
                "kept": screened - sum(reasons.values()),
            }
        return out


REMOVAL_SCHEMA = {
    "id": pl.String,
    "stage": pl.String,
    "kind": pl.String,
    "reason": pl.String,
    "matched_id": pl.String,
    "matched_task": pl.String,
    "score": pl.Float64,
    "evidence": pl.String,
    "record": pl.String,
}


def write_removals(path: str | Path, removed: Sequence[Removal]) -> None:
    """The removal table (one row per removed record, with its evidence), written atomically."""
    rows = [json.loads(r.model_dump_json()) for r in removed]
    with atomic_path(path) as tmp:
        pl.DataFrame(rows, schema=REMOVAL_SCHEMA).write_parquet(tmp, compression="zstd")


def read_removals(path: str | Path) -> list[Removal]:
    """A removal table written by `write_removals`."""
    return [Removal(**row) for row in pl.read_parquet(path).iter_rows(named=True)]
