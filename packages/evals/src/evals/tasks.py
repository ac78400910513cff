"""Benchmark tasks registered by name: where the items come from, how they are prompted and scored.

A task is a few declarative fields (like an lm-evaluation-harness YAML); adding one is one call to
`register`. Items are data_core EvalItem records, read from the pipeline's Parquet files or, for a
task given a `file`, straight from a benchmark file through data_core's readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import polars as pl
from data_core.errors import ConfigError, SourceError
from data_core.io import frame_to_records
from data_core.schemas import EvalItem

Source = Literal["eval_items", "heldout", "file"]


@dataclass(frozen=True)
class TaskSpec:
    """One benchmark: its items, prompt, choices, scorer, metrics and breakdown key."""

    name: str
    source: Source = "eval_items"
    task_filter: str | None = None  # value of EvalItem.task to keep (default: the task's name)
    file: tuple[str, str] | None = None  # (data_core reader format, path) when source == "file"
    # mc: "Question: ...\nA. ...\nAnswer:" (lm-eval MedQA style) everywhere; auto: mc as cloze,
    # and inside a chat template the instruction format the training data uses (data_core.prompts)
    prompt: Literal["mc", "auto"] = "auto"
    choices: Literal["letters", "texts"] = "letters"  # continuation " A" or " <option text>"
    scorer: str = "loglik"
    metrics: tuple[str, ...] = ("acc", "acc_norm")
    group_by: str | None = None  # meta key reported per value (e.g. MMLU subject)
    # meta key whose text opens the assistant's answer inside a chat template (prefill), e.g. the
    # "A patient with <findings> may have" a diagnosis answer was taught to start with
    prefill: str | None = None
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)


REGISTRY: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Add (or replace) a task in the registry."""
    REGISTRY[spec.name] = spec
    return spec


register(TaskSpec("medqa", description="MedQA (USMLE, 4 options), test"))
register(TaskSpec("medmcqa", description="MedMCQA dev subset, 4 options"))
register(TaskSpec("pubmedqa", description="PubMedQA PQA-L test, yes/no/maybe as A/B/C"))
register(TaskSpec("mmlu_medical", group_by="subject",
                  description="MMLU medical subjects, per subject with macro/micro averages"))  # fmt: skip
# The knowledge tasks score the option texts (cloze style): the pretrained base has read disease and
# term names, not "Answer: C", so letters would measure format, not knowledge.
register(TaskSpec("hpo_diagnosis", source="heldout", choices="texts", prefill="answer_prefix",
                  description="held-out HPO diagnosis vignettes (no training stage sees them)"))  # fmt: skip
register(
    TaskSpec(
        "hpo_diagnosis_heldout",
        source="heldout",
        choices="texts",
        prefill="answer_prefix",
        description="held-out vignettes whose every option is a held-out disease",
    )
)
register(
    TaskSpec(
        "hpo_diagnosis_dev",
        source="heldout",
        choices="texts",
        prefill="answer_prefix",
        description="dev-part vignettes (all options dev): where the recipe is chosen",
    )
)
register(TaskSpec("hpo_definition", source="heldout", choices="texts",
                  description="held-out HPO term definitions (no training stage sees them)"))  # fmt: skip


def get_task(name: str, **overrides) -> TaskSpec:
    """The registered task `name`, with any field overridden."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown task {name!r}; registered: {', '.join(sorted(REGISTRY))}")
    return replace(REGISTRY[name], **overrides) if overrides else REGISTRY[name]


def _read_parquet_items(path: Path, task: str) -> list[EvalItem]:
    if not path.exists():
        raise SourceError(f"{path}: eval items file not found (needed by task {task!r})")
    frame = pl.read_parquet(path)
    return frame_to_records(frame.filter(pl.col("task") == task), EvalItem)


def load_items(
    spec: TaskSpec, *, eval_items: Path, heldout_items: Path, limit: int | None = None
) -> list[EvalItem]:
    """The task's items, in file order (optionally the first `limit`)."""
    task = spec.task_filter or spec.name
    if spec.source == "eval_items":
        items = _read_parquet_items(eval_items, task)
    elif spec.source == "heldout":
        items = _read_parquet_items(heldout_items, task)
    else:
        from data_core.readers import read_source

        if spec.file is None:
            raise ConfigError(f"task {spec.name!r}: source 'file' needs file: [format, path]")
        fmt, path = spec.file
        result = read_source(path, fmt, spec.name, task=task)
        items = [r for r in result.records if isinstance(r, EvalItem)]
    if not items:
        raise SourceError(f"task {spec.name!r}: no items with task == {task!r}")
    return items[:limit] if limit else items


def group_of(item: EvalItem, key: str | None) -> str | None:
    """The breakdown value of an item (e.g. its MMLU subject)."""
    if key is None:
        return None
    value = item.meta.get(key)
    return None if value is None else (value if isinstance(value, str) else json.dumps(value))
