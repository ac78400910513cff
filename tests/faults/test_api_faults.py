"""API faults (issue 19): 1,000 chat requests through `OpenAIGenerator.stream` at a loopback
server that injects 429s (with and without Retry-After), 5xx, timeouts, dropped connections,
truncated and malformed bodies. Every request completes or is reported failed with its reason,
concurrency stays within its bound, and retries and backoff waits follow the policy, checked on
a fake clock rather than by timing."""

from __future__ import annotations

import random
import re
import socket
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from generation import Failure, Generation, Request
from generation.openai_client import OpenAIGenerator

from tests.faults.tally import Tally
from tests.fixtures.fake_openai import FAULTS, FakeOpenAIServer
from tests.fixtures.fake_openai_bodies import request_key

N = 1000
CONCURRENCY = 16
MAX_RETRIES = 5
INITIAL_S, MAX_S = 0.3, 4.0  # 0.3, 0.6, 1.2, 2.4, then 4.8 capped at 4.0
RETRY_AFTER_S = 2  # distinct from every exponential wait, so the multiset tells them apart
MODEL = "teacher"
# What a failure's reason must say for the last fault a request met.
REASON = {
    "429": r"HTTP 429",
    "429_retry_after": r"HTTP 429",
    "500": r"HTTP 500",
    "502": r"HTTP 502",
    "503": r"HTTP 503",
    "503_retry_after": r"HTTP 503",
    "timeout": r"Timeout",
    "drop": r"APIConnectionError",
    "truncated": r"APIConnectionError",
    "malformed": r"MalformedResponse: body is not a completion",
    "no_choices": r"MalformedResponse: no choices",
}


