"""Record schemas shared by every package (GUIDE.md "Records"), with their Parquet layout.

Chat messages follow the Hugging Face / OpenAI convention so records feed TRL directly.
Free-form mappings (`options`, `meta`) are stored in Parquet as JSON text, because their keys
vary from record to record and a Parquet struct needs one fixed set of keys.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

OPTION_LETTER = re.compile(r"^[A-Z]$")
YES_NO_MAYBE = ("yes", "no", "maybe")


class Message(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message content is empty")
        return value


def _check_options(options: dict[str, str] | None) -> None:
    if options is None:
        return
    if len(options) < 2:
        raise ValueError(f"expected at least 2 options, got {len(options)}")
    for letter, text in options.items():
        if not OPTION_LETTER.match(letter):
            raise ValueError(f"option key {letter!r} is not a single capital letter")
        if not text.strip():
            raise ValueError(f"option {letter} is empty")


class Instruction(BaseModel):
    """A training-side prompt, with its reference conversation and gold answer when known."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[^:\s]+:\S.*$")
    source: str = Field(min_length=1)
    type: Literal["mc", "yesno", "open"]
    messages: list[Message] = Field(min_length=1)
    options: dict[str, str] | None = None
    answer: str | None = None
    difficulty: float | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    split: Literal["train", "test"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Instruction:
        if not any(m.role == "user" for m in self.messages):
            raise ValueError("messages have no user turn")
        _check_options(self.options)
        if self.type == "mc":
            if not self.options:
                raise ValueError("a multiple-choice instruction needs options")
            if self.answer is not None and self.answer not in self.options:
                raise ValueError(
                    f"answer {self.answer!r} is not among the options {sorted(self.options)}"
                )
        if self.type == "yesno" and self.answer is not None and self.answer not in YES_NO_MAYBE:
            raise ValueError(f"a yes/no answer must be one of {YES_NO_MAYBE}, got {self.answer!r}")
        return self

    @property
    def prompt_text(self) -> str:
        """The user-side text a model sees: every user turn, joined."""
        return "\n".join(m.content for m in self.messages if m.role == "user")


class EvalItem(BaseModel):
    """One benchmark question with its gold answer."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[^:\s]+:\S.*$")
    task: str = Field(min_length=1)
    question: str = Field(min_length=1)
    options: dict[str, str]
    answer: str
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _answer_in_options(self) -> EvalItem:
        _check_options(self.options)
        if self.answer not in self.options:
            raise ValueError(
                f"answer {self.answer!r} is not among the options {sorted(self.options)}"
            )
        return self

    @property
    def full_text(self) -> str:
        """Question followed by its options, as decontamination compares it."""
        return self.question + "\n" + "\n".join(f"{k}. {v}" for k, v in self.options.items())


class Passage(BaseModel):
    """A knowledge text (textbook paragraph, ontology definition) for synthesis and pretraining."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[^:\s]+:\S.*$")
    source: str = Field(min_length=1)
    title: str = ""
    text: str = Field(min_length=1)
    meta: dict[str, Any] = Field(default_factory=dict)
    split: Literal["train", "test"] | None = None


class Completion(BaseModel):
    """One model's answer to one instruction (no wall-clock fields: the table is bit-for-bit
    repeatable; latency is the producing stage's MLflow material)."""

    model_config = ConfigDict(extra="forbid")
    prompt_id: str
    model: str
    sample: int = Field(ge=0)
    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Judgement(BaseModel):
    """A judge's score for one completion."""

    model_config = ConfigDict(extra="forbid")
    prompt_id: str
    model: str
    sample: int = Field(default=0, ge=0)
    score: float
    rationale: str = ""
    judge: str
    verified: bool | None = None


class Preference(BaseModel):
    """A chosen/rejected pair for preference learning."""

    model_config = ConfigDict(extra="forbid")
    id: str
    prompt: list[Message] = Field(min_length=1)
    chosen: list[Message] = Field(min_length=1)
    rejected: list[Message] = Field(min_length=1)
    chosen_model: str
    rejected_model: str
    chosen_score: float
    rejected_score: float
    margin: float
    category: str
    source: str
    split: Literal["train", "test"] | None = None


RECORD_TYPES: dict[str, type[BaseModel]] = {
    "instruction": Instruction,
    "eval_item": EvalItem,
    "passage": Passage,
    "completion": Completion,
    "judgement": Judgement,
    "preference": Preference,
}
