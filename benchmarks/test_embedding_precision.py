"""Embedding decontamination: the benchmark index under bf16 autocast vs float32, same items.

decontaminate embeds every benchmark item once per run (5,678 here). Both precisions must make the
same match decisions on planted paraphrases and clean texts, with cosines within 1e-3 of each
other; the run reports each one's time and the ratio, and bf16 must be at least FLOOR times as fast
(CPU time, one thread: benchmarks/README.md "Floors"). Size: BENCH_EMBED_ITEMS real items (CI
default 400; the pipeline's whole index: `BENCH_EMBED_ITEMS=5678 uv run pytest
benchmarks/test_embedding_precision.py -s --benchmark-enable`).
"""

import os
import time

import numpy as np
import pytest
from data_core.embeddings import EmbeddingMatcher

FLOOR = 1.6  # bf16 / float32 speed in CPU time; measured 2.8x-2.9x at 400 items (README "Floors")


@pytest.fixture(scope="module")
def items(real_items):
    size = int(os.environ.get("BENCH_EMBED_ITEMS", "400"))
    step = max(1, len(real_items) // size)  # spread over the four benchmarks, long and short items
    return real_items[::step][:size]


def _encoder(items, precision: str) -> EmbeddingMatcher:
    """A matcher over a few items, its kernels warmed on them (oneDNN builds bf16 ones lazily)."""
    return EmbeddingMatcher(items[:16], batch_size=16, max_seq_length=128, precision=precision)


def test_bf16_index_vs_float32(benchmark, items, assert_ratio):
    texts = [item.full_text for item in items]
    fast, exact = _encoder(items, "bfloat16"), _encoder(items, "float32")
    # wall and this process's CPU time (descheduled time is not counted: steadier on a shared box)
    t0, c0 = time.perf_counter(), time.process_time()
    fast_vectors = benchmark.pedantic(lambda: fast.encode(texts), rounds=1, iterations=1)
    t1, c1 = time.perf_counter(), time.process_time()
    exact_vectors = exact.encode(texts)
    t2, c2 = time.perf_counter(), time.process_time()
    bf16_s, float32_s, ratio = t1 - t0, t2 - t1, (c2 - c1) / (c1 - c0)
    benchmark.extra_info.update(items=len(items), bf16_s=bf16_s, float32_s=float32_s)
    print(
        f"\n{len(items)} items: bf16 {bf16_s:.2f} s wall / {c1 - c0:.2f} s CPU, float32 "
        f"{float32_s:.2f} s wall / {c2 - c1:.2f} s CPU, ratio {float32_s / bf16_s:.1f}x wall, "
        f"{ratio:.1f}x CPU"
    )
    cosines = (exact_vectors * fast_vectors).sum(axis=1)
    assert np.abs(cosines - 1).max() < 1e-3
    # the same decisions: index every item in both precisions, match planted and clean texts
    fast.item_ids = exact.item_ids = [item.id for item in items]
    fast.item_vectors, exact.item_vectors = fast_vectors, exact_vectors
    probes = ["Please answer: " + item.full_text for item in items[::20]]
    probes += ["Describe the life cycle of Plasmodium falciparum in the mosquito host."]
    decisions = [[m and m.item_id for m in matcher.match(probes, 0.9)] for matcher in (exact, fast)]
    assert decisions[0] == decisions[1]
    assert decisions[0][-1] is None and sum(d is not None for d in decisions[0]) >= len(probes) // 2
    assert_ratio("bf16_vs_float32", ratio, FLOOR)
