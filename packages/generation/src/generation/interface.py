"""The one generation interface: chat requests in, generations out; log-likelihood where it can."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from generation.errors import GenerationError

# (context, continuations) -> per continuation (summed log-prob, is-greedy)
LoglikRequest = tuple[str, list[str]]
LoglikResult = list[tuple[float, bool]]


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters shared by all generators."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256


@dataclass(frozen=True)
class Request:
    """One chat request; `sample` indexes the n-th sample drawn for the same prompt."""

    messages: list[dict[str, str]]
    sampling: Sampling = Sampling()
    seed: int = 0
    sample: int = 0
    # Grounding for the kb teacher (provenance ids of the instruction); LLM backends ignore it.
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Generation:
    """One generator response."""

    text: str
    finish_reason: str | None = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    cost_usd: float = 0.0
    cached: bool = False

    def to_json(self) -> str:
        """Cache payload (the `cached` flag is a property of the lookup, not of the response)."""
        data = asdict(self)
        data.pop("cached")
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, payload: str) -> Generation:
        """Inverse of `to_json`, marked as a cache hit."""
        return cls(**json.loads(payload), cached=True)


@dataclass(frozen=True)
class Failure:
    """A request that got no usable response after its retries: why, and how many attempts."""

    reason: str
    attempts: int = 1


def request_key(kind: str, model: str, request: Request) -> str:
    """sha256 of everything that determines a response: generator, model, prompt, sampling, seed.

    It keys the response caches (data/synth/cache) and seeds the kb teacher: never change it.
    """
    payload = {
        "backend": kind,
        "model": model,
        "messages": request.messages,
        "sampling": asdict(request.sampling),
        "seed": request.seed,
        "sample": request.sample,
        "context": request.context,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Generator(ABC):
    """A text generator. `kind` names the implementation, `model` the weights or teacher.

    `stats` counts run-dependent things (calls, retries, tokens, cost): MLflow material.
    """

    kind: str = "base"
    # Requests per `generate` call when `stream` walks a list: the unit a crash can lose.
    stream_batch: int | None = 64

    def __init__(self, model: str) -> None:
        self.model = model
        self.stats: Counter[str] = Counter()

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """One Generation per request, in order."""

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, Generation | Failure]]:
        """(index, result) for every request as it is ready, in any order.

        Local backends answer in batches of `stream_batch` through `generate` and raise what
        fails (a retry would not fix it); API backends override this to yield each response as
        it arrives and a `Failure` for a request that exhausted its retries.
        """
        size = self.stream_batch or max(len(requests), 1)
        for lo in range(0, len(requests), size):
            yield from enumerate(self.generate(requests[lo : lo + size]), start=lo)

    def loglikelihood(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        """Per request, (log-prob, is-greedy) of every continuation after the context."""
        raise GenerationError(f"{self.kind} generator ({self.model}): no log-likelihood")

    def close(self) -> None:  # noqa: B027 - optional hook, most generators hold nothing
        """Release resources (threads, GPU memory)."""


def as_messages(messages: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic Message models or dicts -> plain role/content dicts."""
    out = []
    for m in messages:
        if isinstance(m, dict):
            out.append({"role": m["role"], "content": m["content"]})
        else:
            out.append({"role": m.role, "content": m.content})
    return out
