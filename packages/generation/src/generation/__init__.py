"""One generation layer for synth and evals: chat generation (and log-likelihood where a backend
can) over an OpenAI-compatible server, a transformers model or a vLLM engine.

Heavy clients load lazily: `generation.openai_client`, `generation.hf`, `generation.vllm_engine`.
"""

from generation.cache import FAILED, CachedGenerator, ResponseCache
from generation.errors import GenerationError, MalformedResponse, UnansweredRequests
from generation.fingerprint import model_fingerprint
from generation.interface import (
    Failure,
    Generation,
    Generator,
    LoglikRequest,
    LoglikResult,
    Request,
    Sampling,
    as_messages,
    request_key,
)
from generation.templates import FALLBACK_CHAT_TEMPLATE, LLAMA3_CHAT_TEMPLATE

__all__ = [
    "FAILED",
    "FALLBACK_CHAT_TEMPLATE",
    "LLAMA3_CHAT_TEMPLATE",
    "CachedGenerator",
    "Failure",
    "Generation",
    "GenerationError",
    "Generator",
    "LoglikRequest",
    "LoglikResult",
    "MalformedResponse",
    "Request",
    "ResponseCache",
    "Sampling",
    "UnansweredRequests",
    "as_messages",
    "model_fingerprint",
    "request_key",
]
