"""Shared pieces of the benchmark suites: the real benchmark questions in ../shared/data, and the
speed floor every suite asserts against the baseline it runs beside (README "Floors")."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from data_core.readers import read_source

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "benchmarks"
SETS = [
    ("medqa/test.jsonl", "medqa"),
    ("medmcqa/dev_subset.jsonl", "medmcqa"),
    ("mmlu_medical/test.jsonl", "mmlu"),
    ("pubmedqa/test.jsonl", "pubmedqa"),
]
# torch threads for every suite. One, because on a shared 2-core machine a two-thread run stalls at
# each parallel barrier whenever another job holds a core, and our side and the baseline stall
# differently (batched vs one-by-one generation measured 0.3x-3.6x on two threads, 3.7x-3.9x on one)
THREADS = int(os.environ.get("BENCH_THREADS", "1"))


@pytest.fixture(scope="session", autouse=True)
def torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield THREADS
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def real_items():
    """Every question of the four benchmarks (~5.7K EvalItems), or a skip naming the folder."""
    if not SHARED.is_dir():
        pytest.skip(f"real benchmark files not found at {SHARED}")
    return [r for path, fmt in SETS for r in read_source(SHARED / path, fmt, fmt).records]


@pytest.fixture
def assert_ratio(benchmark, request) -> Callable[[str, float, float], None]:
    """check(name, ratio, floor): ours must run at least `floor` times the baseline's speed.

    Floors sit well below the ratio measured at CI size, so a shared machine's noise passes and a
    real regression (the optimisation gone, ours several times slower) fails. Both numbers land in
    the benchmark's extra_info (`--benchmark-json`)."""

    def check(name: str, ratio: float, floor: float) -> None:
        __tracebackhide__ = True  # the failure points at the suite's call, not at this helper
        benchmark.extra_info |= {f"{name}_ratio": round(ratio, 3), f"{name}_floor": floor}
        assert ratio >= floor, (
            f"{name}: measured {ratio:.2f}x the baseline's speed, below the floor of {floor:.2f}x "
            f"(benchmarks/README.md, 'Floors'). Full figures: uv run pytest "
            f"'{request.node.nodeid}' -s --benchmark-enable -p no:cacheprovider"
        )

    return check
