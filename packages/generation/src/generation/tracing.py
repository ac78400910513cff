"""MLflow traces of API calls (teachers, judges, evaluated API models), inside the stage's run.

One trace per batch (`generate` / `loglikelihood`) with one LLM span per request attempt: model,
server host, prompt and response sizes, token usage (`mlflow.chat.tokenUsage`) and, when the
backend has per-token prices, the cost (`mlflow.llm.cost`). Message texts are not logged (sizes
only) and neither is the key. Tracing is on only while an MLflow run is active in this process
(a stage run); elsewhere (tests, library use) every helper is a no-op that imports nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from generation.errors import GenerationError

PROVIDER = "openai-compatible"
# Decided in the caller's thread and carried to the client's loop thread (see AsyncPool).
TRACING: ContextVar[bool | None] = ContextVar("generation_tracing", default=None)


def tracing_enabled() -> bool:
    """True inside an active MLflow run (mlflow already imported by the stage's tracking)."""
    carried = TRACING.get()
    if carried is not None:
        return carried
    mlflow = sys.modules.get("mlflow")  # never import it here: that alone costs seconds
    return mlflow is not None and mlflow.active_run() is not None


def server_host(base_url: str | None) -> str:
    """host[:port] of the server, never userinfo, path or query (they may carry credentials)."""
    if not base_url:
        return "api.openai.com"
    parts = urlsplit(base_url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"


def usage_attributes(
    prompt_tokens: int | None, completion_tokens: int | None, prices_per_1k: tuple[float, float]
) -> dict[str, Any]:
    """MLflow's token-usage attribute, plus the cost attribute when a price is set (USD)."""
    if prompt_tokens is None and completion_tokens is None:
        return {}
    inp, out = prompt_tokens or 0, completion_tokens or 0
    attrs: dict[str, Any] = {
        "mlflow.chat.tokenUsage": {
            "input_tokens": inp,
            "output_tokens": out,
            "total_tokens": inp + out,
        }
    }
    if any(prices_per_1k):
        in_cost, out_cost = inp * prices_per_1k[0] / 1000, out * prices_per_1k[1] / 1000
        attrs["mlflow.llm.cost"] = {
            "input_cost": in_cost,
            "output_cost": out_cost,
            "total_cost": in_cost + out_cost,
        }
    return attrs


class _Span:
    """What a call records on its span; a no-op when tracing is off."""

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def set(self, attributes: Mapping[str, Any] | None = None, **outputs: Any) -> None:
        """Attributes on the span and (keyword arguments) its outputs."""
        if self._span is None:
            return
        if attributes:
            self._span.set_attributes(dict(attributes))
        if outputs:
            self._span.set_outputs(outputs)


@contextmanager
def batch_span(name: str, model: str, base_url: str | None, requests: int) -> Iterator[_Span]:
    """The root span of one batch of API calls (a trace per batch, linked to the stage run)."""
    attrs = {"mlflow.llm.model": model, "server": server_host(base_url), "requests": requests}
    with _span(name, "CHAIN", attrs, {"model": model, "requests": requests}) as span:
        yield span


@contextmanager
def call_span(name: str, model: str, inputs: Mapping[str, Any]) -> Iterator[_Span]:
    """One request attempt as an LLM span; an exception marks it ERROR and propagates."""
    attrs = {"mlflow.llm.model": model, "mlflow.llm.provider": PROVIDER}
    with _span(name, "LLM", attrs, dict(inputs)) as span:
        yield span


@contextmanager
def _span(
    name: str, span_type: str, attrs: Mapping[str, Any], inputs: Mapping[str, Any]
) -> Iterator[_Span]:
    """An MLflow span when tracing is on (else a no-op); a failure is recorded without its text."""
    if not tracing_enabled():
        yield _Span()
        return
    import mlflow

    failure = None
    with mlflow.start_span(name, span_type=span_type, attributes=dict(attrs)) as span:
        span.set_inputs(dict(inputs))
        try:
            yield _Span(span)
        except Exception as exc:
            failure = _record_failure(span, exc)
    if failure is not None:
        raise failure


def _record_failure(span: Any, exc: Exception) -> Exception:
    """Mark the span ERROR with the exception's type and status code, not its message: MLflow
    would store the message and the stack, and a server's error text can quote the API key
    back (e.g. a 401 "Incorrect API key provided: ..."). Our own errors' messages are ours."""
    from mlflow.entities import SpanEvent

    status = getattr(exc, "status_code", None)
    message = str(exc) if isinstance(exc, GenerationError) else type(exc).__name__
    if status is not None:
        message = f"HTTP {status}: {message}"
    attributes = {"exception.type": type(exc).__name__, "exception.message": message}
    span.add_event(SpanEvent("exception", attributes=attributes))
    span.set_status("ERROR")
    return exc
