"""Errors that name the file, line and field, and the quarantine entry they become."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


class DataCoreError(Exception):
    """Base of every error this project reports to a user without a traceback."""


class ConfigError(DataCoreError):
    """params.yaml (or another config) is wrong; the message names the key."""


class SourceError(DataCoreError):
    """A whole input file cannot be used (missing, unreadable, wrong top-level shape)."""


class FieldProblem(ValueError):
    """One field of one record is wrong; readers raise it, the reading loop quarantines it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field '{field}': {message}")
        self.field = field
        self.message = message


class QuarantineEntry(BaseModel):
    """A record that could not be used, with where it came from and why."""

    source: str
    file: str
    line: int
    field: str | None
    reason: str
    raw: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return (
            f"{where}: field '{self.field}': {self.reason}"
            if self.field
            else f"{where}: {self.reason}"
        )


def _loc(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<record>"


def problem_from_validation(error: ValidationError, prefix: str = "") -> FieldProblem:
    """The first pydantic error as a FieldProblem naming the field path and what was expected."""
    first = error.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] not in ("value_error", "assertion_error") and "input" in first:
        got = repr(first["input"])
        message += f" (got {got[:80]}{'...' if len(got) > 80 else ''})"
    extra = len(error.errors()) - 1
    if extra:
        message += f" [+{extra} more error(s)]"
    field = _loc(tuple(first["loc"]), prefix)
    if not first["loc"]:  # a whole-record check: name the field it is about
        field = next((f for words, f in _RECORD_CHECKS if any(w in message for w in words)), field)
    return FieldProblem(field, message)


# Whole-record validators (schemas.py) can't set an error location; their messages name the field.
_RECORD_CHECKS = ((("answer",), "answer"), (("option",), "options"), (("user turn",), "messages"))
