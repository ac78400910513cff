"""An OpenAI-compatible server (hosted models, vLLM serve) through the generation layer's client."""

from __future__ import annotations

from pathlib import Path

import httpx
from generation import CachedGenerator, Generator, Request, ResponseCache, Sampling
from generation.openai_client import OpenAIGenerator

from evals.backends import GenerationConfig


class OpenAIBackend:
    """Chat completions for generation; completions echo + logprobs for log-likelihood.

    `api_key_env`: the variable holding the key (None: a local server without one); set but
    unset in the environment is an error. `transport`: an httpx transport (tests).
    `responses`: a response cache (SQLite) that keeps each answer as it arrives, so a crash
    mid-unit costs no paid call on the re-run.
    """

    def __init__(
        self,
        name: str,
        model: str,
        *,
        base_url: str | None,
        api_key_env: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
        responses: Path | None = None,
    ) -> None:
        self.name, self.model = name, model
        # 4 tries, as before: a transient failure is retried, a 4xx is not
        self.client = OpenAIGenerator(
            model,
            base_url,
            api_key_env,
            max_retries=3,
            retry_initial_s=1.0,
            require_key=api_key_env is not None,
            transport=transport,
        )
        self.generator: Generator = (
            CachedGenerator(self.client, ResponseCache(responses)) if responses else self.client
        )

    def format_prompt(self, user_text: str, *, chat: bool | None) -> tuple[str, bool]:
        """Raw text: /completions scores it as is, chat completions use the server's template."""
        return user_text, False

    def loglikelihood(
        self, requests: list[tuple[str, list[str]]]
    ) -> list[list[tuple[float, bool]]]:
        """Needs a server echoing prompt logprobs on /completions (vLLM, TGI do; OpenAI doesn't)."""
        return self.client.loglikelihood(requests)

    def generate(self, prompts: list[str], config: GenerationConfig) -> list[list[str]]:
        """n samples per prompt: n requests whose seeds differ by sample index."""
        sampling = Sampling(config.temperature, config.top_p, config.max_new_tokens)
        requests = [
            Request([{"role": "user", "content": p}], sampling, config.seed, k)
            for p in prompts
            for k in range(config.n)
        ]
        texts = [g.text for g in self.generator.generate(requests)]
        return [texts[i * config.n : (i + 1) * config.n] for i in range(len(prompts))]
