"""Low-level iteration over JSON, JSONL and CSV files that keeps line numbers and never gives up
on a whole file because of one bad record."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_core.errors import SourceError

# A record (JSONL line, JSON element) longer than this is refused: no real source comes close
# (the largest is a few KB), and a hostile one would otherwise be held and copied whole.
MAX_RECORD_CHARS = 16 * 1024 * 1024
_WIDE_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


@dataclass(frozen=True)
class RawRow:
    """One top-level record: its 1-based line, its key (object members) and value, or a problem
    (with the field it is about, when known)."""

    line: int
    raw: str
    value: Any = None
    key: str | None = None
    problem: str | None = None
    field: str | None = None


class _BadJson(ValueError):
    """A value json.loads would accept but a record must not have; `end` is where it ends."""

    def __init__(self, message: str, field: str | None = None, end: int | None = None) -> None:
        super().__init__(message)
        self.message, self.field, self.end = message, field, end


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # json.loads would silently keep the last value
        keys = [k for k, _ in pairs]
        dupe = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise _BadJson(f"duplicate key {dupe!r} in one object", dupe)
    return obj


def _non_finite(constant: str) -> float:
    raise _BadJson(f"{constant} is not a JSON number (non-standard NaN/Infinity)")


DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_non_finite)
_LENIENT = json.JSONDecoder()


def _non_finite_path(value: Any, path: str = "") -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path or None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        sub = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)
        if (found := _non_finite_path(child, sub)) is not None:
            return found
    return None


def _decode_value(text: str, pos: int = 0) -> tuple[Any, int]:
    """One JSON value from `pos`; duplicate keys, NaN/Infinity and absurd nesting are _BadJson."""
    try:
        return DECODER.raw_decode(text, pos)
    except RecursionError:
        raise _BadJson("JSON nested too deeply") from None
    except _BadJson as exc:
        # the lenient decoder finds where the value ends (reading goes on after it) and the
        # path of a NaN
        try:
            value, end = _LENIENT.raw_decode(text, pos)
        except (ValueError, RecursionError):
            raise exc from None
        raise _BadJson(exc.message, exc.field or _non_finite_path(value), end) from None


def check_encoding(path: Path, head: bytes) -> None:
    """A UTF-16/32 file (by its byte-order mark) is a whole-file error, not a bad line per line."""
    for bom, name in _WIDE_BOMS.items():
        if head.startswith(bom):
            raise SourceError(
                f"{path}: the file is {name}-encoded (byte-order mark); save it as UTF-8"
            )


def is_blank(path: Path) -> bool:
    """A file with nothing but whitespace (e.g. truncated to zero): no source means that."""
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    return not head.strip() and path.stat().st_size <= len(head)


def _decode(data: bytes, path: Path) -> tuple[str, RawRow | None]:
    check_encoding(path, data[:4])
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
        check_encoding(path, fh.read(4))
        fh.seek(0)
        for lineno, data in enumerate(fh, start=1):
            if not data.strip():
                continue
            if len(data) > MAX_RECORD_CHARS:
                raw = data[:200].decode("utf-8", "replace")
                yield RawRow(lineno, raw, problem=_too_long(len(data)))
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
                value, end = _decode_value(raw, _skip_ws(raw, 0))
                if _skip_ws(raw, end) != len(raw):
                    raise json.JSONDecodeError("Extra data", raw, _skip_ws(raw, end))
            except json.JSONDecodeError as exc:
                yield RawRow(lineno, raw, problem=f"invalid JSON: {exc.msg} at column {exc.colno}")
                continue
            except _BadJson as exc:
                yield RawRow(lineno, raw, problem=f"invalid JSON: {exc.message}", field=exc.field)
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
                key, end = DECODER.raw_decode(text, pos)
                colon = _skip_ws(text, end)
                if colon >= len(text) or text[colon] != ":":
                    raise json.JSONDecodeError("expected ':'", text, colon)
                pos = _skip_ws(text, colon + 1)
            value, end = _decode_value(text, pos)
        except json.JSONDecodeError as exc:
            yield RawRow(
                line, text[counted:], key=key, problem=f"invalid or truncated JSON: {exc.msg}"
            )
            return
        except _BadJson as exc:
            yield RawRow(
                line, text[counted : exc.end], key=key, problem=exc.message, field=exc.field
            )
            if exc.end is None:  # its extent is unknown: the rest cannot be told apart safely
                return
            pos = _skip_ws(text, exc.end)
            continue
        if end - counted > MAX_RECORD_CHARS:
            yield RawRow(line, text[counted : counted + 200], key=key, problem=_too_long(end - pos))
        else:
            yield RawRow(line, text[counted:end], value, key=key)
        pos = _skip_ws(text, end)
    if pos >= len(text):
        line += text.count("\n", counted, len(text))
        yield RawRow(
            line, "", problem="truncated JSON: the document ends before its closing bracket"
        )
    elif _skip_ws(text, pos + 1) < len(text):
        # e.g. JSON Lines saved as .json: what follows the first value would be silently lost
        line += text.count("\n", counted, _skip_ws(text, pos + 1))
        raise SourceError(
            f"{path}:{line}: extra data after the top-level JSON value "
            "(JSON Lines in a .json file? name it .jsonl)"
        )


def _too_long(size: int) -> str:
    return f"record of {size:,} characters is over the {MAX_RECORD_CHARS:,} limit"


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
            kind = "field too long" if "field larger" in str(exc) else "quoting"
            yield RawRow(start, "", problem=f"bad CSV {kind}: {exc}")
            start = reader.line_num + 1
            continue
        raw = ",".join(fields)
        if fields and len(fields) != columns:
            yield RawRow(start, raw, problem=f"expected {columns} CSV columns, got {len(fields)}")
        elif fields:
            yield RawRow(start, raw, fields)
        start = reader.line_num + 1
