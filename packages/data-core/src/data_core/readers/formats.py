"""Parsers from each real file format's records to our schemas.

Each parser takes one decoded record (a dict, or a list of CSV fields) plus its context and
returns a record, or raises FieldProblem naming the offending field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from data_core.errors import FieldProblem
from data_core.schemas import YES_NO_MAYBE, EvalItem, Instruction, Passage

LETTERS = "ABCDEFGHIJ"
OPTION_LINE = re.compile(r"^\s*\(?([A-J])[.)]\s+(.+?)\s*$")
RATED = re.compile(r"rated\s+(?:as\s+)?(?:a|an|around\s+a)?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
ROLE_OF = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}


@dataclass
class Context:
    """What a parser knows besides the record: its source name, task, line and reader options."""

    source: str
    task: str
    line: int
    key: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _get(
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


def _text(obj: dict[str, Any], name: str) -> str:
    value = _get(obj, name, str)
    if not value.strip():
        raise FieldProblem(name, "is empty")
    return value


def _options_dict(obj: dict[str, Any], name: str = "options") -> dict[str, str]:
    options = _get(obj, name, dict)
    for letter, text in options.items():
        if not isinstance(text, str):
            raise FieldProblem(f"{name}.{letter}", f"expected str, got {type(text).__name__}")
    return {str(k): v for k, v in options.items()}


def _record_key(obj: dict[str, Any], ctx: Context, *names: str) -> str:
    for name in names:
        value = obj.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ctx.key or f"line{ctx.line}"


def options_jsonl(obj: dict[str, Any], ctx: Context) -> EvalItem:
    """MedQA / MMLU / PubMedQA-MC / MedMCQA rows: question, options{A..}, answer_idx."""
    extras = {
        k: v for k, v in obj.items() if k not in ("question", "options", "answer_idx", "realidx")
    }
    meta: dict[str, Any] = {k: extras[k] for k in ("subject", "answer") if k in extras}
    if "meta_info" in extras:
        meta["step"] = extras["meta_info"]
    if "answer_rationale" in extras:
        meta["rationale"] = extras["answer_rationale"]
    options = _options_dict(obj)
    answer = _get(obj, "answer_idx", str)
    if answer not in options:
        raise FieldProblem("answer_idx", f"{answer!r} is not among the options {sorted(options)}")
    key = _record_key(obj, ctx, "realidx", "id")
    return EvalItem(
        id=f"{ctx.task}:{key}",
        task=ctx.task,
        question=_text(obj, "question"),
        options=options,
        answer=answer,
        meta=meta,
    )


def medmcqa(obj: dict[str, Any], ctx: Context) -> EvalItem:
    """MedMCQA in its release format (opa..opd, cop) or the options-dict format."""
    if "options" in obj:
        return options_jsonl(obj, ctx)
    options = {letter: _text(obj, f"op{letter.lower()}") for letter in "ABCD"}
    cop = _get(obj, "cop", int)
    base = int(
        ctx.options.get("cop_base", 1)
    )  # the original release counts from 1; HF's copy from 0
    if not base <= cop < base + 4:
        raise FieldProblem("cop", f"expected an option index in {base}..{base + 3}, got {cop}")
    meta = {k: obj[k] for k in ("subject_name", "topic_name", "exp", "choice_type") if obj.get(k)}
    key = _record_key(obj, ctx, "id", "realidx")
    return EvalItem(
        id=f"{ctx.task}:{key}",
        task=ctx.task,
        question=_text(obj, "question"),
        options=options,
        answer="ABCD"[cop - base],
        meta=meta,
    )


def pubmedqa_original(obj: dict[str, Any], ctx: Context) -> EvalItem:
    """PubMedQA `ori_pqal.json` members: {PMID: {QUESTION, CONTEXTS, final_decision, ...}}."""
    contexts = _get(obj, "CONTEXTS", list)
    if not all(isinstance(c, str) for c in contexts):
        raise FieldProblem("CONTEXTS", "expected a list of strings")
    decision = _get(obj, "final_decision", str)
    if decision not in YES_NO_MAYBE:
        raise FieldProblem("final_decision", f"expected one of {YES_NO_MAYBE}, got {decision!r}")
    options = {"A": "yes", "B": "no", "C": "maybe"}
    question = "\n".join([*contexts, _text(obj, "QUESTION")])
    meta = {
        k.lower(): obj[k]
        for k in ("LABELS", "MESHES", "YEAR", "LONG_ANSWER", "reasoning_required_pred")
        if k in obj
    }
    return EvalItem(
        id=f"{ctx.task}:{ctx.key}",
        task=ctx.task,
        question=question,
        options=options,
        answer="ABC"[YES_NO_MAYBE.index(decision)],
        meta=meta,
    )


def mmlu_csv(fields: list[str], ctx: Context) -> EvalItem:
    """Original MMLU CSV rows: question, A, B, C, D, answer (no header; subject from file name)."""
    question, *choices, answer = (f.strip() for f in fields)
    if not question:
        raise FieldProblem("question", "is empty")
    if answer not in "ABCD" or not answer:
        raise FieldProblem("answer", f"expected one of A-D, got {answer!r}")
    options = dict(zip("ABCD", choices, strict=True))
    for letter, text in options.items():
        if not text:
            raise FieldProblem(f"options.{letter}", "is empty")
    meta = {"subject": ctx.options["subject"]} if "subject" in ctx.options else {}
    return EvalItem(
        id=f"{ctx.task}:{meta.get('subject', 'mmlu')}-{ctx.line}",
        task=ctx.task,
        question=question,
        options=options,
        answer=answer,
        meta=meta,
    )


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


def ultramedical(obj: dict[str, Any], ctx: Context) -> Instruction:
    """UltraMedical rows: id "Origin,N", type, conversations[{from, value}], answer, score."""
    messages = _messages(_get(obj, "conversations", list), "conversations", "from", "value")
    raw_id = _record_key(obj, ctx, "id")
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
    return Instruction(
        id=f"{ctx.source}:{raw_id}",
        source=ctx.source,
        type=kind,
        messages=messages,
        options=options if kind != "open" else None,
        answer=gold,
        difficulty=difficulty,
        meta=meta,
    )


def chat(obj: dict[str, Any], ctx: Context) -> Instruction:
    """Chat JSONL: {"messages": [{role, content}], optional id, type, options, answer, meta}."""
    if "messages" not in obj and "conversations" in obj:
        return ultramedical(obj, ctx)
    messages = _messages(_get(obj, "messages", list), "messages", "role", "content")
    options = _options_dict(obj) if obj.get("options") is not None else None
    declared = obj.get("type") if obj.get("type") in ("mc", "yesno", "open") else "open"
    kind, gold = _typed_answer(declared, obj.get("answer"), options)
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    difficulty = _get(obj, "difficulty", (int, float), required=False)
    key = _record_key(obj, ctx, "id")
    if key.startswith(f"{ctx.source}:"):
        key = key[len(ctx.source) + 1 :]
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


def passages(obj: dict[str, Any], ctx: Context) -> Passage:
    """Text passages: {id, title?, content | text} (e.g. UltraMedical's textbook paragraphs)."""
    text = _text(obj, "content" if "content" in obj else "text")
    title = obj.get("title") if isinstance(obj.get("title"), str) else ""
    key = _record_key(obj, ctx, "id")
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
