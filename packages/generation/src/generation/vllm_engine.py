"""The one vLLM engine (GPU hosts: tensor parallel, multi-node through Ray, prefix caching);
vLLM is imported only when it is chosen."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from data_core.security import trust_remote_code

from generation.errors import GenerationError
from generation.interface import Generation, Generator, Request
from generation.weights import require_safetensors

INSTALL = "install the gpu extra: uv sync --extra gpu"


def require_vllm() -> Any:
    """The vllm module, or a one-line error saying what to install (checked at build time)."""
    try:
        import vllm
    except ImportError:
        raise GenerationError(
            f"the vllm backend needs vLLM, which is not installed; {INSTALL}"
        ) from None
    import torch

    if not torch.cuda.is_available():
        raise GenerationError("the vllm backend needs a CUDA GPU; none is visible here")
    return vllm


@dataclass(frozen=True)
class VllmOptions:
    """How a `vllm.LLM` spreads and caches: tensor parallel over the node's GPUs, pipeline
    parallel over nodes through Ray when a model does not fit one node, and automatic prefix
    caching (the panel's and the judge's prompts share long system prompts and questions)."""

    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True
    pipeline_parallel_size: int = 1
    distributed_executor_backend: str | None = None  # None: vLLM's choice; "ray": multi-node

    def engine_kwargs(self) -> dict[str, Any]:
        """`vllm.LLM` keyword arguments (the multi-node ones only when asked for)."""
        kwargs: dict[str, Any] = {
            "tensor_parallel_size": self.tensor_parallel_size,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "enable_prefix_caching": self.enable_prefix_caching,
        }
        if self.pipeline_parallel_size > 1:
            kwargs["pipeline_parallel_size"] = self.pipeline_parallel_size
        if self.distributed_executor_backend:
            kwargs["distributed_executor_backend"] = self.distributed_executor_backend
        return kwargs


def load_vllm(
    path: str,
    tensor_parallel_size: int = 1,
    gpu_memory_utilization: float = 0.9,
    options: VllmOptions | None = None,
) -> Any:
    """A `vllm.LLM` over a local model path, sharded over `tensor_parallel_size` GPUs (or as
    `options` say: they win over the two positional settings)."""
    vllm = require_vllm()
    require_safetensors(path)
    options = options or VllmOptions(tensor_parallel_size, gpu_memory_utilization)
    return vllm.LLM(
        model=path,
        trust_remote_code=trust_remote_code(),
        load_format="safetensors",  # never a pickle checkpoint
        **options.engine_kwargs(),
    )


class VllmGenerator(Generator):
    """`vllm.LLM` chat generation; each request carries its own seeded sampling params."""

    kind = "vllm"
    stream_batch = None  # one engine call: vLLM schedules the whole list itself

    def __init__(
        self,
        path: str,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        options: VllmOptions | None = None,
    ) -> None:
        super().__init__(path)
        self._vllm = require_vllm()
        self.llm = load_vllm(path, tensor_parallel_size, gpu_memory_utilization, options)

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """One engine call for the whole list (vLLM batches continuously)."""
        if not requests:
            return []
        params = [
            self._vllm.SamplingParams(
                temperature=r.sampling.temperature,
                top_p=r.sampling.top_p,
                max_tokens=r.sampling.max_tokens,
                seed=r.seed * 1009 + r.sample,
            )
            for r in requests
        ]
        start = time.perf_counter()
        outputs = self.llm.chat(
            [r.messages for r in requests], sampling_params=params, use_tqdm=True
        )
        per_request = (time.perf_counter() - start) / len(requests)
        self.stats["calls"] += len(requests)
        out = []
        for result in outputs:
            first = result.outputs[0]
            out.append(
                Generation(
                    first.text,
                    first.finish_reason,
                    len(result.prompt_token_ids),
                    len(first.token_ids),
                    per_request,
                )
            )
        return out

    def close(self) -> None:
        """Free the engine (and its GPU memory)."""
        del self.llm
