"""What the API client retries, how long it waits, and how it names a failure."""

from __future__ import annotations

import json
import random
import time
from email.utils import parsedate_to_datetime

import openai

from generation.errors import MalformedResponse

# Transient failures only: a 4xx (bad request, unsupported echo) will not get better by retrying.
RETRYABLE = (
    openai.RateLimitError,  # 429
    openai.InternalServerError,  # 5xx
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.APIResponseValidationError,
    json.JSONDecodeError,
    MalformedResponse,
)


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds a 429/503 asks to wait (`retry-after-ms`, `Retry-After` seconds or HTTP date)."""
    response = getattr(exc, "response", None)
    if not isinstance(exc, openai.APIStatusError) or response is None:
        return None
    if exc.status_code not in (429, 503):
        return None
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return max(float(headers["retry-after-ms"]) / 1000, 0.0)
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return max(float(value), 0.0)
            except ValueError:
                return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (ValueError, TypeError, OverflowError):
        return None  # an unreadable header: fall back to the exponential policy
    return None


def describe(exc: BaseException) -> str:
    """Why a request failed, without the body (a server may echo the request or its headers)."""
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} {type(exc).__name__}"
    if isinstance(exc, MalformedResponse):
        return f"MalformedResponse: {exc}"
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return f"MalformedResponse: body is not a completion ({type(exc).__name__})"
    return type(exc).__name__


def backoff_seconds(
    attempt: int, exc: BaseException | None, initial: float, most: float, jitter: float
) -> float:
    """The wait after failed attempt `attempt` (1-based): the server's Retry-After when it sends
    one, else `initial * 2**(attempt-1)` plus uniform(0, jitter); both capped at `most`."""
    after = retry_after(exc)
    if after is not None:
        return min(after, most)
    extra = random.uniform(0, jitter) if jitter else 0.0
    return min(initial * 2 ** (attempt - 1) + extra, most)
