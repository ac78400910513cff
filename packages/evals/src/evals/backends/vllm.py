"""vLLM for the scorers on GPU hosts (`uv sync --extra gpu`); loaded only when a model asks."""

from __future__ import annotations

from generation.vllm_engine import VllmOptions, load_vllm

from evals.backends import GenerationConfig
from evals.loglik import encode_requests
from evals.prompts import chat_prompt


class VllmBackend:
    """The generation layer's vLLM engine over a local model path."""

    def __init__(self, name: str, path: str, options: VllmOptions | None = None) -> None:
        self.name = name
        self.llm = load_vllm(path, options=options or VllmOptions())
        self.tokenizer = self.llm.get_tokenizer()

    def format_prompt(self, user_text: str, *, chat: bool | None) -> tuple[str, bool]:
        return chat_prompt(self.tokenizer, self.name, user_text, chat)

    def loglikelihood(
        self, requests: list[tuple[str, list[str]]]
    ) -> list[list[tuple[float, bool]]]:
        """Prompt log-probs of context + continuation. vLLM computes every prompt position for
        prompt log-probs (it does not read its prefix cache for them), so the shared context costs
        a prefill per continuation here; prefix caching pays off in `generate`."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, prompt_logprobs=1)
        flat, shape = [], []
        for ctx, conts in encode_requests(self.tokenizer, requests):
            shape.append(len(conts))
            flat += [(ctx, cont) for cont in conts]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=c + k) for c, k in flat], params)
        scores, pos = [], 0
        for n in shape:
            row = []
            for (ctx, cont), out in zip(flat[pos : pos + n], outs[pos : pos + n], strict=True):
                lps = out.prompt_logprobs[len(ctx) :]
                total = sum(lp[t].logprob for lp, t in zip(lps, cont, strict=True))
                greedy = all(lp[t].rank == 1 for lp, t in zip(lps, cont, strict=True))
                row.append((float(total), bool(greedy)))
            scores.append(row)
            pos += n
        return scores

    def generate(self, prompts: list[str], config: GenerationConfig) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=config.n,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_new_tokens,
            seed=config.seed,
        )
        return [[o.text for o in r.outputs] for r in self.llm.generate(prompts, params)]
