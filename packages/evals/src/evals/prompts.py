"""Prompts: lm-eval's MedQA format, seeded k-shot exemplars, chain of thought, chat templates."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from data_core.errors import SourceError
from data_core.prompts import format_mc
from data_core.schemas import EvalItem

COT_TRIGGER = "Let's think step by step."
GEN_INSTRUCTION = "Answer with the letter of the correct option."


def format_question(item: EvalItem) -> str:
    """'Question: ...\\nA. ...\\nB. ...\\nAnswer:' (lm-evaluation-harness MedQA style)."""
    lines = [f"Question: {item.question.strip()}"]
    lines += [f"{letter}. {text}" for letter, text in item.options.items()]
    return "\n".join(lines) + "\nAnswer:"


def exemplar_text(item: EvalItem) -> str:
    """A solved exemplar: the question followed by its gold letter."""
    return f"{format_question(item)} {item.answer}"


def fewshot_exemplars(
    pool: Sequence[EvalItem], k: int, *, seed: int, exclude: str | None = None
) -> list[EvalItem]:
    """k exemplars drawn with a fixed seed, never the item being asked (same for every item)."""
    if k <= 0:
        return []
    candidates = sorted((p for p in pool if p.id != exclude), key=lambda p: p.id)
    if len(candidates) < k:
        raise ValueError(f"few-shot pool has {len(candidates)} items, {k} requested")
    return random.Random(seed).sample(candidates, k)


def build_prompt(item: EvalItem, exemplars: Sequence[EvalItem] = (), *, style: str = "mc") -> str:
    """The full text prompt: exemplars, blank-line separated, then the question.

    `instruction`: the training data's own multiple-choice format, for a chat model's user turn.
    """
    if style == "instruction":
        return format_mc(item.question.strip(), item.options)
    body = format_question(item)
    if style == "cot":
        body += f" {COT_TRIGGER}"
    elif style == "generate":
        body = f"{GEN_INSTRUCTION}\n\n{body}"
    return "\n\n".join([*(exemplar_text(e) for e in exemplars), body])


def choices(item: EvalItem, kind: str, *, chat: bool) -> list[str]:
    """Continuations to score: ' A'.. (lm-eval's target delimiter) or ' <option text>'.

    Inside a chat template the assistant turn starts on a fresh line, so no leading space.
    """
    values = list(item.options) if kind == "letters" else list(item.options.values())
    return values if chat else [f" {v}" for v in values]


def apply_chat(tokenizer, user_text: str) -> str:
    """The user turn wrapped in the tokenizer's chat template, ready for the assistant's reply."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
    )


def strip_bos(text: str, bos: str | None) -> str:
    """Templates usually write BOS themselves; the tokenizer would add a second one."""
    return text[len(bos) :] if bos and text.startswith(bos) else text


def chat_prompt(tokenizer: Any, model: str, user_text: str, chat: bool | None) -> tuple[str, bool]:
    """`user_text` inside the model's chat template when asked (chat=True) or when it has one
    (chat=None); returns the prompt and whether the template was applied."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    use = has_template if chat is None else chat
    if use and not has_template:
        raise SourceError(f"model {model!r} has no chat template but chat_template: always")
    if not use:
        return user_text, False
    return strip_bos(apply_chat(tokenizer, user_text), tokenizer.bos_token), True
