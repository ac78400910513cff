"""Generation backends behind one interface (`Backend.generate(requests) -> generations`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from synth.backends.base import Backend, Generation, Request, Sampling, as_messages, request_key
from synth.backends.cache import CachedBackend, ResponseCache

if TYPE_CHECKING:
    from synth.config import BackendConfig
    from synth.kb import KnowledgeBase

__all__ = ["Backend", "CachedBackend", "Generation", "Request", "ResponseCache", "Sampling",
           "as_messages", "make_backend", "request_key"]  # fmt: skip


def make_backend(
    name: str,
    cfg: BackendConfig,
    root: Path,
    kb: KnowledgeBase | None = None,
    answer_style: str = "letter",
) -> Backend:
    """Build the backend a params entry describes; heavy libraries load only when chosen.

    `answer_style`: how the kb teacher opens an MC answer (synth.answer_style).
    """
    if cfg.kind == "kb":
        from synth.backends.kb import KbBackend

        if kb is None:
            raise ValueError(f"backend {name!r}: the kb teacher needs the knowledge base")
        return KbBackend(
            kb, cfg.error_rate, cfg.detail_rate, cfg.latency_s, cfg.model or name, answer_style
        )
    if cfg.kind == "transformers":
        from synth.backends.hf import TransformersBackend

        return TransformersBackend(_local(root, cfg.model), cfg.batch_size, cfg.device, cfg.dtype)
    if cfg.kind == "openai":
        from synth.backends.openai_api import OpenAIBackend

        return OpenAIBackend(cfg.model, cfg.base_url, cfg.api_key_env, cfg.concurrency,
                             cfg.timeout_s, cfg.max_retries, cfg.price_prompt_per_1k,
                             cfg.price_completion_per_1k,
                             cfg.retry_initial_s, cfg.retry_max_s)  # fmt: skip
    from synth.backends.vllm_engine import VllmBackend

    return VllmBackend(
        _local(root, cfg.model), cfg.tensor_parallel_size, cfg.gpu_memory_utilization
    )


def _local(root: Path, model: str | None) -> str:
    """A relative model path is taken from the repository root; anything else is passed on."""
    path = root / str(model)
    return str(path) if path.exists() else str(model)
