"""The one OpenAI-compatible client (OpenAI, vLLM serve, SGLang, llama.cpp): async, bounded
concurrency, tenacity retries on transient failures, token and cost accounting."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import httpx
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from generation.async_pool import AsyncPool
from generation.errors import GenerationError, MalformedResponse, UnansweredRequests
from generation.interface import (
    Failure,
    Generation,
    Generator,
    LoglikRequest,
    LoglikResult,
    Request,
)
from generation.retry_policy import RETRYABLE, backoff_seconds, describe
from generation.tracing import batch_span, call_span, usage_attributes

T = TypeVar("T")
U = TypeVar("U")


def api_key(env: str | None, required: bool) -> str:
    """The key, from the environment only; local servers ignore it but want a non-empty one."""
    key = os.environ.get(env) if env else None
    if not key and required:
        raise GenerationError(f"openai client: set the {env} environment variable")
    return key or "not-needed"


class OpenAIGenerator(Generator):
    """Chat completions for generation; completions echo + logprobs for log-likelihood.

    `require_key`: fail at construction when the key variable is unset (hosted APIs).
    `transport`: an httpx transport (tests use a fake server in-process).
    """

    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        price_prompt_per_1k: float = 0.0,
        price_completion_per_1k: float = 0.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 20.0,
        *,
        require_key: bool | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        retry_jitter_s: float | None = None,
    ) -> None:
        super().__init__(model)
        required = base_url is None if require_key is None else require_key
        self._api_key = api_key(api_key_env, required)
        self.base_url, self.concurrency, self.timeout_s = base_url, concurrency, timeout_s
        self.max_retries = max_retries
        self.prices = (price_prompt_per_1k, price_completion_per_1k)
        self.retry_wait = (retry_initial_s, retry_max_s)
        self.retry_jitter_s = retry_initial_s if retry_jitter_s is None else retry_jitter_s
        self._key_env, self._transport = api_key_env, transport
        self._sleep = sleep or asyncio.sleep  # tests pass a fake clock
        self._pool = AsyncPool(concurrency, self._client, f"openai-{model}")

    def __repr__(self) -> str:  # the key never appears in logs or tracebacks
        return f"OpenAIGenerator(model={self.model!r}, base_url={self.base_url!r})"

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """Every request's response, in order; `UnansweredRequests` if any failed."""
        results = dict(self.stream(requests))
        failed = [r for r in results.values() if isinstance(r, Failure)]
        if failed:
            raise UnansweredRequests(
                f"openai client ({self.model}): {len(failed)} of {len(requests)} request(s) "
                f"failed, e.g. after {failed[0].attempts} attempts: {failed[0].reason}"
            )
        return [results[i] for i in range(len(requests))]  # type: ignore[misc]

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, Generation | Failure]]:
        """Each response as it arrives; a request that exhausts its retries is a `Failure`."""
        with batch_span("openai.generate", self.model, self.base_url, len(requests)) as span:
            before = self.stats.copy()
            try:
                yield from self._pool.each(self._with_retries(self._chat), list(requests))
            finally:
                span.set(**self._spent(before))

    def loglikelihood(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        """Needs a server echoing prompt logprobs on /completions (vLLM, TGI do; OpenAI doesn't)."""
        flat = [(ctx, cont) for ctx, conts in requests for cont in conts]
        with batch_span("openai.loglikelihood", self.model, self.base_url, len(flat)) as span:
            before = self.stats.copy()
            results = dict(self._pool.each(self._with_retries(self._echo), flat))
            span.set(**self._spent(before))
        failed = [r for r in results.values() if isinstance(r, Failure)]
        if failed:
            raise UnansweredRequests(
                f"openai client ({self.model}): {len(failed)} log-likelihood request(s) failed "
                f"e.g. after {failed[0].attempts} attempts: {failed[0].reason}"
            )
        scores = iter(results[i] for i in range(len(flat)))
        return [[next(scores) for _ in conts] for _, conts in requests]  # type: ignore[misc]

    def close(self) -> None:
        """Stop the event loop thread and its HTTP client."""
        self._pool.close()

    def _spent(self, before: Counter[str]) -> dict[str, float]:
        """What one batch cost: calls, retries, tokens, USD (the batch span's outputs)."""
        spent = self.stats - before
        keys = ("calls", "retries", "failed", "prompt_tokens", "completion_tokens")
        return {k: spent[k] for k in keys} | {"cost_usd": spent["cost_usd_micro"] / 1e6}

    def _client(self) -> openai.AsyncOpenAI:
        """Made on the pool's loop, where its connections live."""
        http = httpx.AsyncClient(transport=self._transport) if self._transport else None
        return openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=0,  # tenacity retries, with our own policy and accounting
            http_client=http,
        )

    def _with_retries(
        self, call: Callable[[openai.AsyncOpenAI, T], Awaitable[U]]
    ) -> Callable[[openai.AsyncOpenAI, T], Awaitable[U | Failure]]:
        async def retried(client: openai.AsyncOpenAI, item: T) -> U | Failure:
            return await self._retrying(call, client, item)

        return retried

    async def _retrying(
        self, call: Callable[[openai.AsyncOpenAI, T], Awaitable[U]], client: Any, item: T
    ) -> U | Failure:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._backoff,
            retry=retry_if_exception(lambda exc: isinstance(exc, RETRYABLE)),
            before_sleep=lambda state: self.stats.update(["retries"]),
            sleep=self._sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    return await call(client, item)
        except RETRYABLE as exc:
            return self._failed(describe(exc), attempts)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            # Every other request would fail the same way: stop the stage, say where to look.
            raise GenerationError(
                f"openai client ({self.model}): HTTP {exc.status_code}: the server refused "
                f"the key (check {self._key_env or 'the key variable'})"
            ) from None
        except openai.APIStatusError as exc:  # another 4xx: this request only
            return self._failed(describe(exc), attempts)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(self, reason: str, attempts: int) -> Failure:
        self.stats["failed"] += 1
        return Failure(reason, attempts)

    def _backoff(self, state: RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        initial, most = self.retry_wait
        return backoff_seconds(state.attempt_number, exc, initial, most, self.retry_jitter_s)

    async def _chat(self, client: openai.AsyncOpenAI, request: Request) -> Generation:
        sizes = {
            "messages": len(request.messages),
            "prompt_chars": sum(len(m.get("content") or "") for m in request.messages),
            "max_tokens": request.sampling.max_tokens,
            "temperature": request.sampling.temperature,
            "sample": request.sample,
        }
        with call_span("chat.completions", self.model, sizes) as span:
            return await self._chat_call(client, request, span)

    async def _chat_call(
        self, client: openai.AsyncOpenAI, request: Request, span: Any
    ) -> Generation:
        start = time.perf_counter()
        self.stats["calls"] += 1
        response = await client.chat.completions.create(
            model=self.model,
            messages=request.messages,  # type: ignore[arg-type]
            temperature=request.sampling.temperature,
            top_p=request.sampling.top_p,
            max_tokens=request.sampling.max_tokens,
            seed=request.seed * 1009
            + request.sample,  # distinct samples, reproducible if supported
        )
        if not getattr(response, "choices", None) or response.choices[0].message is None:
            raise MalformedResponse("no choices in the response")
        choice = response.choices[0]
        if choice.message.content is None:
            raise MalformedResponse("choice without content")
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else None
        completion_tokens = usage.completion_tokens if usage else None
        cost = self._account(prompt_tokens or 0, completion_tokens or 0)
        span.set(
            usage_attributes(prompt_tokens, completion_tokens, self.prices),
            response_chars=len(choice.message.content),
            finish_reason=choice.finish_reason,
        )
        return Generation(
            choice.message.content,
            choice.finish_reason,
            prompt_tokens,
            completion_tokens,
            time.perf_counter() - start,
            cost,
        )

    def _account(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Count tokens and cost (USD) in `stats`; returns this call's cost."""
        cost = (prompt_tokens * self.prices[0] + completion_tokens * self.prices[1]) / 1000
        self.stats.update({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens})
        self.stats["cost_usd_micro"] += round(cost * 1e6)
        return cost

    async def _echo(self, client: openai.AsyncOpenAI, pair: tuple[str, str]) -> tuple[float, bool]:
        sizes = {"context_chars": len(pair[0]), "continuation_chars": len(pair[1])}
        with call_span("completions.echo", self.model, sizes) as span:
            return await self._echo_call(client, pair, span)

    async def _echo_call(
        self, client: openai.AsyncOpenAI, pair: tuple[str, str], span: Any
    ) -> tuple[float, bool]:
        ctx, cont = pair
        self.stats["calls"] += 1
        try:
            response = await client.completions.create(
                model=self.model, prompt=ctx + cont, max_tokens=0, echo=True, logprobs=1
            )
        except (
            openai.BadRequestError,
            openai.NotFoundError,
            openai.UnprocessableEntityError,
        ) as exc:
            # what a server without echo answers
            raise GenerationError(
                f"model {self.model!r}: the server does not return prompt logprobs "
                "(completions echo=True, logprobs); use a generation scorer "
                f"(HTTP {exc.status_code})"
            ) from None
        lp = response.choices[0].logprobs if response.choices else None
        if lp is None or not lp.text_offset:
            raise GenerationError(f"model {self.model!r}: server returned no prompt logprobs")
        if response.usage:
            self._account(response.usage.prompt_tokens, 0)
            span.set(usage_attributes(response.usage.prompt_tokens, 0, self.prices))
        first = next(i for i, off in enumerate(lp.text_offset) if off >= len(ctx))
        tokens = lp.token_logprobs[first:]
        greedy = all(
            max(top.values()) <= v + 1e-9
            for top, v in zip(lp.top_logprobs[first:], tokens, strict=True)
            if top
        )
        return float(sum(tokens)), bool(greedy)
