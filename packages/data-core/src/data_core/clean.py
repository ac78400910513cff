"""The decontaminate step: exact and near dedup, then n-gram and embedding decontamination
against every evaluation set, then deterministic splits. Every removal keeps its reason."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from data_core.config import DecontaminateConfig
from data_core.contamination import BenchmarkIndex, Match
from data_core.dedup import exact_duplicates, near_duplicates
from data_core.embeddings import EmbeddingMatcher
from data_core.schemas import EvalItem, Instruction, Passage
from data_core.screen import REASONS, Removal, removal
from data_core.splits import split_of

log = logging.getLogger(__name__)

STAGE = "decontaminate"  # the removal table's `stage`


@dataclass
class CleanResult:
    instructions: list[Instruction] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    removed: list[Removal] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def _full_text(record: Instruction | Passage) -> str:
    if isinstance(record, Passage):
        return record.text
    return "\n".join(m.content for m in record.messages)


def _prompt_text(record: Instruction | Passage) -> str:
    return record.text if isinstance(record, Passage) else record.prompt_text


def _clean_kind(
    records: Sequence[Any],
    kind: str,
    cfg: DecontaminateConfig,
    index: BenchmarkIndex | None,
    embedder: EmbeddingMatcher | None,
    task_of: dict[str, str],
) -> tuple[list[Any], list[Removal]]:
    removed: dict[int, Removal] = {}

    def duplicate(i: int, reason: str, kept: int, score: float) -> None:
        record = records[i]
        removed[i] = Removal(
            id=record.id,
            stage=STAGE,
            kind=kind,
            reason=reason,
            matched_id=records[kept].id,
            score=score,
            record=record.model_dump_json(),
        )

    texts = [_full_text(r) for r in records]
    if cfg.dedup.exact:
        for dup in exact_duplicates(texts):
            duplicate(dup.index, "exact_duplicate", dup.of, 1.0)
    if cfg.dedup.near:
        d = cfg.dedup
        for dup in near_duplicates(
            texts,
            threshold=d.threshold,
            num_perm=d.num_perm,
            shingle=d.shingle,
            seed=d.seed,
            skip=set(removed),
        ):
            duplicate(dup.index, "near_duplicate", dup.of, dup.similarity)

    def apply(matches: list[Match | None], positions: list[int]) -> None:
        for i, match in zip(positions, matches, strict=True):
            if match is not None:
                removed[i] = removal(
                    records[i], stage=STAGE, kind=kind, match=match, task_of=task_of
                )

    if index is not None:
        todo = [i for i in range(len(records)) if i not in removed]
        with tqdm(total=len(todo), desc=f"n-gram scan ({kind}s)", unit="rec", mininterval=2) as bar:
            matches = index.match(
                [texts[i] for i in todo], progress=lambda done: bar.update(done - bar.n)
            )
        apply(matches, todo)
    if embedder is not None and kind in cfg.embedding.kinds:
        todo = [i for i in range(len(records)) if i not in removed]
        matches = []
        with tqdm(
            total=len(todo), desc=f"embedding scan ({kind}s)", unit="rec", mininterval=2
        ) as bar:
            for start in range(0, len(todo), 2048):
                chunk = todo[start : start + 2048]
                matches += embedder.match(
                    [_prompt_text(records[i]) for i in chunk], cfg.embedding.threshold
                )
                bar.update(len(chunk))
        apply(matches, todo)
    kept = [
        r.model_copy(update={"split": split_of(r.id, cfg.split.test_fraction, cfg.split.salt)})
        for i, r in enumerate(records)
        if i not in removed
    ]
    return kept, [removed[i] for i in sorted(removed)]


def decontaminate(
    instructions: Sequence[Instruction],
    passages: Sequence[Passage],
    eval_items: Sequence[EvalItem],
    cfg: DecontaminateConfig,
) -> CleanResult:
    """Dedup and decontaminate instructions and passages against `eval_items`."""
    index = BenchmarkIndex.from_eval_items(eval_items, cfg) if eval_items else None
    embedder = None
    if cfg.embedding.enabled and eval_items:
        e = cfg.embedding
        embedder = EmbeddingMatcher(
            eval_items, e.model_path, e.batch_size, e.max_seq_length, e.precision
        )
    task_of = {item.id: item.task for item in eval_items}
    result = CleanResult()
    result.instructions, removed_i = _clean_kind(
        instructions, "instruction", cfg, index, embedder, task_of
    )
    result.passages, removed_p = _clean_kind(passages, "passage", cfg, index, embedder, task_of)
    result.removed = removed_i + removed_p
    result.report = _report(instructions, passages, eval_items, result, index)
    return result


def _report(
    instructions: Sequence[Instruction],
    passages: Sequence[Passage],
    eval_items: Sequence[EvalItem],
    result: CleanResult,
    index: BenchmarkIndex | None,
) -> dict[str, Any]:
    """read = kept + removed per kind (every reason listed), and what matched which benchmark."""
    report: dict[str, Any] = {}
    for kind, read, kept in (
        ("instructions", instructions, result.instructions),
        ("passages", passages, result.passages),
    ):
        reasons = Counter(r.reason for r in result.removed if r.kind == kind[:-1])
        report[kind] = {
            "read": len(read),
            "kept": len(kept),
            "removed": {reason: reasons.get(reason, 0) for reason in REASONS},
            "test_split": sum(r.split == "test" for r in kept),
        }
    contaminated = [r for r in result.removed if r.matched_task is not None]
    per_task: dict[str, Any] = {}
    for task in sorted({item.task for item in eval_items}):
        hits = [r for r in contaminated if r.matched_task == task]
        per_task[task] = {
            "items": sum(item.task == task for item in eval_items),
            "items_matched": len({r.matched_id for r in hits}),
            "records_removed": len(hits),
            "by_rule": dict(sorted(Counter(r.reason for r in hits).items())),
        }
    report["benchmarks"] = per_task
    report["short_items"] = index.short_items if index else 0
    report["examples"] = [
        {
            "id": r.id,
            "matched": r.matched_id,
            "reason": r.reason,
            "score": round(r.score, 4),
            "evidence": r.evidence,
        }
        for r in contaminated[:20]
    ]
    return report
