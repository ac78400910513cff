"""Any OpenAI-compatible server (OpenAI, vLLM serve, SGLang, llama.cpp) via the official client."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence

import openai
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from synth.backends.base import Backend, Generation, Request
from synth.backends.errors import BackendError, MalformedResponse

_RETRYABLE = (
    openai.RateLimitError,  # 429
    openai.InternalServerError,  # 5xx
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.APIResponseValidationError,
    json.JSONDecodeError,
    MalformedResponse,
)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _RETRYABLE)


class OpenAIBackend(Backend):
    """Async requests with bounded concurrency, tenacity retries, token and cost accounting."""

    kind = "openai"

    def __init__(
        self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8, timeout_s: float = 60.0, max_retries: int = 5,
        price_prompt_per_1k: float = 0.0, price_completion_per_1k: float = 0.0,
        retry_initial_s: float = 0.5, retry_max_s: float = 20.0,
    ) -> None:  # fmt: skip
        super().__init__(model)
        key = os.environ.get(api_key_env)
        if not key and base_url is None:
            raise BackendError(f"openai backend: set the {api_key_env} environment variable")
        # Local servers usually ignore the key; the client still requires a non-empty one.
        self._api_key = key or "not-needed"
        self.base_url, self.concurrency, self.timeout_s = base_url, concurrency, timeout_s
        self.max_retries = max_retries
        self.prices = (price_prompt_per_1k, price_completion_per_1k)
        self.retry_wait = (retry_initial_s, retry_max_s)

    def __repr__(self) -> str:  # the key never appears in logs or tracebacks
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """Run the requests concurrently (at most `concurrency` in flight)."""
        return asyncio.run(self._generate_all(list(requests)))

    async def _generate_all(self, requests: list[Request]) -> list[Generation]:
        client = openai.AsyncOpenAI(api_key=self._api_key, base_url=self.base_url,
                                    timeout=self.timeout_s, max_retries=0)  # fmt: skip
        gate = asyncio.Semaphore(self.concurrency)

        async def bounded(request: Request) -> Generation:
            async with gate:
                return await self._one(client, request)

        try:
            return list(await asyncio.gather(*(bounded(r) for r in requests)))
        finally:
            await client.close()

    async def _one(self, client: openai.AsyncOpenAI, request: Request) -> Generation:
        initial, most = self.retry_wait
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential_jitter(multiplier=initial, max=most, jitter=initial),
            retry=retry_if_exception(_retryable),
            before_sleep=lambda state: self.stats.update(["retries"]),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._call(client, request)
        except _RETRYABLE as exc:
            raise BackendError(f"openai backend ({self.model}): gave up after "
                               f"{self.max_retries + 1} attempts: {type(exc).__name__}") from None  # fmt: skip
        except openai.APIStatusError as exc:
            raise BackendError(f"openai backend ({self.model}): HTTP {exc.status_code}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call(self, client: openai.AsyncOpenAI, request: Request) -> Generation:
        start = time.perf_counter()
        self.stats["calls"] += 1
        response = await client.chat.completions.create(
            model=self.model, messages=request.messages,  # type: ignore[arg-type]
            temperature=request.sampling.temperature, top_p=request.sampling.top_p,
            max_tokens=request.sampling.max_tokens,
            seed=request.seed * 1009 + request.sample,  # distinct samples, reproducible where supported
        )  # fmt: skip
        if not getattr(response, "choices", None) or response.choices[0].message is None:
            raise MalformedResponse("no choices in the response")
        choice = response.choices[0]
        text = choice.message.content
        if text is None:
            raise MalformedResponse("choice without content")
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else None
        completion_tokens = usage.completion_tokens if usage else None
        cost = (
            (prompt_tokens or 0) * self.prices[0] + (completion_tokens or 0) * self.prices[1]
        ) / 1000
        self.stats.update({"prompt_tokens": prompt_tokens or 0,
                           "completion_tokens": completion_tokens or 0})  # fmt: skip
        self.stats["cost_usd_micro"] += round(cost * 1e6)
        return Generation(text, choice.finish_reason, prompt_tokens, completion_tokens,
                          time.perf_counter() - start, cost)  # fmt: skip
