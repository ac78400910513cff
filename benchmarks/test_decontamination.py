"""Decontamination speed: our vectorised n-gram index against a plain pure-Python dict index.

Size: BENCH_DECONTAM_SIZE synthetic instructions (CI default 20,000; the issue's full size is
400,000: `BENCH_DECONTAM_SIZE=400000 uv run pytest benchmarks -s`). Both must flag the same records.
"""

import os
import random
import re
import time
from collections import defaultdict

import pytest
from data_core.contamination import NgramIndex, match_in_chunks

WORD = re.compile(r"[a-z0-9]+")


def baseline_match(items, texts, n=13, min_coverage=0.2):
    """The straightforward version of the same rules: dicts of word tuples, one text at a time."""
    grams, short = defaultdict(set), defaultdict(set)
    sizes = defaultdict(int)
    for item in items:
        w = WORD.findall(item.full_text.lower())
        if 0 < len(w) < n:
            short[tuple(w)].add(item.id)
        for i in range(len(w) - n + 1):
            grams[tuple(w[i : i + n])].add(item.id)
    for owners in grams.values():
        for owner in owners:
            sizes[owner] += 1
    short_lengths = {len(k) for k in short}
    out = []
    for text in texts:
        w = WORD.findall(text.lower())
        shared = defaultdict(set)
        for i in range(len(w) - n + 1):
            gram = tuple(w[i : i + n])
            for owner in grams.get(gram, ()):
                shared[owner].add(gram)
        best = max(
            (
                (len(g) / sizes[o], o)
                for o, g in shared.items()
                if len(g) / sizes[o] >= min_coverage
            ),
            default=None,
            key=lambda t: t[0],
        )
        if best is None:
            for size in short_lengths:
                hit = next(
                    (
                        short[tuple(w[i : i + size])]
                        for i in range(len(w) - size + 1)
                        if tuple(w[i : i + size]) in short
                    ),
                    None,
                )
                if hit:
                    best = (1.0, min(hit))
                    break
        out.append(best[1] if best else None)
    return out


@pytest.fixture(scope="module")
def corpus(real_items):
    items = real_items
    vocab = sorted({w for item in items for w in WORD.findall(item.full_text.lower())})
    rng = random.Random(0)
    size = int(os.environ.get("BENCH_DECONTAM_SIZE", "20000"))
    texts = [" ".join(rng.choices(vocab, k=rng.randint(60, 120))) for _ in range(size)]
    for k in range(0, size, 500):  # plant a benchmark question in every 500th instruction
        texts[k] += " " + items[(k // 500) * 7 % len(items)].full_text
    return items, texts


def test_ngram_index_vs_plain_python(benchmark, corpus):
    items, texts = corpus
    index = NgramIndex(items, 13)
    ours = benchmark.pedantic(
        lambda: match_in_chunks(index, texts, min_coverage=0.2), rounds=1, iterations=1
    )
    start = time.perf_counter()
    theirs = baseline_match(items, texts)
    baseline_s = time.perf_counter() - start
    ours_s = benchmark.stats.stats.mean if benchmark.stats else float("nan")
    benchmark.extra_info.update(
        records=len(texts), baseline_s=baseline_s, ratio=baseline_s / ours_s
    )
    print(
        f"\n{len(texts)} records: ours {ours_s:.2f}s, baseline {baseline_s:.2f}s, "
        f"ratio {baseline_s / ours_s:.1f}x"
    )
    ours_ids = [m.item_id if m else None for m in ours]
    flagged = [i for i, m in enumerate(ours_ids) if m]
    assert flagged == [i for i, m in enumerate(theirs) if m]
    assert len(flagged) >= len(texts) // 500
