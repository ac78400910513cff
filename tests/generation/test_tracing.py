"""API calls are MLflow traces inside a stage run: one LLM span per request with model, sizes,
token usage and cost from the configured prices; never the key; nothing outside a run."""

import json

import httpx
import pytest
from generation import Request, Sampling
from generation.openai_client import OpenAIGenerator

from tests.fixtures.openai_responses import echoed_completion

SECRET = "sk-trace-never-log-me"


def _server(seen_auth: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen_auth.append(request.headers.get("Authorization", ""))
        body = json.loads(request.content)
        if request.url.path.endswith("/completions") and "messages" not in body:
            usage = {"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4}
            prompt = body["prompt"]
            return echoed_completion(prompt, -0.5, {prompt[prompt.rindex(" ") :]: -0.5}, usage)
        prompt = body["messages"][-1]["content"]
        answer = "B" * (len(prompt) % 7 + 1)
        return httpx.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt),
                    "completion_tokens": len(answer),
                    "total_tokens": len(prompt) + len(answer),
                },
            },
        )

    return httpx.MockTransport(handle)


@pytest.fixture
def store(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACE_TEST_KEY", SECRET)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # set_experiment is process-wide: let monkeypatch restore it for the tests that follow
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment("tracing")
    yield mlflow, experiment.experiment_id
    mlflow.set_tracking_uri(None)


def _generator(seen: list[str]) -> OpenAIGenerator:
    return OpenAIGenerator(
        "teacher-x",
        "http://user:pw@judge.local:8000/v1",
        "TRACE_TEST_KEY",
        price_prompt_per_1k=2.0,
        price_completion_per_1k=10.0,
        transport=_server(seen),
    )


def test_generate_in_a_run_is_traced_with_usage_and_cost(store) -> None:
    mlflow, experiment_id = store
    seen: list[str] = []
    gen = _generator(seen)
    prompts = ["what is a phenotype?", "name a gene"]
    requests = [Request([{"role": "user", "content": p}], Sampling(max_tokens=8)) for p in prompts]
    with mlflow.start_run() as run:
        out = gen.generate(requests)
    mlflow.flush_trace_async_logging()
    assert len(seen) == 2  # one call per request, no retries

    (trace,) = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert trace.info.request_metadata["mlflow.sourceRun"] == run.info.run_id
    root = next(s for s in trace.data.spans if s.parent_id is None)
    calls = [s for s in trace.data.spans if s.parent_id == root.span_id]
    assert root.name == "openai.generate" and root.attributes["server"] == "judge.local:8000"
    assert root.outputs["calls"] == 2
    assert root.outputs["prompt_tokens"] == sum(len(p) for p in prompts)
    by_prompt = {s.inputs["prompt_chars"]: s for s in calls}
    assert set(by_prompt) == {len(p) for p in prompts}
    for prompt, generation in zip(prompts, out, strict=True):
        span = by_prompt[len(prompt)]
        assert span.span_type == "LLM"
        assert span.attributes["mlflow.llm.model"] == "teacher-x"
        assert span.outputs == {"response_chars": len(generation.text), "finish_reason": "stop"}
        usage = span.attributes["mlflow.chat.tokenUsage"]
        assert usage == {
            "input_tokens": len(prompt),
            "output_tokens": len(generation.text),
            "total_tokens": len(prompt) + len(generation.text),
        }
        cost = span.attributes["mlflow.llm.cost"]
        assert cost["total_cost"] == pytest.approx(generation.cost_usd)
        assert cost["input_cost"] == pytest.approx(len(prompt) * 2.0 / 1000)
    dumped = trace.to_json()
    assert SECRET not in dumped and "user:pw" not in dumped
    assert prompts[0] not in dumped  # sizes, not texts


def test_loglikelihood_is_traced_and_no_price_means_no_cost(store) -> None:
    mlflow, experiment_id = store
    gen = OpenAIGenerator("scorer", "http://srv:1/v1", "TRACE_TEST_KEY", transport=_server([]))
    with mlflow.start_run():
        gen.loglikelihood([("Question: x\nAnswer:", [" A", " B"])])
    mlflow.flush_trace_async_logging()
    (trace,) = mlflow.search_traces(locations=[experiment_id], return_type="list")
    calls = [s for s in trace.data.spans if s.parent_id is not None]
    assert len(calls) == 2
    for span in calls:
        assert span.attributes["mlflow.chat.tokenUsage"]["input_tokens"] == 4
        assert "mlflow.llm.cost" not in span.attributes


def test_no_run_no_trace(store) -> None:
    mlflow, experiment_id = store
    gen = _generator([])
    gen.generate([Request([{"role": "user", "content": "hi"}])])
    mlflow.flush_trace_async_logging()
    assert mlflow.search_traces(locations=[experiment_id], return_type="list") == []


def test_a_failed_call_is_an_error_span_without_the_servers_text(store) -> None:
    """A 401 whose body quotes the key back (as hosted APIs do): the span says ERROR and HTTP
    401, and neither the server's text nor the key reaches the trace store."""
    mlflow, experiment_id = store

    def reject(request: httpx.Request) -> httpx.Response:
        quoted = request.headers["Authorization"]
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key: {quoted}"}})

    gen = OpenAIGenerator(
        "teacher-x", "http://srv:1/v1", "TRACE_TEST_KEY", transport=httpx.MockTransport(reject)
    )
    with mlflow.start_run(), pytest.raises(Exception, match="HTTP 401"):
        gen.generate([Request([{"role": "user", "content": "hi"}])])
    mlflow.flush_trace_async_logging()
    (trace,) = mlflow.search_traces(locations=[experiment_id], return_type="list")
    call = next(s for s in trace.data.spans if s.parent_id is not None)
    assert call.status.status_code == "ERROR"
    (event,) = [e for e in call.events if e.name == "exception"]
    assert event.attributes["exception.message"] == "HTTP 401: AuthenticationError"
    dumped = trace.to_json()
    assert SECRET not in dumped and "Incorrect API key" not in dumped
