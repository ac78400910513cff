"""A Hugging Face transformers causal LM from a local path (CPU or GPU, batched)."""

from __future__ import annotations

from pathlib import Path

import torch
from data_core.errors import SourceError
from generation.hf import load_hf
from tqdm.auto import tqdm

from evals.backends import GenerationConfig
from evals.loglik import option_logliks
from evals.prompts import chat_prompt


class HFBackend:
    """The generation layer's loader (dtype `auto`: bf16 on a GPU, fp32 on the CPU)."""

    def __init__(
        self,
        name: str,
        path: str | Path,
        *,
        batch_tokens: int = 16384,
        device: str = "auto",
        gen_batch: int = 16,
        max_length: int | None = None,
    ) -> None:
        path = Path(path)
        if not (path / "config.json").exists():
            raise SourceError(f"{path}: not a model directory (no config.json) for model {name!r}")
        self.name = name
        self.model, self.tokenizer, resolved = load_hf(path, device, "auto")
        self.device = torch.device(resolved)
        self.batch_tokens = batch_tokens
        self.gen_batch = gen_batch
        self.max_length = max_length
        # (context, continuations) -> scores, for the backend's life: task runs of one model that
        # ask the same questions in the same form (the base's natural format is its cloze) run once
        self._logliks: dict[tuple[str, tuple[str, ...]], list[tuple[float, bool]]] = {}

    def format_prompt(self, user_text: str, *, chat: bool | None) -> tuple[str, bool]:
        return chat_prompt(self.tokenizer, self.name, user_text, chat)

    def loglikelihood(
        self, requests: list[tuple[str, list[str]]]
    ) -> list[list[tuple[float, bool]]]:
        """Per request, (log-prob, is-greedy) of every continuation; each distinct one once."""
        keys = [(context, tuple(conts)) for context, conts in requests]
        todo = list(dict.fromkeys(k for k in keys if k not in self._logliks))
        if todo:
            scores = option_logliks(
                self.model,
                self.tokenizer,
                [(context, list(conts)) for context, conts in todo],
                batch_tokens=self.batch_tokens,
                max_length=self.max_length,
                progress=True,
            )
            for key, row in zip(todo, scores, strict=True):
                self._logliks[key] = [(s.loglik, s.is_greedy) for s in row]
        return [list(self._logliks[k]) for k in keys]

    @torch.inference_mode()
    def generate(self, prompts: list[str], config: GenerationConfig) -> list[list[str]]:
        """Left-padded batched generation; n samples per prompt."""
        tok = self.tokenizer
        tok.padding_side = "left"
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        out: list[list[str]] = [[] for _ in prompts]
        torch.manual_seed(config.seed)
        sample = config.temperature > 0
        kwargs = {
            "do_sample": sample,
            "max_new_tokens": config.max_new_tokens,
            "num_return_sequences": config.n,
            "pad_token_id": tok.pad_token_id,
        }
        if sample:
            kwargs.update(temperature=config.temperature, top_p=config.top_p)
        for start in tqdm(range(0, len(order), self.gen_batch), desc=f"generate {self.name}"):
            chunk = order[start : start + self.gen_batch]
            enc = tok([prompts[i] for i in chunk], return_tensors="pt", padding=True)
            enc = enc.to(self.device)
            ids = self.model.generate(**enc, **kwargs)[:, enc["input_ids"].shape[1] :]
            texts = tok.batch_decode(ids, skip_special_tokens=True)
            for j, i in enumerate(chunk):
                out[i] = texts[j * config.n : (j + 1) * config.n]
        return out
