"""Offline vLLM engine for GPU hosts; imported only when a params entry chooses it."""

from __future__ import annotations

import time
from collections.abc import Sequence

from synth.backends.base import Backend, Generation, Request
from synth.backends.errors import BackendUnavailable

INSTALL = "install the gpu extra: uv sync --extra gpu"


def require_vllm() -> object:
    """The vllm module, or a one-line error saying what to install (checked at build time)."""
    try:
        import vllm
    except ImportError:
        raise BackendUnavailable(
            f"the vllm backend needs vLLM, which is not installed; {INSTALL}"
        ) from None
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("the vllm backend needs a CUDA GPU; none is visible here")
    return vllm


class VllmBackend(Backend):
    """`vllm.LLM` with tensor parallelism; each request carries its own seeded sampling params."""

    kind = "vllm"

    def __init__(
        self, path: str, tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9
    ):
        super().__init__(path)
        self._vllm = require_vllm()
        self.llm = self._vllm.LLM(model=path, tensor_parallel_size=tensor_parallel_size,  # type: ignore[attr-defined]
                                  gpu_memory_utilization=gpu_memory_utilization,
                                  trust_remote_code=False)  # fmt: skip

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """One engine call for the whole list (vLLM batches continuously)."""
        if not requests:
            return []
        params = [self._vllm.SamplingParams(  # type: ignore[attr-defined]
            temperature=r.sampling.temperature, top_p=r.sampling.top_p,
            max_tokens=r.sampling.max_tokens, seed=r.seed * 1009 + r.sample) for r in requests]  # fmt: skip
        start = time.perf_counter()
        outputs = self.llm.chat(
            [r.messages for r in requests], sampling_params=params, use_tqdm=True
        )
        per_request = (time.perf_counter() - start) / len(requests)
        self.stats["calls"] += len(requests)
        out = []
        for result in outputs:
            first = result.outputs[0]
            out.append(Generation(first.text, first.finish_reason, len(result.prompt_token_ids),
                                  len(first.token_ids), per_request))  # fmt: skip
        return out

    def close(self) -> None:
        """Free the engine (and its GPU memory)."""
        del self.llm
