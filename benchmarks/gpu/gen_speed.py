"""Generation on the same MedQA prompts with the project's two local generators:
generation.hf.HFGenerator (transformers, batched) and generation.vllm_engine.VllmGenerator."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.gpu import hardware


def _requests(spec: dict[str, Any]) -> list[Any]:
    from generation.interface import Request, Sampling

    from benchmarks.gpu.workload import chat_prompts, medqa_items

    items = medqa_items(Path(spec["medqa"]), spec["gen_prompts"])
    # greedy: both engines decode the same tokens from the same weights
    sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=spec["gen_max_tokens"])
    return [Request(messages=m, sampling=sampling) for m in chat_prompts(items)]


def _timed(generator: Any, requests: list[Any], warm: int) -> dict[str, Any]:
    """A short warm-up on the first `warm` prompts (a full batch's shapes), then the whole list;
    generated tokens per second."""
    from generation.interface import Request, Sampling

    short = Sampling(temperature=0.0, top_p=1.0, max_tokens=4)
    generator.generate([Request(messages=r.messages, sampling=short) for r in requests[:warm]])
    hardware.reset_peak_memory()
    start = time.perf_counter()
    outputs = generator.generate(requests)
    seconds = time.perf_counter() - start
    tokens = sum(o.completion_tokens or 0 for o in outputs)
    return {
        "prompts": len(requests),
        "max_new_tokens": requests[0].sampling.max_tokens,
        "generated_tokens": tokens,
        "prompt_tokens": sum(o.prompt_tokens or 0 for o in outputs),
        "seconds": round(seconds, 3),
        "tokens_per_s": tokens / seconds,
        "peak_memory_gb": hardware.peak_memory_gb(),
    }


def run_hf_generate(spec: dict[str, Any]) -> dict[str, Any]:
    from generation.hf import HFGenerator

    requests = _requests(spec)
    start = time.perf_counter()
    dtype = "bfloat16" if spec["device"].startswith("cuda") else "float32"
    generator = HFGenerator(spec["model_dir"], spec["gen_batch"], spec["device"], dtype)
    load_s = time.perf_counter() - start
    return _timed(generator, requests, spec["gen_batch"]) | {
        "load_s": round(load_s, 1),
        "batch_size": spec["gen_batch"],
        "dtype": dtype,
    }


def run_vllm_generate(spec: dict[str, Any]) -> dict[str, Any]:
    from generation.vllm_engine import VllmGenerator

    requests = _requests(spec)
    start = time.perf_counter()
    generator = VllmGenerator(spec["model_dir"], gpu_memory_utilization=0.85)
    load_s = time.perf_counter() - start
    try:
        # vLLM holds 85% of the GPU whatever it uses: its peak is its reservation, not its need
        return _timed(generator, requests, spec["gen_batch"]) | {
            "load_s": round(load_s, 1),
            "peak_memory_gb": None,
        }
    finally:
        generator.close()
