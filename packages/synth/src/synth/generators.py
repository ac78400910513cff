"""The named generators of params.yaml `synth.backends`, built on the generation layer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from generation import Generator

if TYPE_CHECKING:
    from synth.config import BackendConfig
    from synth.knowledge_base import KnowledgeBase


def make_generator(
    name: str,
    cfg: BackendConfig,
    root: Path,
    kb: KnowledgeBase | None = None,
    answer_style: str = "letter",
) -> Generator:
    """Build the generator a params entry describes; heavy libraries load only when chosen.

    `answer_style`: how the kb teacher opens an MC answer (synth.answer_style).
    """
    if cfg.kind == "kb":
        from synth.kb_teacher import KbTeacher

        if kb is None:
            raise ValueError(f"backend {name!r}: the kb teacher needs the knowledge base")
        return KbTeacher(
            kb, cfg.error_rate, cfg.detail_rate, cfg.latency_s, cfg.model or name, answer_style
        )
    if cfg.kind == "transformers":
        from generation.hf import HFGenerator

        return HFGenerator(_local(root, cfg.model), cfg.batch_size, cfg.device, cfg.dtype)
    if cfg.kind == "openai":
        from generation.openai_client import OpenAIGenerator

        return OpenAIGenerator(
            str(cfg.model),
            cfg.base_url,
            cfg.api_key_env,
            cfg.concurrency,
            cfg.timeout_s,
            cfg.max_retries,
            cfg.price_prompt_per_1k,
            cfg.price_completion_per_1k,
            cfg.retry_initial_s,
            cfg.retry_max_s,
        )
    from generation.vllm_engine import VllmGenerator, VllmOptions

    options = VllmOptions(
        cfg.tensor_parallel_size,
        cfg.gpu_memory_utilization,
        cfg.enable_prefix_caching,
        cfg.pipeline_parallel_size,
        cfg.distributed_executor_backend,
    )
    return VllmGenerator(_local(root, cfg.model), options=options)


def _local(root: Path, model: str | None) -> str:
    """A relative model path is taken from the repository root; anything else is passed on."""
    path = root / str(model)
    return str(path) if path.exists() else str(model)
