"""Benchmark tasks declared in params.yaml: where the items come from, how they are asked, scored.

A task is data, like an lm-evaluation-harness YAML. A benchmark file is one `ingest.eval_sets` entry
(`FileTask`): ingest reads it with its data_core reader into data/interim/eval_items.parquet, which
decontamination also reads, and evaluate reads the same items back by task name. A task over the
synth stage's held-out items is one `evaluate.heldout_sets` entry (`TaskSpec`): no file to declare.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import polars as pl
from data_core.config import Strict
from data_core.errors import SourceError
from data_core.io import frame_to_records
from data_core.schemas import EvalItem
from pydantic import Field

Scorer = Literal["loglik", "generate", "cot", "self_consistency", "best_of_n"]


class TaskSpec(Strict):
    """One task's prompt, choices, default scorer, breakdown key and answer opening."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-/]+$")
    # mc: "Question: ...\nA. ...\nAnswer:" (lm-eval MedQA style) everywhere; auto: mc as cloze,
    # and inside a chat template the instruction format the training data uses (data_core.prompts)
    prompt: Literal["mc", "auto"] = "auto"
    choices: Literal["letters", "texts"] = "letters"  # continuation " A" or " <option text>"
    scorer: Scorer | None = None  # for runs that name none; None: each model's own, else loglik
    group_by: str | None = None  # meta key reported per value (e.g. MMLU subject)
    # meta key whose text opens the assistant's answer inside a chat template (prefill), e.g. the
    # "A patient with <findings> may have" a diagnosis answer was taught to start with
    prefill: str | None = None

    @property
    def item_task(self) -> str:
        """The EvalItem.task value of this task's items."""
        return self.name


class FileTask(TaskSpec):
    """A benchmark file (an `ingest.eval_sets` entry): the keys ingest reads, then the task's."""

    format: str  # a data_core reader (data_core.readers.FORMATS), e.g. medqa
    path: str
    task: str | None = None  # EvalItem.task written by ingest (default: the name)
    options: dict[str, Any] = Field(default_factory=dict)  # reader options, e.g. split_file

    @property
    def item_task(self) -> str:
        return self.task or self.name


def task_catalog(
    file_tasks: Iterable[TaskSpec], heldout: Iterable[TaskSpec]
) -> dict[str, TaskSpec]:
    """Every declared task by name (a name declared twice is an error)."""
    catalog: dict[str, TaskSpec] = {}
    for spec in [*file_tasks, *heldout]:
        if spec.name in catalog:
            raise ValueError(f"task {spec.name!r} is declared twice")
        catalog[spec.name] = spec
    return catalog


def _read_parquet_items(path: Path, task: str, name: str) -> list[EvalItem]:
    if not path.exists():
        raise SourceError(f"{path}: eval items file not found (needed by task {name!r})")
    frame = pl.read_parquet(path)
    return frame_to_records(frame.filter(pl.col("task") == task), EvalItem)


def load_items(
    spec: TaskSpec, *, eval_items: Path, heldout_items: Path, limit: int | None = None
) -> list[EvalItem]:
    """The task's items, in file order (optionally the first `limit`)."""
    path = eval_items if isinstance(spec, FileTask) else heldout_items
    items = _read_parquet_items(path, spec.item_task, spec.name)
    if not items:
        raise SourceError(f"task {spec.name!r}: no items with task == {spec.item_task!r} in {path}")
    return items[:limit] if limit else items


def group_of(item: EvalItem, key: str | None) -> str | None:
    """The breakdown value of an item (e.g. its MMLU subject)."""
    if key is None:
        return None
    value = item.meta.get(key)
    return None if value is None else (value if isinstance(value, str) else json.dumps(value))
