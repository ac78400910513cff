"""Readers that turn each real corpus or benchmark format into validated records.

`read_source(path, format, name)` returns the records it kept and a quarantine entry for every
record it could not use, so that `read == kept + quarantined` always holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from data_core.errors import FieldProblem, QuarantineEntry, SourceError, problem_from_validation
from data_core.readers import benchmarks, instructions
from data_core.readers.fields import Context
from data_core.readers.raw import RawRow, is_blank, iter_csv, iter_json_document, iter_jsonl
from data_core.schemas import EvalItem

Parser = Callable[[Any, Context], BaseModel]


@dataclass(frozen=True)
class Format:
    """How to iterate a file of this format and how to parse one of its records."""

    parse: Parser
    produces: str  # "eval_item" | "instruction" | "passage"
    default_task: str = ""


FORMATS: dict[str, Format] = {
    "medqa": Format(benchmarks.options_jsonl, "eval_item", "medqa"),
    "medmcqa": Format(benchmarks.medmcqa, "eval_item", "medmcqa"),
    "pubmedqa": Format(benchmarks.options_jsonl, "eval_item", "pubmedqa"),
    "pubmedqa_original": Format(benchmarks.pubmedqa_original, "eval_item", "pubmedqa"),
    "mmlu": Format(benchmarks.options_jsonl, "eval_item", "mmlu_medical"),
    "mmlu_csv": Format(benchmarks.mmlu_csv, "eval_item", "mmlu_medical"),
    "ultramedical": Format(instructions.ultramedical, "instruction"),
    "chat": Format(instructions.chat, "instruction"),
    "hf_disk": Format(instructions.chat, "instruction"),
    "passages": Format(instructions.passages, "passage"),
}


@dataclass
class ReadResult:
    """What one source yielded: kept records, quarantined ones, and how many were read."""

    records: list[Any] = field(default_factory=list)
    quarantined: list[QuarantineEntry] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.records) + len(self.quarantined)


def _rows(path: Path, fmt: str, options: dict[str, Any]) -> Iterator[RawRow]:
    if fmt == "mmlu_csv":
        yield from iter_csv(path, columns=6)
    elif fmt == "hf_disk":
        yield from _hf_rows(path, options)
    elif path.suffix in (".jsonl", ".ndjson"):
        yield from iter_jsonl(path)
    else:
        yield from iter_json_document(path)


def _hf_rows(path: Path, options: dict[str, Any]) -> Iterator[RawRow]:
    import datasets  # heavy import; only for this format

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise SourceError(
            f"{path}: not a Hugging Face dataset saved with save_to_disk ({exc})"
        ) from exc
    if isinstance(loaded, datasets.DatasetDict):
        split = options.get("split", "train")
        if split not in loaded:
            raise SourceError(f"{path}: no split {split!r}; it has {sorted(loaded)}")
        loaded = loaded[split]
    for index, row in enumerate(loaded, start=1):
        yield RawRow(index, "", {k: _drop_struct_padding(v) for k, v in row.items()})


def _drop_struct_padding(value: Any) -> Any:
    """Arrow stores dicts as structs with the union of all rows' keys, padding absent ones by None.

    Dropping those None members restores each row's own dict (e.g. 4 options, not A..E with E=None).
    """
    if isinstance(value, dict):
        return {k: _drop_struct_padding(v) for k, v in value.items() if v is not None}
    return value


def read_source(
    path: str | Path,
    fmt: str,
    name: str,
    *,
    task: str | None = None,
    options: dict[str, Any] | None = None,
) -> ReadResult:
    """Read one file (or saved HF dataset) of a known format into records plus quarantine."""
    if fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r} for source {name!r}; known: {sorted(FORMATS)}")
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file (source {name!r})")
    if is_blank(path):
        raise SourceError(f"{path}: empty file, no records (source {name!r})")
    spec = FORMATS[fmt]
    options = dict(options or {})
    if fmt == "mmlu_csv":
        options.setdefault("subject", path.stem.removesuffix("_test").removesuffix("_dev"))
    keep_keys = _key_filter(path, options)
    result = ReadResult()
    first_line: dict[str, int] = {}

    def quarantine(row: RawRow, reason: str, field_name: str | None) -> None:
        entry = QuarantineEntry(
            source=name,
            file=str(path),
            line=row.line,
            field=field_name,
            reason=reason,
            raw=row.raw or repr(row.value),
        )
        result.quarantined.append(entry)

    for row in _rows(path, fmt, options):
        if row.problem is not None:
            quarantine(row, row.problem, row.field)
            continue
        if keep_keys is not None and row.key not in keep_keys:
            continue  # outside the requested split: not part of this source at all
        ctx = Context(
            source=name,
            task=task or spec.default_task or name,
            line=row.line,
            key=row.key,
            options=options,
        )
        if spec.parse is not benchmarks.mmlu_csv and not isinstance(row.value, dict):
            quarantine(row, f"expected a JSON object, got {type(row.value).__name__}", None)
            continue
        try:
            record = spec.parse(row.value, ctx)
        except FieldProblem as exc:
            quarantine(row, exc.message, exc.field)
            continue
        except ValidationError as exc:
            problem = problem_from_validation(exc)
            quarantine(row, problem.message, problem.field)
            continue
        record_id = record.id
        if record_id in first_line:
            quarantine(
                row, f"duplicate id {record_id!r} (first at line {first_line[record_id]})", "id"
            )
            continue
        first_line[record_id] = row.line
        result.records.append(record)
    return result


def _key_filter(path: Path, options: dict[str, Any]) -> set[str] | None:
    """Keys listed in `options.split_file` (e.g. PubMedQA's test_ground_truth.json), if given."""
    split_file = options.get("split_file")
    if not split_file:
        return None
    split_path = Path(split_file)
    if not split_path.is_absolute():
        split_path = path.parent / split_path
    import json

    try:
        keys = json.loads(split_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceError(f"{split_path}: cannot read split file ({exc})") from exc
    return {str(k) for k in keys}


def to_instructions(result: ReadResult, source: str) -> ReadResult:
    """Benchmark-format records used as training data become instructions (same counts)."""
    converted = [
        instructions.eval_item_to_instruction(r, source) if isinstance(r, EvalItem) else r
        for r in result.records
    ]
    return ReadResult(converted, result.quarantined)


__all__ = ["FORMATS", "ReadResult", "read_source", "to_instructions"]
