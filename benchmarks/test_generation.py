"""Generation throughput: the transformers backend batched (left padding, KV cache) vs one by one.

A tiny random Llama-3-architecture model is made in the test. Sizes: BENCH_GEN_PROMPTS prompts
(default 16), BENCH_GEN_BATCH per batch (default 8), BENCH_GEN_TOKENS new tokens (default 16);
BENCH_GEN_HIDDEN sets the model width (default 128). Greedy decoding, so both paths must agree.
"""

import os
import time

import pytest
from generation import Request, Sampling
from generation.hf import HFGenerator

from tests.fixtures.tiny_models import make_tiny_llama
from tests.fixtures.toy_hpo import WORDS

N_PROMPTS = int(os.environ.get("BENCH_GEN_PROMPTS", "16"))
BATCH = int(os.environ.get("BENCH_GEN_BATCH", "8"))
TOKENS = int(os.environ.get("BENCH_GEN_TOKENS", "16"))
HIDDEN = int(os.environ.get("BENCH_GEN_HIDDEN", "128"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("bench-llama"), hidden=HIDDEN, layers=4)


def _requests() -> list[Request]:
    prompts = [
        " ".join(WORDS[(i + k) % len(WORDS)] for k in range(5 + i % 17)) for i in range(N_PROMPTS)
    ]
    # min_new_tokens is not exposed; a prompt-independent length comes from ignoring EOS below.
    return [Request([{"role": "user", "content": p}], Sampling(0.0, 1.0, TOKENS)) for p in prompts]


def test_batched_vs_one_by_one(benchmark, model_dir):
    batched = HFGenerator(str(model_dir), batch_size=BATCH)
    single = HFGenerator(str(model_dir), batch_size=1)
    for backend in (batched, single):  # random weights: keep generating to max_tokens
        backend.lm.generation_config.eos_token_id = None
    requests = _requests()
    single.generate(requests[:2])  # warm-up (first-call allocations)
    ours = benchmark.pedantic(lambda: batched.generate(requests), rounds=1, iterations=1)
    start = time.perf_counter()
    theirs = single.generate(requests)
    baseline_s = time.perf_counter() - start
    ours_s = benchmark.stats.stats.mean if benchmark.stats else float("nan")
    tokens = sum(g.completion_tokens for g in ours)
    benchmark.extra_info.update(
        prompts=N_PROMPTS,
        batch=BATCH,
        new_tokens=tokens,
        baseline_s=baseline_s,
        ratio=baseline_s / ours_s,
    )
    print(
        f"\n{N_PROMPTS} prompts x {TOKENS} tokens: batched({BATCH}) {ours_s:.2f}s "
        f"({tokens / ours_s:.0f} tok/s), one by one {baseline_s:.2f}s "
        f"({tokens / baseline_s:.0f} tok/s), ratio {baseline_s / ours_s:.1f}x"
    )
    assert [g.text for g in ours] == [g.text for g in theirs]
    assert tokens == N_PROMPTS * TOKENS
