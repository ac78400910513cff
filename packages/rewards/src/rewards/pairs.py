"""Reward-model pairs: the preference set's splits, extra preference files (UltraMedical-Preference
release, RewardBench-style), and their decontamination against everything the evals score.

A pair is TRL's explicit-prompt conversational row: `prompt` (messages), `chosen` / `rejected`
(the assistant turns after it). Readers keep data_core's convention: every record is kept or
quarantined with file, line, field and reason, so `read == kept + quarantined`.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_core.config import DecontaminateConfig
from data_core.contamination import BenchmarkIndex, BenchmarkItem
from data_core.errors import FieldProblem, QuarantineEntry, SourceError, problem_from_validation
from data_core.readers import ReadResult
from data_core.readers.fields import Context, field_value, record_key, text_field
from data_core.readers.raw import RawRow, is_blank, iter_json_document, iter_jsonl
from data_core.schemas import EvalItem, Message, Preference
from data_core.screen import RULE_REASONS
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from trainers.preference import pair_rows

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]
_MESSAGES = TypeAdapter(list[Message])


class RewardPair(BaseModel):
    """One training or held-out pair; `margin` is the judge's score gap when known."""

    id: str
    source: str
    prompt: list[Message] = Field(min_length=1)
    chosen: list[Message] = Field(min_length=1)  # the turns after the prompt
    rejected: list[Message] = Field(min_length=1)
    margin: float | None = None
    category: str | None = None

    def row(self, margin_scale: float | None = None) -> dict[str, Any]:
        """TRL RewardTrainer's conversational row (with `margin` when `margin_scale` is given)."""
        out: dict[str, Any] = {
            "prompt": [m.model_dump() for m in self.prompt],
            "chosen": [m.model_dump() for m in self.chosen],
            "rejected": [m.model_dump() for m in self.rejected],
        }
        if margin_scale is not None:
            if self.margin is None:
                raise SourceError(f"pair {self.id}: use_margin needs a margin (scores missing)")
            out["margin"] = margin_scale * self.margin
        return out

    @property
    def text(self) -> str:
        """Every turn's text, as decontamination compares it."""
        return "\n".join(m.content for m in [*self.prompt, *self.chosen, *self.rejected])

    @property
    def question(self) -> str:
        """The last user turn (a system prompt is boilerplate, not the benchmark's question)."""
        users = [m.content for m in self.prompt if m.role == "user"]
        return users[-1] if users else "\n".join(m.content for m in self.prompt)


def preference_pairs(
    records: Sequence[Preference],
    split: str,
    limit: int | None = None,
    skip: int = 0,
    seed: int | None = None,
) -> list[RewardPair]:
    """Pairs of one split of the preference set: records [skip, skip + limit) in file order,
    or in an order shuffled by `seed` (the set is sorted by kind: a prefix is not a sample)."""
    kept = [r for r in records if (r.split or "train") == split]
    if seed is not None:
        kept = random.Random(seed).sample(kept, len(kept))
    rows = pair_rows(kept, split, None if limit is None else skip + limit)[skip:]
    return [
        RewardPair(id=r.id, source=r.source, margin=r.margin, category=r.category, **row)
        for r, row in zip(kept[skip:], rows, strict=False)
    ]


def _messages(value: Any, name: str) -> list[Message]:
    try:
        return _MESSAGES.validate_python(value)
    except ValidationError as exc:
        raise problem_from_validation(exc, name) from exc


def _conversation(obj: dict[str, Any], name: str) -> list[Message]:
    """A message list whose last turn is the assistant's."""
    turns = _messages(field_value(obj, name, list), name)
    if not turns:
        raise FieldProblem(name, "has no turns")
    if turns[-1].role != "assistant":
        raise FieldProblem(f"{name}[{len(turns) - 1}].role", "the last turn must be 'assistant'")
    return turns


def _score(obj: dict[str, Any], name: str) -> float | None:
    value = field_value(obj, name, (int, float), required=False)
    return None if value is None else float(value)


def ultramedical_pair(obj: dict[str, Any], ctx: Context) -> RewardPair:
    """UltraMedical-Preference (UltraFeedback-binarized style): `prompt` text, `chosen` and
    `rejected` conversations ending in the assistant's answer, optional `score_chosen` /
    `score_rejected`, `prompt_id`."""
    prompt = text_field(obj, "prompt")
    chosen, rejected = _conversation(obj, "chosen"), _conversation(obj, "rejected")
    context = chosen[:-1] or [Message(role="user", content=prompt)]
    if rejected[:-1] and rejected[:-1] != context:
        raise FieldProblem("rejected", "its turns before the answer differ from chosen's")
    users = [m for m in context if m.role == "user"]
    if not users or users[-1].content.strip() != prompt.strip():
        raise FieldProblem("prompt", "is not the last user turn of chosen")
    high, low = _score(obj, "score_chosen"), _score(obj, "score_rejected")
    margin = None if high is None or low is None else high - low
    if margin is not None and margin <= 0:
        raise FieldProblem("score_chosen", f"{high} is not above score_rejected {low}")
    key = record_key(obj, ctx, "prompt_id", "id")
    return RewardPair(
        id=f"{ctx.source}:{key}",
        source=ctx.source,
        prompt=context,
        chosen=chosen[-1:],
        rejected=rejected[-1:],
        margin=margin,
    )


