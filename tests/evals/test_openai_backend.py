"""The evals OpenAI-compatible backend (the generation layer's client) against a fake server
(httpx MockTransport): log-likelihood from completions echo + logprobs, n samples through chat
completions, clear errors, key from env only."""

import json

import httpx
import pytest
from evals.backends import GenerationConfig
from evals.backends.openai_api import OpenAIBackend
from generation import GenerationError

from tests.fixtures.openai_responses import echoed_completion


def _server(seen, echo=True):
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, body, request.headers.get("authorization")))
        if request.url.path.endswith("/completions") and "chat" not in request.url.path:
            if not echo:
                return httpx.Response(400, json={"error": {"message": "echo not supported"}})
            prompt = body["prompt"]  # context "Q: x\nAnswer:" + continuation " B" or " A"
            return echoed_completion(prompt, -0.5 if prompt.endswith("B") else -2.0, {" B": -0.5})
        # one sample per request; the seed tells samples apart
        text = f"The answer is {'AB'[body['seed'] % 2]}"
        choices = [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ]
        return httpx.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": choices,
            },
        )

    return httpx.MockTransport(handle)


def test_loglik_and_generation_through_a_compatible_server(monkeypatch):
    monkeypatch.setenv("EVAL_TEST_KEY", "sk-secret")
    seen = []
    backend = OpenAIBackend(
        "srv", "m", base_url="http://fake/v1", api_key_env="EVAL_TEST_KEY", transport=_server(seen)
    )
    scores = backend.loglikelihood([("Q: x\nAnswer:", [" A", " B"])])
    assert scores == [[(-2.0, False), (-0.5, True)]]
    assert seen[0][1]["echo"] is True and seen[0][1]["max_tokens"] == 0
    assert seen[0][2] == "Bearer sk-secret"
    outs = backend.generate(["Q"], GenerationConfig(max_new_tokens=8, temperature=0.7, n=3))
    assert outs == [["The answer is A", "The answer is B", "The answer is A"]]
    chat = [body for path, body, _ in seen if path.endswith("/chat/completions")]
    assert [b["seed"] for b in chat] == [0, 1, 2] and {b["temperature"] for b in chat} == {0.7}


def test_server_without_prompt_logprobs_is_a_clear_error():
    backend = OpenAIBackend(
        "srv", "m", base_url="http://fake/v1", api_key_env=None, transport=_server([], echo=False)
    )
    with pytest.raises(GenerationError, match="does not return prompt logprobs"):
        backend.loglikelihood([("Q:", [" A"])])


def test_missing_key_variable_names_the_variable(monkeypatch):
    monkeypatch.delenv("EVAL_ABSENT_KEY", raising=False)
    with pytest.raises(GenerationError, match="set the EVAL_ABSENT_KEY environment variable"):
        OpenAIBackend("srv", "m", base_url="http://fake/v1", api_key_env="EVAL_ABSENT_KEY")


def test_vllm_backend_says_what_to_install():
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        from evals.backends.vllm import VllmBackend

        with pytest.raises(GenerationError, match="install the gpu extra"):
            VllmBackend("big", "/nonexistent")
    else:
        pytest.skip("vllm is installed here; the missing-extra message cannot be exercised")


def test_answers_are_kept_one_by_one_so_a_rerun_asks_the_server_nothing(tmp_path):
    seen = []
    cache = tmp_path / "responses.sqlite"
    first = OpenAIBackend(
        "srv",
        "m",
        base_url="http://fake/v1",
        api_key_env=None,
        transport=_server(seen),
        responses=cache,
    )
    config = GenerationConfig(max_new_tokens=8, temperature=0.7, n=2)
    assert first.generate(["Q1", "Q2"], config) == [["The answer is A", "The answer is B"]] * 2
    assert len(seen) == 4
    again = OpenAIBackend(
        "srv",
        "m",
        base_url="http://fake/v1",
        api_key_env=None,
        transport=_server(seen),
        responses=cache,
    )
    assert again.generate(["Q1", "Q2", "Q3"], config)[0] == ["The answer is A", "The answer is B"]
    assert len(seen) == 6  # only Q3's two samples reached the server
