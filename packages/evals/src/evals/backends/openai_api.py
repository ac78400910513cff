"""An OpenAI-compatible server through the official client (hosted models, vLLM serve, teachers)."""

from __future__ import annotations

import os

import openai
from data_core.errors import ConfigError, SourceError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from evals.backends import GenerationConfig

# transient failures only: a 4xx (bad request, unsupported echo) will not get better by retrying
TRANSIENT = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
_retry = retry(retry=retry_if_exception_type(TRANSIENT), stop=stop_after_attempt(4),
               wait=wait_exponential(min=1, max=20), reraise=True)  # fmt: skip


class OpenAIBackend:
    """Chat completions for generation; completions echo + logprobs for log-likelihood."""

    def __init__(self, name: str, model: str, *, base_url: str | None, api_key_env: str | None,
                 http_client=None) -> None:  # fmt: skip
        from openai import OpenAI

        key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not key:
            raise ConfigError(f"model {name!r}: environment variable {api_key_env} is not set")
        self.name, self.model = name, model
        # the key is passed to the client only; never logged or written anywhere
        self.client = OpenAI(base_url=base_url, api_key=key or "EMPTY", max_retries=0,
                             http_client=http_client)  # fmt: skip

    def format_prompt(self, user_text: str, *, chat: bool | None) -> tuple[str, bool]:
        """Raw text: /completions scores it as is and /chat/completions applies the server's template."""
        return user_text, False

    @_retry
    def _complete(self, **kwargs):
        return self.client.completions.create(model=self.model, **kwargs)

    @_retry
    def _chat(self, **kwargs):
        return self.client.chat.completions.create(model=self.model, **kwargs)

    def loglikelihood(self, requests):
        """Needs a server that echoes prompt logprobs on /completions (vLLM, TGI do; OpenAI doesn't)."""
        scores = []
        for ctx, conts in requests:
            row = []
            for cont in conts:
                try:
                    resp = self._complete(prompt=ctx + cont, max_tokens=0, echo=True, logprobs=1)
                    lp = resp.choices[0].logprobs
                except Exception as exc:  # the client raises many types; all mean "unsupported"
                    raise SourceError(
                        f"model {self.name!r}: the server does not return prompt logprobs "
                        f"(completions echo=True, logprobs); use a generation scorer ({exc})"
                    ) from exc
                if lp is None or not lp.text_offset:
                    raise SourceError(f"model {self.name!r}: server returned no prompt logprobs")
                first = next(i for i, off in enumerate(lp.text_offset) if off >= len(ctx))
                toks = lp.token_logprobs[first:]
                greedy = all(
                    max(top.values()) <= v + 1e-9
                    for top, v in zip(lp.top_logprobs[first:], toks, strict=True) if top
                )  # fmt: skip
                row.append((float(sum(toks)), bool(greedy)))
            scores.append(row)
        return scores

    def generate(self, prompts: list[str], config: GenerationConfig) -> list[list[str]]:
        out = []
        for prompt in prompts:
            resp = self._chat(messages=[{"role": "user", "content": prompt}], n=config.n,
                              temperature=config.temperature, top_p=config.top_p,
                              max_tokens=config.max_new_tokens, seed=config.seed)  # fmt: skip
            out.append([c.message.content or "" for c in resp.choices])
        return out