def _completion(obj: dict[str, Any], name: str, prompt: list[Message]) -> list[Message]:
    value = field_value(obj, name, (str, list))
    if isinstance(value, str):
        return [Message(role="assistant", content=text_field(obj, name))]
    turns = _conversation(obj, name)
    return turns[len(prompt) :] if turns[: len(prompt)] == prompt else turns


def rewardbench_pair(obj: dict[str, Any], ctx: Context) -> RewardPair:
    """RewardBench local rows: `prompt`, `chosen`, `rejected` as text or message lists,
    `subset`, `id`."""
    value = field_value(obj, "prompt", (str, list))
    if isinstance(value, str):
        prompt = [Message(role="user", content=text_field(obj, "prompt"))]
    else:
        prompt = _messages(value, "prompt")
        if not prompt or prompt[-1].role != "user":
            raise FieldProblem("prompt", "must end with a user turn")
    chosen = _completion(obj, "chosen", prompt)
    rejected = _completion(obj, "rejected", prompt)
    if chosen == rejected:
        raise FieldProblem("rejected", "is the same answer as chosen")
    subset = field_value(obj, "subset", str, required=False)
    return RewardPair(
        id=f"{ctx.source}:{record_key(obj, ctx, 'id')}",
        source=ctx.source,
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        category=subset,
    )


PARSERS = {"ultramedical": ultramedical_pair, "rewardbench": rewardbench_pair}


def read_pairs(path: str | Path, fmt: str, name: str) -> ReadResult:
    """Every record of a JSON / JSONL pair file as a RewardPair, or a quarantine entry."""
    if fmt not in PARSERS:
        raise SourceError(f"unknown pair format {fmt!r} for {name!r}; known: {sorted(PARSERS)}")
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file (pair source {name!r})")
    if is_blank(path):
        raise SourceError(f"{path}: empty file, no pairs (pair source {name!r})")
    rows = iter_jsonl(path) if path.suffix in (".jsonl", ".ndjson") else iter_json_document(path)
    result, first_line = ReadResult(), {}

    def quarantine(row: RawRow, reason: str, field: str | None) -> None:
        raw = row.raw or repr(row.value)
        result.quarantined.append(
            QuarantineEntry(
                source=name, file=str(path), line=row.line, field=field, reason=reason, raw=raw
            )
        )

    for row in rows:
        if row.problem is not None:
            quarantine(row, row.problem, row.field)
            continue
        if not isinstance(row.value, dict):
            quarantine(row, f"expected a JSON object, got {type(row.value).__name__}", None)
            continue
        ctx = Context(source=name, task=fmt, line=row.line, key=row.key)
        try:
            pair = PARSERS[fmt](row.value, ctx)
        except FieldProblem as exc:
            quarantine(row, exc.message, exc.field)
            continue
        if pair.id in first_line:
            quarantine(row, f"duplicate id {pair.id!r} (first at line {first_line[pair.id]})", "id")
            continue
        first_line[pair.id] = row.line
        result.records.append(pair)
    return result


@dataclass
class CleanPairs:
    kept: list[RewardPair]
    removed: list[tuple[RewardPair, str, str]]  # (pair, reason, benchmark item id)

    def counts(self) -> dict[str, Any]:
        reasons = Counter(reason for _, reason, _ in self.removed)
        return {"kept": len(self.kept), "removed": dict(sorted(reasons.items()))}


def decontaminate_pairs(
    pairs: Sequence[RewardPair],
    eval_items: Sequence[EvalItem],
    benchmark_pairs: Sequence[RewardPair],
    cfg: DecontaminateConfig,
) -> CleanPairs:
    """Drop pairs whose text overlaps an evaluation item (question + options) or the question
    of a scored reward-benchmark pair, by data_core's rules with the decontaminate stage's
    settings (`cfg`); the reasons are data_core.screen's."""
    context = cfg.short_items.context_tasks
    items = [BenchmarkItem.of(i, context) for i in eval_items]
    items += [BenchmarkItem(p.id, p.question, p.question) for p in benchmark_pairs]
    matches = BenchmarkIndex(items, cfg).match([p.text for p in pairs])
    out = CleanPairs([], [])
    for pair, match in zip(pairs, matches, strict=True):
        if match is None:
            out.kept.append(pair)
        else:
            out.removed.append((pair, RULE_REASONS[match.rule], match.item_id))
    return out


def extra_pairs(
    root: Path,
    sources: Sequence[Any],
    eval_items: Sequence[EvalItem],
    benchmark_files: Sequence[str],
    test_pairs: Sequence[RewardPair],
    cfg: DecontaminateConfig,
) -> tuple[list[RewardPair], dict[str, Any]]:
    """Every extra source's pairs, decontaminated against the evaluation items, the reward
    benchmarks (`benchmark_files`, RewardBench format) and the preference test split; with
    reconciled counts per source (read = quarantined + removed + kept)."""
    if not sources:
        return [], {}
    benchmark = list(test_pairs)
    for i, file in enumerate(benchmark_files):
        benchmark += read_pairs(root / file, "rewardbench", f"rewardbench{i}").records
    pairs, counts = [], {}
    for source in sources:
        read = read_pairs(root / source.path, source.format, source.name)
        for entry in read.quarantined:
            log.warning("quarantined: %s", entry)
        clean = decontaminate_pairs(read.records, eval_items, benchmark, cfg)
        for pair, reason, item in clean.removed:
            log.info("removed %s: %s with %s", pair.id, reason, item)
        counts[source.name] = {"read": read.read, "quarantined": len(read.quarantined)}
        counts[source.name] |= clean.counts()
        pairs += clean.kept
    return pairs, counts