class FakeClock:
    """The generator's `sleep`: records each backoff wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def expected_wait(attempt: int, fault: str) -> float:
    """The policy after the `attempt`-th failure (jitter 0), Retry-After honoured and capped."""
    if fault.endswith("_retry_after"):
        return min(RETRY_AFTER_S, MAX_S)
    return min(INITIAL_S * 2 ** (attempt - 1), MAX_S)


def fault_plan(n: int, seed: int) -> list[list[str]]:
    """Per request, the faults its attempts meet before one succeeds; about 3% of requests get
    more faults than attempts allowed, so they must fail."""
    rng = random.Random(seed)
    plans = []
    for _ in range(n):
        if rng.random() < 0.03:
            depth = rng.randint(MAX_RETRIES + 1, MAX_RETRIES + 3)
        else:
            depth = rng.choices(range(MAX_RETRIES + 1), weights=[40, 25, 15, 10, 6, 4])[0]
        plans.append([rng.choice(FAULTS) for _ in range(depth)])
    return plans


def chat(i: int) -> Request:
    return Request(messages=[{"role": "user", "content": f"question {i}"}])


def reply(body: dict[str, Any]) -> str:
    return f"reply to {body['messages'][-1]['content']} (seed {body.get('seed')})"


def generator(server: FakeOpenAIServer, clock: FakeClock, **kw: Any) -> OpenAIGenerator:
    args: dict[str, Any] = {
        "model": MODEL,
        "base_url": server.base_url,
        "api_key_env": None,
        "concurrency": CONCURRENCY,
        # A `timeout` fault holds its request 5 s; the client gives up after 2 s. A shorter
        # timeout lets a loaded machine's slow but healthy request time out: a retry the plan
        # did not make.
        "timeout_s": 2.0,
        "max_retries": MAX_RETRIES,
        "retry_initial_s": INITIAL_S,
        "retry_max_s": MAX_S,
        "require_key": False,
        "sleep": clock,
        "retry_jitter_s": 0.0,
    }
    return OpenAIGenerator(**(args | kw))


def learn_seed(gen: OpenAIGenerator, seen: set[Any]) -> Any:
    """The seed the client sends for `Request()` (the server's reply records it): it keys the
    fault plan, so the plan does not depend on how the client derives it."""
    [(_, probe)] = list(gen.stream([Request(messages=[{"role": "user", "content": "probe"}])]))
    assert isinstance(probe, Generation) and len(seen) == 1, (probe, seen)
    return seen.pop()


def keys_for(indices: Any, seed: Any) -> list[str]:
    return [
        request_key({"messages": chat(i).messages, "seed": seed, "model": MODEL}) for i in indices
    ]


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_thousand_requests_through_injected_faults(tally: Tally):
    plans = fault_plan(N, seed=19)
    by_key: dict[str, list[str]] = {}
    seeds: set[Any] = set()

    def faults(key: str, attempt: int) -> str | None:
        plan = by_key.get(key, [])
        return plan[attempt - 1] if attempt <= len(plan) else None

    def answer(body: dict[str, Any]) -> str:
        seeds.add(body.get("seed"))
        return reply(body)

    clock = FakeClock()
    start = time.perf_counter()
    with FakeOpenAIServer(reply=answer, faults=faults, hold_s=5.0) as server:
        gen = generator(server, clock)
        try:
            sent_seed = learn_seed(gen, seeds)
            keys = keys_for(range(N), sent_seed)
            by_key.update(zip(keys, plans, strict=True))
            before = gen.stats.copy()
            results = list(gen.stream([chat(i) for i in range(N)]))
            spent = gen.stats - before
        finally:
            gen.close()
        port = server.port
    elapsed = time.perf_counter() - start

    # Every index exactly once; each a Generation with the server's reply, or a Failure exactly
    # where the plan had more faults than attempts, naming the last fault met.
    assert sorted(i for i, _ in results) == list(range(N))
    tally.add(
        requests=N,
        http_calls=sum(server.calls.values()),
        faults=sum(server.faults_sent.values()),
        failed_reported=sum(isinstance(r, Failure) for _, r in results),
        records_lost=N - len({i for i, _ in results}),
    )
    attempts_allowed = MAX_RETRIES + 1
    doomed = {i for i, plan in enumerate(plans) if len(plan) >= attempts_allowed}
    for i, result in results:
        if i in doomed:
            assert isinstance(result, Failure), (i, plans[i], result)
            assert result.attempts == attempts_allowed
            assert re.search(REASON[plans[i][MAX_RETRIES]], result.reason), (plans[i], result)
        else:
            assert isinstance(result, Generation), (i, plans[i], result)
            assert result.text == reply({"messages": chat(i).messages, "seed": sent_seed})
            assert result.completion_tokens == len(result.text.split())

    # The server saw exactly the planned attempts and faults, from loopback only.
    met = [plan[:attempts_allowed] for plan in plans]
    planned_calls = {k: min(len(p) + 1, attempts_allowed) for k, p in zip(keys, plans, strict=True)}
    assert {k: server.calls[k] for k in keys} == planned_calls
    assert server.faults_sent == Counter(f for faults_met in met for f in faults_met)
    assert server.answered_total == N - len(doomed) + 1  # + the probe
    assert server.client_hosts == {"127.0.0.1"}
    # Concurrency never exceeded its bound (and the run did use it).
    assert 1 < server.max_inflight <= CONCURRENCY
    # Retries and backoff waits match the policy, wait by wait.
    planned_retries = sum(min(len(p), MAX_RETRIES) for p in plans)
    assert spent["retries"] == planned_retries == len(clock.waits)
    assert spent["calls"] == sum(planned_calls.values())
    assert spent["failed"] == len(doomed)
    expected = Counter(
        round(expected_wait(n, fault), 9)
        for plan in plans
        for n, fault in enumerate(plan[:MAX_RETRIES], start=1)
    )
    assert Counter(round(w, 9) for w in clock.waits) == expected
    # The server stopped with its `with`: the port refuses connections.
    assert server.stopped.is_set() and refuses(port)

    print(
        f"\napi faults: {N} requests, {sum(planned_calls.values())} HTTP calls, "
        f"{planned_retries} retries, {len(doomed)} failed (all planned), "
        f"max in flight {server.max_inflight}/{CONCURRENCY}, {elapsed:.1f} s wall"
        f"\nfaults injected: {dict(sorted(server.faults_sent.items()))}"
        f"\nbackoff waits (s -> count): {dict(sorted(expected.items()))}"
    )


def test_retry_after_is_capped_and_jitter_stays_in_its_band():
    clock, seeds = FakeClock(), set()
    plans = [["429_retry_after", "503_retry_after"], ["500", "drop", "timeout"]]
    by_key: dict[str, list[str]] = {}

    def faults(key: str, attempt: int) -> str | None:
        plan = by_key.get(key, [])
        return plan[attempt - 1] if attempt <= len(plan) else None

    def answer(body: dict[str, Any]) -> str:
        seeds.add(body.get("seed"))
        return reply(body)

    with FakeOpenAIServer(reply=answer, faults=faults, retry_after_s=30, hold_s=5.0) as server:
        gen = generator(server, clock, retry_jitter_s=0.1, timeout_s=1.0)
        try:
            by_key.update(zip(keys_for(range(2), learn_seed(gen, seeds)), plans, strict=True))
            results = dict(gen.stream([chat(0), chat(1)]))
        finally:
            gen.close()
    assert all(isinstance(r, Generation) for r in results.values()), results
    capped = [w for w in clock.waits if w == MAX_S]
    assert len(capped) == 2  # Retry-After: 30 waits retry_max_s, both for 429 and 503
    rest = sorted(w for w in clock.waits if w != MAX_S)
    for low, wait in zip((INITIAL_S, 2 * INITIAL_S, 4 * INITIAL_S), rest, strict=True):
        assert low <= wait <= low + 0.1


def test_the_server_stops_by_itself_when_idle():
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    with FakeOpenAIServer(idle_timeout_s=1.0) as server, httpx.Client() as client:
        for _ in range(6):  # a request every 0.25 s keeps it alive past its idle timeout
            assert client.post(f"{server.base_url}/chat/completions", json=body).status_code == 200
            time.sleep(0.25)
        assert not server.stopped.is_set()
        assert server.wait_stopped(5.0), "the idle server did not stop by itself"
        assert refuses(server.port)


def test_pause_after_holds_answers_until_release_and_die_after_answers_500():
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    with FakeOpenAIServer(die_after=2) as server:
        codes = [
            httpx.post(f"{server.base_url}/chat/completions", json=body).status_code
            for _ in range(4)
        ]
    assert codes == [200, 200, 500, 500] and server.answered_total == 2
    with FakeOpenAIServer(pause_after=1) as server, httpx.Client(timeout=0.3) as client:
        url = f"{server.base_url}/chat/completions"
        assert client.post(url, json=body).status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            client.post(url, json=body)  # held
        server.release()
        assert client.post(url, json=body).status_code == 200
        assert sum(server.calls.values()) == 3
