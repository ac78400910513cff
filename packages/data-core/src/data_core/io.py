"""Atomic file output and the Parquet / JSONL storage of records."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import types
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from pydantic import BaseModel, ValidationError

from data_core.errors import FieldProblem, SourceError, problem_from_validation
from data_core.schemas import Instruction, Message

M = TypeVar("M", bound=BaseModel)

_UMASK = os.umask(0)
os.umask(_UMASK)

MESSAGE_DTYPE = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A crash therefore never leaves a half-written file that DVC would cache.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files; give the result the usual umask mode
            os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write pretty, key-sorted JSON atomically (stable diffs for DVC metrics)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line atomically; return the number of lines."""
    count = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def _dtype(annotation: Any) -> pl.DataType:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _dtype(args[0])
    if origin is typing.Literal or annotation is str:
        return pl.String()
    if annotation is bool:
        return pl.Boolean()
    if annotation is int:
        return pl.Int64()
    if annotation is float:
        return pl.Float64()
    if origin is list and args and args[0] is Message:
        return MESSAGE_DTYPE
    if origin is dict or annotation is dict:
        return pl.String()  # JSON text: keys differ between records
    raise TypeError(f"no Parquet mapping for annotation {annotation!r}")


def polars_schema(model: type[BaseModel]) -> pl.Schema:
    """The Parquet schema of a record type."""
    return pl.Schema({name: _dtype(f.annotation) for name, f in model.model_fields.items()})


def _json_fields(model: type[BaseModel]) -> list[str]:
    return [
        n for n, dt in polars_schema(model).items() if dt == pl.String and _is_mapping(model, n)
    ]


def _is_mapping(model: type[BaseModel], name: str) -> bool:
    annotation = model.model_fields[name].annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(typing.get_origin(a) is dict for a in typing.get_args(annotation))
    return origin is dict


def records_to_frame(records: Iterable[BaseModel], model: type[M]) -> pl.DataFrame:
    """Records -> a DataFrame with the record type's fixed schema."""
    json_fields = _json_fields(model)
    rows = []
    for record in records:
        row = record.model_dump()
        for name in json_fields:
            if row[name] is not None:
                row[name] = json.dumps(row[name], ensure_ascii=False, sort_keys=True)
        rows.append(row)
    return pl.DataFrame(rows, schema=polars_schema(model), orient="row")


def frame_to_records(frame: pl.DataFrame, model: type[M], source: str = "table") -> list[M]:
    """A DataFrame written by `records_to_frame` -> validated records; a row that is not one is
    a SourceError naming `source`, the row and the field."""
    json_fields = _json_fields(model)
    records = []
    for index, row in enumerate(frame.iter_rows(named=True)):
        try:
            for name in json_fields:
                if row.get(name) is not None:
                    row[name] = _json_cell(row[name], name)
            records.append(model.model_validate(row))
        except (ValidationError, FieldProblem) as exc:
            problem = exc if isinstance(exc, FieldProblem) else problem_from_validation(exc)
            raise SourceError(
                f"{source}: row {index}: not a valid {model.__name__} record: "
                f"field '{problem.field}': {problem.message}"
            ) from None
    return records


def _json_cell(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        raise FieldProblem(name, f"expected JSON text, got {type(value).__name__}")
    try:
        return json.loads(value)
    except ValueError as exc:
        raise FieldProblem(name, f"not valid JSON ({exc})") from None


def write_records(
    path: str | os.PathLike[str], records: Iterable[BaseModel], model: type[M]
) -> int:
    """Write records as Parquet atomically; return how many."""
    frame = records_to_frame(records, model)
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
    return frame.height


def read_records(path: str | os.PathLike[str], model: type[M]) -> list[M]:
    """Read a Parquet file of records back into validated models (SourceError if it is not)."""
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{path}: not a readable Parquet file ({exc})") from exc
    required = [n for n, f in model.model_fields.items() if f.is_required()]
    missing = [n for n in required if n not in frame.columns]
    if missing:
        raise SourceError(
            f"{path}: not a valid {model.__name__} table: missing column(s) {missing} "
            f"(has {frame.columns[:10]})"
        )
    return frame_to_records(frame, model, str(path))


def instruction_to_chat(record: Instruction) -> dict[str, Any]:
    """The Hugging Face chat-format row of an instruction (`messages` + metadata)."""
    row = record.model_dump()
    return {"id": row.pop("id"), "messages": row.pop("messages"), **row}


def export_chat_jsonl(path: str | os.PathLike[str], records: Iterable[Instruction]) -> int:
    """Write instructions as HF chat JSONL (loadable by `datasets.load_dataset("json")`)."""
    return write_jsonl(path, (instruction_to_chat(r) for r in records))


def file_digest(path: str | os.PathLike[str]) -> str:
    """md5 of a file, or of a directory's sorted (relative path, md5) list, as DVC reports it."""
    p = Path(path)
    if p.is_dir():
        h = hashlib.md5()
        for child in sorted(c for c in p.rglob("*") if c.is_file()):
            h.update(f"{child.relative_to(p).as_posix()}\0{file_digest(child)}\n".encode())
        return h.hexdigest()
    h = hashlib.md5()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
