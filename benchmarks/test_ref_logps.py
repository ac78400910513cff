"""DPO against a live reference model vs TRL's precomputed reference log-probs (trainers).

Same random Llama, same pairs, same seed: the live run keeps a frozen reference copy in memory and
runs it every step; the precomputed run computes every training pair's reference log-probs once
(cold: into an empty `ref_logps` cache) and the warm run reads them from disk (what nca and every
re-run on the same pairs and reference get). All three must give the same training loss and the same
held-out rewards (rel 1e-4); the run reports each one's time and peak resident memory, and warm must
be at least FLOOR times as fast as live (CPU time, best of two; README "Floors"). One epoch, so the
precompute covers exactly the pairs the training reads. Size: BENCH_REF_PAIRS train pairs
(default 64; `BENCH_REF_PAIRS=256 uv run pytest benchmarks/test_ref_logps.py -s
--benchmark-enable`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from trainers.config import ModelConfig, PreferenceConfig
from trainers.lifecycle import TrainingJob
from trainers.model_dir import save_model_dir
from trainers.preference import REF_CACHE, pair_rows, train_preference
from trainers.pretrain import new_model

from tests.trainers.conftest import preferences

PAIRS, BATCH = int(os.environ.get("BENCH_REF_PAIRS", "64")), 8
# live / warm speed in CPU time, best of two; measured 1.13x-1.15x at 64 pairs (README "Floors").
# A thin margin by construction: warm saves only the reference forward (a quarter of a step next to
# the policy's forward + backward) and the reference's load, against the same fixed set-up.
FLOOR = 1.05
MODEL = ModelConfig(
    hidden_size=128,
    intermediate_size=344,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
)


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def measured(fn):
    """(result, wall seconds, CPU seconds, peak resident memory above the start, MB); memory is
    sampled every 5 ms. CPU time is this process's: time spent descheduled is not counted."""
    start, peak, done = _rss_kb(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_kb())
            time.sleep(0.005)

    thread = threading.Thread(target=sample)
    thread.start()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        out = fn()
    finally:
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        done.set()
        thread.join()
    return out, seconds, cpu, max(peak[0] - start, 0) / 1024


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from trainers.config import TokenizerConfig
    from trainers.tokenizer import train_bpe

    from tests.trainers.conftest import corpus, instructions

    texts = corpus() + [m.content for r in instructions() for m in r.messages]
    tokenizer = train_bpe(texts, TokenizerConfig(vocab_size=400, min_frequency=1))
    root = tmp_path_factory.mktemp("ref_logps")
    save_model_dir(new_model(MODEL, tokenizer, seed=0), tokenizer, root / "sft")
    records = preferences(PAIRS * 2)
    train, test = pair_rows(records, "train", PAIRS), pair_rows(records, "test", None)
    return tokenizer, root, train, test


def train(setup, name: str, precompute: bool) -> dict:
    tokenizer, root, train_rows, test = setup
    cfg = PreferenceConfig(
        max_steps=-1,  # one epoch: the precompute covers exactly what training reads
        per_device_train_batch_size=BATCH,
        max_length=256,
        logging_steps=100,
        save_steps=1000,
        learning_rate=1e-3,
        precompute_ref_log_probs=precompute,
    )
    job = TrainingJob(root, root / name, root / "ck" / name, {"run": name})
    return train_preference("dpo", root / "sft", tokenizer, train_rows, test, cfg, job).metrics


def test_live_vs_precomputed_reference(benchmark, setup, assert_ratio) -> None:
    runs = {}
    train(setup, "warm-up", False)  # one-time allocations and imports go unmeasured
    for name, precompute in (("live", False), ("cold", True)):
        runs[name] = measured(lambda n=name, p=precompute: train(setup, n, p))
    # the warm run is the one pytest-benchmark records
    runs["warm"] = benchmark.pedantic(
        lambda: measured(lambda: train(setup, "warm", True)), rounds=1, iterations=1
    )
    # a second live / warm pair for the floor's best of two (the machine is shared and noisy)
    again = {n: measured(lambda n=n: train(setup, f"{n}-2", n == "warm")) for n in ("live", "warm")}
    cache = Path(setup[1]) / "ck" / REF_CACHE
    assert len(list(cache.glob("cache-*.arrow"))) == 1  # cold wrote it, both warm runs read it
    live = runs["live"][0]
    keys = [k for k in live if k.startswith("heldout_dpo_") or k == "train_loss"]
    assert "heldout_dpo_reward_margin" in keys or "heldout_dpo_reward_accuracy" in keys
    for name, run in [("cold", runs["cold"]), ("warm", runs["warm"]), ("warm-2", again["warm"])]:
        for key in keys:
            assert run[0][key] == pytest.approx(live[key], rel=1e-4, abs=1e-6), (name, key)
    t_live, cpu_live = runs["live"][1], runs["live"][2]
    print(f"\n{len(setup[2])} pairs, batch {BATCH}, one epoch")
    for name, (_, seconds, cpu, peak) in runs.items():
        print(
            f"{name:5s} {seconds:7.2f} s wall / {cpu:6.2f} s CPU  ratio live/this "
            f"{t_live / seconds:5.2f}x wall, {cpu_live / cpu:5.2f}x CPU  peak +{peak:.0f} MB"
        )
    best = {n: min(runs[n][2], again[n][2]) for n in ("live", "warm")}
    print(f"best of two, CPU: live {best['live']:.2f} s, warm {best['warm']:.2f} s")
    benchmark.extra_info.update(
        {f"{n}_seconds": round(s, 2) for n, (_, s, _, _) in runs.items()}
        | {f"{n}_peak_mb": round(p, 1) for n, (_, _, _, p) in runs.items()}
    )
    # reading the reference's log-probs from disk skips its forward every step
    assert_ratio("warm_vs_live", best["live"] / best["warm"], FLOOR)
