"""The benchmark's inputs: MedQA questions as eval items, SFT chats, DPO pairs and prompts.

Read with data_core's MedQA reader (pydantic only: no polars, which the lent GPU machine lacks).
Chats and pairs are built from the questions so that lengths are those of real medical text; the
random-init model learns nothing from them, which a throughput figure does not need.
"""

from __future__ import annotations

from itertools import cycle, islice
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# the pipeline's copy (a DVC output), then the shared read-only data beside the repository
MEDQA_PATHS = (
    REPO / "data" / "raw" / "benchmarks" / "medqa" / "test.jsonl",
    REPO.parent / "shared" / "data" / "benchmarks" / "medqa" / "test.jsonl",
)


def find_medqa(explicit: str | None = None) -> Path:
    """The MedQA test file: `explicit`, else the first of MEDQA_PATHS that exists."""
    candidates = [Path(explicit)] if explicit else list(MEDQA_PATHS)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"MedQA test.jsonl not found; looked at {[str(p) for p in candidates]}")


def medqa_items(path: Path, limit: int | None = None) -> list[Any]:
    """The first `limit` MedQA questions as data_core EvalItems (file order: reproducible)."""
    from data_core.readers import read_source

    items = read_source(path, "medqa", "medqa").records
    return items[:limit] if limit else items


def _user_turn(item: Any) -> str:
    from data_core.prompts import format_mc

    return format_mc(item.question.strip(), item.options)


def _answer(item: Any, letter: str) -> str:
    return f"The answer is {letter}. {item.options[letter]}."


def sft_conversations(items: list[Any], count: int) -> list[list[dict[str, str]]]:
    """`count` user/assistant chats (the items repeated as needed): question, gold answer."""
    return [
        [
            {"role": "user", "content": _user_turn(item)},
            {"role": "assistant", "content": _answer(item, item.answer)},
        ]
        for item in islice(cycle(items), count)
    ]


def dpo_pairs(items: list[Any], count: int) -> list[dict[str, list[dict[str, str]]]]:
    """`count` conversational DPO rows: the gold answer chosen, the next option rejected."""
    rows = []
    for item in islice(cycle(items), count):
        letters = list(item.options)
        wrong = letters[(letters.index(item.answer) + 1) % len(letters)]
        rows.append(
            {
                "prompt": [{"role": "user", "content": _user_turn(item)}],
                "chosen": [{"role": "assistant", "content": _answer(item, item.answer)}],
                "rejected": [{"role": "assistant", "content": _answer(item, wrong)}],
            }
        )
    return rows


def chat_prompts(items: list[Any]) -> list[list[dict[str, str]]]:
    """One user turn per item, for generation."""
    return [[{"role": "user", "content": _user_turn(item)}] for item in items]
