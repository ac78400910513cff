"""The one Hugging Face loader (dtype and device from params) and a batched chat generator."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from generation.fingerprint import model_fingerprint
from generation.interface import Generation, Generator, Request
from generation.templates import FALLBACK_CHAT_TEMPLATE


def resolve_device(device: str = "auto") -> str:
    """`auto`: the GPU when one is visible, else the CPU; anything else is passed on."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """`auto`: bfloat16 on a GPU, float32 elsewhere (CPU bf16 is slow); else `torch.<dtype>`."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def load_hf(path: str | Path, device: str = "auto", dtype: str = "auto") -> tuple[Any, Any, str]:
    """(model in eval mode on its device, tokenizer, resolved device); safetensors only."""
    from transformers import AutoModelForCausalLM

    from generation.weights import load_pretrained, load_tokenizer

    device = resolve_device(device)
    tokenizer = load_tokenizer(path)
    model = load_pretrained(AutoModelForCausalLM, path, dtype=resolve_dtype(dtype, device))
    model.to(device).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, device


class HFGenerator(Generator):
    """Generates for a batch of chat requests at once; sampling is seeded per batch."""

    kind = "transformers"

    def __init__(
        self, path: str, batch_size: int = 8, device: str = "cpu", dtype: str = "float32"
    ) -> None:
        import torch

        # The fingerprint enters every request key (cache rows of retrained weights never match).
        super().__init__(f"{path}@{model_fingerprint(path)}")
        self.torch = torch
        self.lm, self.tokenizer, self.device = load_hf(path, device, dtype)
        self.tokenizer.padding_side = "left"  # generation appends on the right
        if not self.tokenizer.chat_template:
            self.tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
        self.batch_size = batch_size

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """Batches of `batch_size`, sorted by prompt length so that little padding is wasted."""
        results = dict(self.stream(requests))
        return [results[i] for i in range(len(requests))]

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, Generation]]:
        """Each batch's responses as soon as it is decoded (the same batches as `generate`)."""
        prompts = [
            self.tokenizer.apply_chat_template(
                r.messages, tokenize=False, add_generation_prompt=True
            )
            for r in requests
        ]
        order = sorted(range(len(requests)), key=lambda i: (len(prompts[i]), i))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self._batch([requests[i] for i in idx], [prompts[i] for i in idx])
            yield from zip(idx, batch, strict=True)

    def _batch(self, requests: list[Request], prompts: list[str]) -> list[Generation]:
        torch, first = self.torch, requests[0]
        sampling = first.sampling  # the panel sends one sampling setting per call
        # Seed from the batch's requests so that the same request list gives the same output.
        torch.manual_seed(
            sum((r.seed * 1009 + r.sample) * 31 ** (k % 7) for k, r in enumerate(requests)) % 2**63
        )
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        start = time.perf_counter()
        sample = sampling.temperature > 0
        with torch.inference_mode():
            out = self.lm.generate(
                **enc,
                max_new_tokens=sampling.max_tokens,
                do_sample=sample,
                use_cache=True,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        latency = (time.perf_counter() - start) / len(requests)
        self.stats["calls"] += len(requests)
        self.stats["batches"] += 1
        return [
            self._decode(row.tolist(), int(mask.sum()), latency)
            for row, mask in zip(
                out[:, enc["input_ids"].shape[1] :], enc["attention_mask"], strict=True
            )
        ]

    def _decode(self, ids: list[int], prompt_tokens: int, latency: float) -> Generation:
        eos = self.tokenizer.eos_token_id
        stop = eos in ids if eos is not None else False
        if stop:
            ids = ids[: ids.index(eos)]
        ids = [t for t in ids if t != self.tokenizer.pad_token_id or t == eos]
        text = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
        return Generation(text, "stop" if stop else "length", prompt_tokens, len(ids), latency)
