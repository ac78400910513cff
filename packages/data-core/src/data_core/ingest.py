"""The ingest step: every configured source read into validated records, quarantine and counts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from data_core.config import IngestConfig, SourceConfig
from data_core.errors import ConfigError, QuarantineEntry
from data_core.io import atomic_path, write_json, write_jsonl, write_records
from data_core.readers import FORMATS, ReadResult, read_source, to_instructions
from data_core.readers.hpo import definition_passages, read_hpo
from data_core.schemas import EvalItem, Instruction, Passage

log = logging.getLogger(__name__)

# the stage's outputs: names of params `paths.interim`
OUTPUTS = ("instructions", "passages", "eval_items", "hpo_terms", "hpo_diseases", "quarantine")


@dataclass
class IngestResult:
    """Everything ingest produced, before it is written."""

    instructions: list[Instruction] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    eval_items: list[EvalItem] = field(default_factory=list)
    quarantined: list[QuarantineEntry] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    hpo: Any = None


def _resolve(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


def _read(spec: SourceConfig, base: Path) -> ReadResult:
    return read_source(
        _resolve(spec.path, base), spec.format, spec.name, task=spec.task, options=spec.options
    )


def _counts(result: ReadResult) -> dict[str, int]:
    return {
        "read": result.read,
        "kept": len(result.records),
        "quarantined": len(result.quarantined),
    }


def _drop_cross_source_duplicates(
    records: list[Any], seen: dict[str, str], source: str, result: ReadResult
) -> list[Any]:
    kept = []
    for record in records:
        if record.id in seen:
            result.quarantined.append(
                QuarantineEntry(
                    source=source,
                    file="",
                    line=0,
                    field="id",
                    reason=f"duplicate id {record.id!r}, already read from {seen[record.id]!r}",
                    raw=record.model_dump_json(),
                )
            )
            continue
        seen[record.id] = source
        kept.append(record)
    return kept


def ingest(cfg: IngestConfig, base_dir: Path) -> IngestResult:
    """Read the HPO knowledge source, the training-side sources and the evaluation sets."""
    out = IngestResult(counts={"sources": {}, "eval_sets": {}})
    seen: dict[str, str] = {}
    if cfg.hpo.enabled:
        out.hpo = read_hpo(aspects=tuple(cfg.hpo.aspects))
        out.quarantined += out.hpo.quarantined
        out.passages += definition_passages(out.hpo.terms)
        out.counts["hpo"] = {
            **out.hpo.counts,
            "quarantined": len(out.hpo.quarantined),
            "definition_passages": len(out.passages),
        }
        seen.update((p.id, "hpo") for p in out.passages)
    for spec in cfg.sources:
        result = _read(spec, base_dir)
        if FORMATS[spec.format].produces == "eval_item":
            result = to_instructions(result, spec.name)
        result.records = _drop_cross_source_duplicates(result.records, seen, spec.name, result)
        target = out.passages if FORMATS[spec.format].produces == "passage" else out.instructions
        target += result.records
        out.quarantined += result.quarantined
        out.counts["sources"][spec.name] = _counts(result)
        log.info("source %s: %s", spec.name, _counts(result))
    for spec in cfg.eval_sets:
        if FORMATS[spec.format].produces != "eval_item":
            raise ConfigError(
                f"params.yaml: ingest.eval_sets: {spec.name!r} has format "
                f"{spec.format!r}, which is not a benchmark format"
            )
        # an eval set's items carry its name as their task (not the format's default): evaluate
        # reads a declared task's items back by that name
        result = _read(spec.model_copy(update={"task": spec.task or spec.name}), base_dir)
        result.records = _drop_cross_source_duplicates(result.records, seen, spec.name, result)
        out.eval_items += result.records
        out.quarantined += result.quarantined
        out.counts["eval_sets"][spec.name] = _counts(result)
    kinds = list(out.counts["sources"].values()) + list(out.counts["eval_sets"].values())
    out.counts["total"] = {k: sum(c[k] for c in kinds) for k in ("read", "kept", "quarantined")}
    out.counts["total"]["instructions"] = len(out.instructions)
    out.counts["total"]["passages"] = len(out.passages)
    out.counts["total"]["eval_items"] = len(out.eval_items)
    return out


def write_ingest(result: IngestResult, paths: Mapping[str, Path], metrics_path: Path) -> None:
    """Write the records, HPO tables, quarantine (`paths`, keyed by OUTPUTS) and the counts."""
    write_records(paths["instructions"], result.instructions, Instruction)
    write_records(paths["passages"], result.passages, Passage)
    write_records(paths["eval_items"], result.eval_items, EvalItem)
    # written even when HPO is disabled (empty), so the stage's declared outputs always exist
    tables = (
        (result.hpo.terms, result.hpo.diseases) if result.hpo else (pl.DataFrame(), pl.DataFrame())
    )
    for name, frame in zip(("hpo_terms", "hpo_diseases"), tables, strict=True):
        with atomic_path(paths[name]) as tmp:
            frame.write_parquet(tmp, compression="zstd")
    write_jsonl(paths["quarantine"], (q.model_dump() for q in result.quarantined))
    write_json(metrics_path, result.counts)
