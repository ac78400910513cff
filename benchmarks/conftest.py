"""Shared inputs of the benchmark suites: the real benchmark questions in ../shared/data."""

from pathlib import Path

import pytest
from data_core.readers import read_source

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "benchmarks"
SETS = [
    ("medqa/test.jsonl", "medqa"),
    ("medmcqa/dev_subset.jsonl", "medmcqa"),
    ("mmlu_medical/test.jsonl", "mmlu"),
    ("pubmedqa/test.jsonl", "pubmedqa"),
]


@pytest.fixture(scope="session")
def real_items():
    """Every question of the four benchmarks (~5.7K EvalItems), or a skip naming the folder."""
    if not SHARED.is_dir():
        pytest.skip(f"real benchmark files not found at {SHARED}")
    return [r for path, fmt in SETS for r in read_source(SHARED / path, fmt, fmt).records]
