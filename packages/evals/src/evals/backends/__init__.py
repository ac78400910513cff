"""Model backends for the scorers: transformers, vLLM (GPU hosts), an OpenAI-compatible server.

Each offers `loglikelihood(requests)` (per question: the log-prob of every continuation) and
`generate(prompts, ...)` on prompts evals has already formatted; the scorers only see this
interface. Loading, clients, retries and the vLLM engine are the `generation` layer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings; temperature 0 means greedy."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int = 0


class Backend(Protocol):
    """What a scorer needs from a model."""

    name: str

    def format_prompt(self, user_text: str, *, chat: bool | None) -> tuple[str, bool]:
        """The text to feed for a user turn, and whether a chat template was applied."""
        ...

    def loglikelihood(
        self, requests: list[tuple[str, list[str]]]
    ) -> list[list[tuple[float, bool]]]: ...

    def generate(self, prompts: list[str], config: GenerationConfig) -> list[list[str]]: ...


def load_backend(
    spec: Any,
    *,
    batch_tokens: int = 16384,
    device: str = "auto",
    max_length: int | None = None,
    responses: Path | None = None,
) -> Backend:
    """Build the backend named by a ModelSpec (`hf`, `vllm` or `openai`).

    `responses`: the API response cache (SQLite), so an interrupted unit re-asks nothing.
    """
    if spec.backend == "hf":
        from evals.backends.hf import HFBackend

        return HFBackend(
            spec.name, spec.path, batch_tokens=batch_tokens, device=device, max_length=max_length
        )
    if spec.backend == "vllm":
        from generation.vllm_engine import VllmOptions

        from evals.backends.vllm import VllmBackend

        return VllmBackend(spec.name, spec.path, VllmOptions(**spec.engine_settings()))
    from evals.backends.openai_api import OpenAIBackend

    return OpenAIBackend(
        spec.name,
        spec.model_id or spec.path,
        base_url=spec.base_url,
        api_key_env=spec.api_key_env,
        responses=responses,
    )
