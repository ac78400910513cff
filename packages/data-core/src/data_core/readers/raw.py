"""Low-level iteration over JSON, JSONL and CSV files that keeps line numbers and never gives up
on a whole file because of one bad record."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RawRow:
    """One top-level record: its 1-based line, its key (object members) and value, or a problem."""

    line: int
    raw: str
    value: Any = None
    key: str | None = None
    problem: str | None = None


def _decode(data: bytes, path: Path) -> tuple[str, RawRow | None]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", RawRow(
            line, data.decode("utf-8", "replace"), problem=f"not valid UTF-8 at byte {exc.start}"
        )


def iter_jsonl(path: Path) -> Iterator[RawRow]:
    """Each non-blank line of a JSON Lines file as a RawRow (invalid lines carry a problem)."""
    with path.open("rb") as fh:
        for lineno, data in enumerate(fh, start=1):
            if not data.strip():
                continue
            try:
                text = data.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raw = data.decode("utf-8", "replace").rstrip("\n")
                yield RawRow(
                    lineno, raw, problem=f"not valid UTF-8 at byte {exc.start} of the line"
                )
                continue
            raw = text.rstrip("\r\n")
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield RawRow(lineno, raw, problem=f"invalid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(value, dict):
                yield RawRow(
                    lineno, raw, problem=f"expected a JSON object, got {type(value).__name__}"
                )
                continue
            yield RawRow(lineno, raw, value)


def iter_json_document(path: Path) -> Iterator[RawRow]:
    """Members of a JSON document whose top level is an array or an object, one RawRow each.

    The document is decoded element by element so that a truncated or corrupt element is
    reported at its own line, and every element before it is still read.
    """
    text, bad = _decode(path.read_bytes(), path)
    if bad is not None:
        yield bad
        return
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] not in "[{":
        got = repr(text[pos : pos + 20]) if pos < len(text) else "an empty file"
        yield RawRow(
            1, text[:200], problem=f"expected a JSON array or object at the top level, got {got}"
        )
        return
    is_object = text[pos] == "{"
    pos = _skip_ws(text, pos + 1)
    line, counted = 1, 0
    first = True
    while pos < len(text) and text[pos] not in "]}":
        if not first:
            if text[pos] != ",":
                line += text.count("\n", counted, pos)
                yield RawRow(line, text[pos:], problem=f"invalid JSON: expected ',' at line {line}")
                return
            pos = _skip_ws(text, pos + 1)
        first = False
        line += text.count("\n", counted, pos)
        counted = pos
        key = None
        try:
            if is_object:
                key, end = decoder.raw_decode(text, pos)
                colon = _skip_ws(text, end)
                if colon >= len(text) or text[colon] != ":":
                    raise json.JSONDecodeError("expected ':'", text, colon)
                pos = _skip_ws(text, colon + 1)
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield RawRow(
                line, text[counted:], key=key, problem=f"invalid or truncated JSON: {exc.msg}"
            )
            return
        yield RawRow(line, text[counted:end], value, key=key)
        pos = _skip_ws(text, end)
    if pos >= len(text):
        line += text.count("\n", counted, len(text))
        yield RawRow(
            line, "", problem="truncated JSON: the document ends before its closing bracket"
        )


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def iter_csv(path: Path, columns: int) -> Iterator[RawRow]:
    """Rows of a header-less CSV file with exactly `columns` fields; each value is its fields."""
    data = path.read_bytes()
    text, bad = _decode(data, path)
    if bad is not None:
        yield bad
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(start, "", problem=f"bad CSV quoting: {exc}")
            start = reader.line_num + 1
            continue
        raw = ",".join(fields)
        if fields and len(fields) != columns:
            yield RawRow(start, raw, problem=f"expected {columns} CSV columns, got {len(fields)}")
        elif fields:
            yield RawRow(start, raw, fields)
        start = reader.line_num + 1
