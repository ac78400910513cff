"""Parsers of the training-side formats (UltraMedical, chat JSONL, passages) into records."""

from __future__ import annotations

import re
from typing import Any

from data_core.errors import FieldProblem
from data_core.readers.fields import (
    LETTERS,
    Context,
    field_value,
    options_field,
    record_key,
    text_field,
)
from data_core.schemas import YES_NO_MAYBE, EvalItem, Instruction, Passage

OPTION_LINE = re.compile(r"^\s*\(?([A-J])[.)]\s+(.+?)\s*$")
RATED = re.compile(r"rated\s+(?:as\s+)?(?:a|an|around\s+a)?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
ROLE_OF = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}


def split_options(prompt: str) -> dict[str, str] | None:
    """Trailing "A. text" lines of a prompt as an options dict (None when there are none)."""
    options: dict[str, str] = {}
    for line in reversed(prompt.rstrip().splitlines()):
        match = OPTION_LINE.match(line)
        if not match:
            break
        options[match.group(1)] = match.group(2)
    if len(options) < 2:
        return None
    letters = sorted(options)
    return {k: options[k] for k in letters} if "".join(letters) == LETTERS[: len(letters)] else None


def _messages(turns: list[Any], name: str, role_key: str, text_key: str) -> list[dict[str, str]]:
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise FieldProblem(f"{name}[{i}]", f"expected an object, got {type(turn).__name__}")
        role = turn.get(role_key)
        if role not in ROLE_OF:
            raise FieldProblem(
                f"{name}[{i}].{role_key}", f"expected one of {sorted(ROLE_OF)}, got {role!r}"
            )
        text = turn.get(text_key)
        if not isinstance(text, str) or not text.strip():
            raise FieldProblem(f"{name}[{i}].{text_key}", "expected non-empty text")
        messages.append({"role": ROLE_OF[role], "content": text})
    if not messages:
        raise FieldProblem(name, "has no turns")
    return messages


def _typed_answer(kind: str, answer: Any, options: dict[str, str] | None) -> tuple[str, str | None]:
    """Our (type, answer) from a declared kind and a raw answer; raises when they disagree."""
    if options and all(v.strip().lower() in YES_NO_MAYBE for v in options.values()):
        kind = "yesno"
        if isinstance(answer, str) and answer in options:
            answer = options[answer].strip().lower()
    elif options:
        kind = "mc"
    if kind == "mc":
        if not isinstance(answer, str) or not options or answer not in options:
            raise FieldProblem(
                "answer", f"{answer!r} is not among the options {sorted(options or {})}"
            )
        return "mc", answer
    if kind == "yesno":
        if not isinstance(answer, str) or answer.lower() not in YES_NO_MAYBE:
            raise FieldProblem("answer", f"expected yes, no or maybe, got {answer!r}")
        return "yesno", answer.lower()
    return "open", None


def _instruction(
    ctx: Context,
    key: str,
    kind: str,
    messages: list[dict[str, str]],
    options: dict[str, str] | None,
    gold: str | None,
    difficulty: float | None,
    meta: dict[str, Any],
) -> Instruction:
    """An instruction of `ctx.source`; an open question keeps no options."""
    return Instruction(
        id=f"{ctx.source}:{key}",
        source=ctx.source,
        type=kind,
        messages=messages,
        options=options if kind != "open" else None,
        answer=gold,
        difficulty=difficulty,
        meta=meta,
    )


def ultramedical(obj: dict[str, Any], ctx: Context) -> Instruction:
    """UltraMedical rows: id "Origin,N", type, conversations[{from, value}], answer, score."""
    messages = _messages(field_value(obj, "conversations", list), "conversations", "from", "value")
    raw_id = record_key(obj, ctx, "id")
    origin = raw_id.split(",")[0] if "," in raw_id else ctx.source
    declared = str(obj.get("type") or "open")
    user_text = next((m["content"] for m in messages if m["role"] == "user"), "")
    options = split_options(user_text)
    kind = "mc" if declared in ("Exam", "mc") and options else "open"
    answer = obj.get("answer")
    kind, gold = _typed_answer(kind, answer, options)
    meta: dict[str, Any] = {"origin": origin, "declared_type": declared}
    if kind == "open" and isinstance(answer, str) and answer.strip():
        meta["reference_answer"] = answer
    difficulty = None
    if isinstance(obj.get("score"), str):
        meta["score_rationale"] = obj["score"]
        rated = RATED.search(obj["score"])
        difficulty = float(rated.group(1)) if rated else None
    if isinstance(obj.get("model_outputs"), list):
        meta["model_outputs"] = obj["model_outputs"]
    return _instruction(ctx, raw_id, kind, messages, options, gold, difficulty, meta)


def chat(obj: dict[str, Any], ctx: Context) -> Instruction:
    """Chat JSONL: {"messages": [{role, content}], optional id, type, options, answer, meta}."""
    if "messages" not in obj and "conversations" in obj:
        return ultramedical(obj, ctx)
    messages = _messages(field_value(obj, "messages", list), "messages", "role", "content")
    options = options_field(obj) if obj.get("options") is not None else None
    declared = obj.get("type") if obj.get("type") in ("mc", "yesno", "open") else "open"
    kind, gold = _typed_answer(declared, obj.get("answer"), options)
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    difficulty = field_value(obj, "difficulty", (int, float), required=False)
    key = record_key(obj, ctx, "id")
    if key.startswith(f"{ctx.source}:"):
        key = key[len(ctx.source) + 1 :]
    return _instruction(ctx, key, kind, messages, options, gold, difficulty, meta)


def passages(obj: dict[str, Any], ctx: Context) -> Passage:
    """Text passages: {id, title?, content | text} (e.g. UltraMedical's textbook paragraphs)."""
    text = text_field(obj, "content" if "content" in obj else "text")
    title = obj.get("title") if isinstance(obj.get("title"), str) else ""
    key = record_key(obj, ctx, "id")
    return Passage(id=f"{ctx.source}:{key}", source=ctx.source, title=title, text=text)


def eval_item_to_instruction(item: EvalItem, source: str) -> Instruction:
    """A benchmark-format question used as training data (e.g. a train split) as an instruction."""
    options_text = "\n".join(f"{k}. {v}" for k, v in item.options.items())
    messages = [{"role": "user", "content": f"{item.question}\n\n{options_text}"}]
    options = item.options
    kind, answer = _typed_answer("mc", item.answer, options)
    key = item.id.split(":", 1)[1]
    return Instruction(
        id=f"{source}:{key}",
        source=source,
        type=kind,
        messages=messages,
        options=options,
        answer=answer,
        meta={"task": item.task, **item.meta},
    )
