"""Parsers of the benchmark formats (MedQA, MedMCQA, PubMedQA, MMLU) into EvalItems."""

from __future__ import annotations

from typing import Any

from data_core.errors import FieldProblem
from data_core.readers.fields import (
    Context,
    field_value,
    options_field,
    record_key,
    text_field,
)
from data_core.schemas import YES_NO_MAYBE, EvalItem


def _item(
    ctx: Context, key: str, question: str, options: dict[str, str], answer: str, meta: dict
) -> EvalItem:
    """An item of `ctx.task`, its id the task and the record's own key."""
    return EvalItem(
        id=f"{ctx.task}:{key}",
        task=ctx.task,
        question=question,
        options=options,
        answer=answer,
        meta=meta,
    )


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
    options = options_field(obj)
    answer = field_value(obj, "answer_idx", str)
    if answer not in options:
        raise FieldProblem("answer_idx", f"{answer!r} is not among the options {sorted(options)}")
    key = record_key(obj, ctx, "realidx", "id")
    return _item(ctx, key, text_field(obj, "question"), options, answer, meta)


def medmcqa(obj: dict[str, Any], ctx: Context) -> EvalItem:
    """MedMCQA in its release format (opa..opd, cop) or the options-dict format."""
    if "options" in obj:
        return options_jsonl(obj, ctx)
    options = {letter: text_field(obj, f"op{letter.lower()}") for letter in "ABCD"}
    cop = field_value(obj, "cop", int)
    base = int(ctx.options.get("cop_base", 1))  # the original release counts from 1; HF's from 0
    if not base <= cop < base + 4:
        raise FieldProblem("cop", f"expected an option index in {base}..{base + 3}, got {cop}")
    meta = {k: obj[k] for k in ("subject_name", "topic_name", "exp", "choice_type") if obj.get(k)}
    key = record_key(obj, ctx, "id", "realidx")
    return _item(ctx, key, text_field(obj, "question"), options, "ABCD"[cop - base], meta)


def pubmedqa_original(obj: dict[str, Any], ctx: Context) -> EvalItem:
    """PubMedQA `ori_pqal.json` members: {PMID: {QUESTION, CONTEXTS, final_decision, ...}}."""
    contexts = field_value(obj, "CONTEXTS", list)
    if not all(isinstance(c, str) for c in contexts):
        raise FieldProblem("CONTEXTS", "expected a list of strings")
    decision = field_value(obj, "final_decision", str)
    if decision not in YES_NO_MAYBE:
        raise FieldProblem("final_decision", f"expected one of {YES_NO_MAYBE}, got {decision!r}")
    options = {"A": "yes", "B": "no", "C": "maybe"}
    question = "\n".join([*contexts, text_field(obj, "QUESTION")])
    meta = {
        k.lower(): obj[k]
        for k in ("LABELS", "MESHES", "YEAR", "LONG_ANSWER", "reasoning_required_pred")
        if k in obj
    }
    answer = "ABC"[YES_NO_MAYBE.index(decision)]
    return _item(ctx, str(ctx.key), question, options, answer, meta)


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
    key = f"{meta.get('subject', 'mmlu')}-{ctx.line}"
    return _item(ctx, key, question, options, answer, meta)
