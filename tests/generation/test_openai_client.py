"""The one OpenAI-compatible client against a local server that misbehaves on purpose:
retries on 429/5xx/timeouts/malformed bodies, bounded concurrency, token and cost accounting,
the key from the environment only and never logged."""

import json
import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from generation import (
    CachedGenerator,
    Failure,
    GenerationError,
    Request,
    ResponseCache,
    Sampling,
    UnansweredRequests,
)
from generation.openai_client import OpenAIGenerator

from tests.fixtures.openai_responses import echoed_completion

SECRET = "sk-test-never-log-me"


class FakeServer:
    """Chat completions whose behaviour is chosen by the prompt: `<mode>:<id>`."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.inflight = self.max_inflight = 0
        self.auth: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                server.auth.add(self.headers.get("Authorization", ""))
                with server.lock:
                    server.calls[prompt] += 1
                    attempt = server.calls[prompt]
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                try:
                    self._answer(prompt.split(":")[0], attempt, prompt, body)
                finally:
                    with server.lock:
                        server.inflight -= 1

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _answer(self, mode: str, attempt: int, prompt: str, body: dict) -> None:
                if mode == "rate" and attempt <= 2:
                    return self._send(429, b'{"error": {"message": "slow down"}}')
                if (mode == "boom" and attempt == 1) or mode == "always":
                    return self._send(500, b'{"error": {"message": "internal"}}')
                if mode == "slow" and attempt == 1:
                    time.sleep(1.5)  # beyond the client timeout
                if mode == "bad" and attempt == 1:
                    return self._send(200, b'{"id": "x", "choices": [ {"message": ')
                if mode == "nochoice" and attempt == 1:
                    return self._send(
                        200,
                        b'{"id": "x", "object": "chat.completion", "created": 1, "model": "m", '
                        b'"choices": []}',
                    )
                if mode == "wait":
                    time.sleep(0.2)
                reply = {
                    "id": "cmpl-1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {
                                "role": "assistant",
                                "content": f"echo {prompt} seed={body.get('seed')}",
                            },
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
                return self._send(200, json.dumps(reply).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.httpd.shutdown()


def _backend(server: FakeServer, monkeypatch, **kw) -> OpenAIGenerator:
    monkeypatch.setenv("TEST_OPENAI_KEY", SECRET)
    args = {
        "model": "teacher",
        "base_url": server.url,
        "api_key_env": "TEST_OPENAI_KEY",
        "concurrency": 4,
        "timeout_s": 0.5,
        "max_retries": 3,
        "retry_initial_s": 0.01,
        "retry_max_s": 0.05,
        "price_prompt_per_1k": 1.0,
        "price_completion_per_1k": 2.0,
    }
    args.update(kw)
    return OpenAIGenerator(**args)


def _req(text: str, sample: int = 0) -> Request:
    return Request(
        [{"role": "user", "content": text}], Sampling(0.0, 1.0, 16), seed=5, sample=sample
    )


def test_retries_429_500_timeouts_and_malformed_json(server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    backend = _backend(server, monkeypatch)
    prompts = ["ok:1", "rate:1", "boom:1", "slow:1", "bad:1", "nochoice:1"]
    out = backend.generate([_req(p) for p in prompts])
    assert [g.text.split(" seed")[0] for g in out] == [f"echo {p}" for p in prompts]
    assert server.calls == {
        "ok:1": 1,
        "rate:1": 3,
        "boom:1": 2,
        "slow:1": 2,
        "bad:1": 2,
        "nochoice:1": 2,
    }
    assert backend.stats["retries"] == 6
    # Token and cost accounting (usage of the six successful calls).
    assert backend.stats["prompt_tokens"] == 60 and backend.stats["completion_tokens"] == 30
    assert out[0].cost_usd == pytest.approx((10 * 1.0 + 5 * 2.0) / 1000)
    # The key reaches the server, and nothing else.
    assert server.auth == {f"Bearer {SECRET}"}
    assert SECRET not in caplog.text and SECRET not in repr(backend)


def test_gives_up_with_a_clear_error(server, monkeypatch):
    backend = _backend(server, monkeypatch, max_retries=2)
    with pytest.raises(
        UnansweredRequests, match="after 3 attempts: HTTP 500 InternalServerError"
    ) as err:
        backend.generate([_req("always:1")])
    assert SECRET not in str(err.value)
    assert server.calls["always:1"] == 3


def test_concurrency_is_bounded(server, monkeypatch):
    backend = _backend(server, monkeypatch, concurrency=2)
    out = backend.generate([_req(f"wait:{i}") for i in range(8)])
    assert len(out) == 8 and server.max_inflight <= 2


def test_samples_get_distinct_seeds_and_cache_hits_skip_the_server(server, monkeypatch, tmp_path):
    backend = CachedGenerator(_backend(server, monkeypatch), ResponseCache(tmp_path / "c.sqlite"))
    first = backend.generate([_req("ok:2", 0), _req("ok:2", 1)])
    assert first[0].text != first[1].text  # seed differs per sample index
    again = backend.generate([_req("ok:2", 0), _req("ok:2", 1), _req("ok:3")])
    assert [g.cached for g in again] == [True, True, False]
    assert server.calls["ok:2"] == 2 and server.calls["ok:3"] == 1
    assert backend.stats["cache_hits"] == 2 and backend.stats["cache_misses"] == 3


def test_missing_key_for_a_hosted_api_is_an_error(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(GenerationError, match="set the NO_SUCH_KEY_VAR environment variable"):
        OpenAIGenerator("gpt", base_url=None, api_key_env="NO_SUCH_KEY_VAR")


def test_loglikelihood_retries_a_5xx_and_reads_echoed_logprobs(monkeypatch):
    import httpx

    calls: Counter[str] = Counter()

    def handle(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["prompt"]
        calls[prompt] += 1
        if calls[prompt] == 1:
            return httpx.Response(503, json={"error": {"message": "warming up"}})
        usage = {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}
        return echoed_completion(prompt, -0.25, {prompt[prompt.rindex(" ") :]: -0.25}, usage)

    client = OpenAIGenerator(
        "m",
        "http://fake/v1",
        None,
        retry_initial_s=0.0,
        retry_max_s=0.0,
        price_prompt_per_1k=1.0,
        transport=httpx.MockTransport(handle),
    )
    assert client.loglikelihood([("Q:", [" A", " B"]), ("R:", [" C"])]) == [
        [(-0.25, True), (-0.25, True)],
        [(-0.25, True)],
    ]
    assert client.stats["retries"] == 3 and client.stats["prompt_tokens"] == 9
    assert client.stats["cost_usd_micro"] == 9000


def test_concurrency_bound_is_shared_by_every_call_of_a_generator(server, monkeypatch):
    backend = _backend(server, monkeypatch, concurrency=2)
    with ThreadPoolExecutor(3) as pool:  # three stage threads asking at once
        outs = list(
            pool.map(
                lambda k: backend.generate([_req(f"wait:{k}-{i}") for i in range(4)]), range(3)
            )
        )
    backend.close()
    assert [len(o) for o in outs] == [4, 4, 4]
    assert server.max_inflight == 2  # reached, never exceeded across the three calls


def test_each_response_is_handed_over_as_it_arrives(server, monkeypatch):
    backend = _backend(server, monkeypatch, concurrency=4, max_retries=0)
    results = dict(backend.stream([_req("wait:a"), _req("always:b"), _req("ok:c")]))
    assert results[0].text.startswith("echo wait:a") and results[2].text.startswith("echo ok:c")
    assert results[1] == Failure("HTTP 500 InternalServerError", 1)  # reported, batch kept
    assert backend.stats["failed"] == 1
