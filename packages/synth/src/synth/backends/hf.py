"""Local causal LM through transformers: batched, left-padded generation with the KV cache."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

from synth.backends.base import Backend, Generation, Request

FALLBACK_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def model_fingerprint(path: str | Path, window: int = 1 << 20) -> str:
    """Identity of a model folder: names, sizes and head/tail bytes of its files.

    It goes into the cache key, so retrained weights at the same path are never served stale
    completions; reading only 2 MiB per file keeps it fast for multi-GB checkpoints.
    """
    digest = hashlib.md5()
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(root).as_posix()}\0{size}\0".encode())
        with file.open("rb") as fh:
            digest.update(fh.read(window))
            if size > 2 * window:
                fh.seek(-window, 2)
                digest.update(fh.read(window))
    return digest.hexdigest()[:12]


class TransformersBackend(Backend):
    """Generates for a batch of chat requests at once; sampling is seeded per batch."""

    kind = "transformers"

    def __init__(self, path: str, batch_size: int = 8, device: str = "cpu", dtype: str = "float32"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        super().__init__(f"{path}@{model_fingerprint(path)}")
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        self.tokenizer.padding_side = "left"  # generation appends on the right
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not self.tokenizer.chat_template:
            self.tokenizer.chat_template = FALLBACK_TEMPLATE
        self.lm = AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, dtype), trust_remote_code=False
        ).to(device)
        self.lm.eval()
        self.batch_size, self.device = batch_size, device

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """Batches of `batch_size`, sorted by prompt length so that little padding is wasted."""
        prompts = [self.tokenizer.apply_chat_template(r.messages, tokenize=False,
                                                      add_generation_prompt=True) for r in requests]  # fmt: skip
        order = sorted(range(len(requests)), key=lambda i: (len(prompts[i]), i))
        results: dict[int, Generation] = {}
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            for i, gen in zip(idx, self._batch([requests[i] for i in idx], [prompts[i] for i in idx]),
                              strict=True):  # fmt: skip
                results[i] = gen
        return [results[i] for i in range(len(requests))]

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
                **enc, max_new_tokens=sampling.max_tokens, do_sample=sample, use_cache=True,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None,
                pad_token_id=self.tokenizer.pad_token_id,
            )  # fmt: skip
        latency = (time.perf_counter() - start) / len(requests)
        self.stats["calls"] += len(requests)
        self.stats["batches"] += 1
        new = out[:, enc["input_ids"].shape[1] :]
        eos = self.tokenizer.eos_token_id
        gens = []
        for row, mask in zip(new, enc["attention_mask"], strict=True):
            ids = row.tolist()
            stop = eos in ids if eos is not None else False
            if stop:
                ids = ids[: ids.index(eos)]
            ids = [t for t in ids if t != self.tokenizer.pad_token_id or t == eos]
            text = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
            gens.append(
                Generation(text, "stop" if stop else "length", int(mask.sum()), len(ids), latency)
            )
        return gens
