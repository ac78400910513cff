"""What every reader's parser shares: its context, and typed field access that names the field.

Each parser takes one decoded record (a dict, or a list of CSV fields) plus its context and
returns a record, or raises FieldProblem naming the offending field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_core.errors import FieldProblem

LETTERS = "ABCDEFGHIJ"


@dataclass
class Context:
    """What a parser knows besides the record: its source name, task, line and reader options."""

    source: str
    task: str
    line: int
    key: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def field_value(
    obj: dict[str, Any], name: str, kind: type | tuple[type, ...], required: bool = True
) -> Any:
    if name not in obj or obj[name] is None:
        if required:
            raise FieldProblem(name, "is missing")
        return None
    value = obj[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise FieldProblem(name, f"expected {expected}, got {type(value).__name__} {value!r:.60}")
    return value


def text_field(obj: dict[str, Any], name: str) -> str:
    value = field_value(obj, name, str)
    if not value.strip():
        raise FieldProblem(name, "is empty")
    return value


def options_field(obj: dict[str, Any], name: str = "options") -> dict[str, str]:
    options = field_value(obj, name, dict)
    for letter, text in options.items():
        if not isinstance(text, str):
            raise FieldProblem(f"{name}.{letter}", f"expected str, got {type(text).__name__}")
    return {str(k): v for k, v in options.items()}


def record_key(obj: dict[str, Any], ctx: Context, *names: str) -> str:
    for name in names:
        value = obj.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ctx.key or f"line{ctx.line}"
