"""The reward model as a scorer: (prompt messages, response) -> one scalar, as trained.

TRL's RewardTrainer tokenizes a conversational pair as `apply_chat_template(prompt + completion,
tokenize=True)` and appends no EOS (it does so only for plain-text rows); the classifier reads
its score at the last non-pad token, here the answer's closing `<|eot_id|>`. Scoring renders the
same way, so a score is the one training optimised. Batches are right-padded whatever the
tokenizer's padding side, sorted by length, and each score is independent of its batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from data_core.config import load_params
from data_core.errors import DataCoreError
from data_core.paths import stage_paths
from generation.fingerprint import model_fingerprint
from generation.weights import load_pretrained, load_tokenizer
from transformers import AutoModelForSequenceClassification

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]


def check_pad_token(tokenizer: Any, where: str | Path) -> None:
    """A reward model reads its score at the last non-pad token: pad must exist and not be EOS."""
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise DataCoreError(
            f"{where}: the tokenizer needs a pad token distinct from EOS "
            f"(pad {tokenizer.pad_token!r}, eos {tokenizer.eos_token!r})"
        )


def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class RewardModel:
    """A 1-label sequence classifier and its tokenizer (chat template, pad token)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        path: str | Path = "",
        digest: str = "",
        batch_size: int = 16,
        max_length: int | None = 512,
    ) -> None:
        where = path or type(model).__name__
        labels = getattr(model.config, "num_labels", None)
        if labels != 1:
            raise DataCoreError(f"{where}: a reward model has one label, this one {labels}")
        check_pad_token(tokenizer, where)
        if model.config.pad_token_id != tokenizer.pad_token_id:
            raise DataCoreError(
                f"{where}: config.pad_token_id {model.config.pad_token_id} is not the "
                f"tokenizer's pad token id {tokenizer.pad_token_id}"
            )
        if not tokenizer.chat_template:
            raise DataCoreError(f"{where}: the tokenizer has no chat template")
        self.model, self.tokenizer = model, tokenizer
        self.path, self.digest = Path(path), digest
        self.batch_size, self.max_length = batch_size, max_length

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        device: str = "cpu",
        batch_size: int = 16,
        max_length: int = 512,
    ) -> RewardModel:
        """The model saved at `path` (weights + tokenizer), in eval mode on `device`."""
        path = Path(path)
        if not (path / "config.json").exists():
            raise DataCoreError(f"{path}: no reward model here (config.json missing)")
        tokenizer = load_tokenizer(path)
        model = load_pretrained(AutoModelForSequenceClassification, path)
        model.to(_device(device)).eval()
        digest = model_fingerprint(path)
        return cls(
            model, tokenizer, path=path, digest=digest, batch_size=batch_size, max_length=max_length
        )

    def encode(self, prompt: Messages, response: str) -> list[int]:
        """Token ids of the conversation prompt + the assistant's response, as in training."""
        messages = [*prompt, {"role": "assistant", "content": response}]
        ids = self.tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
        ids = list(ids["input_ids"])
        if self.max_length is not None and len(ids) > self.max_length:
            # training dropped such pairs; keep the end, where the score is read
            ids = ids[-self.max_length :]
        return ids

    @torch.inference_mode()
    def _forward(self, rows: Sequence[list[int]]) -> list[float]:
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        device = self.model.device
        logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        return logits[:, 0].float().tolist()

    def rewards(self, prompts: Sequence[Messages], responses: Sequence[str]) -> list[float]:
        """Batch reward of (prompt messages, assistant response text), formatted exactly as in
        training."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        encoded = [self.encode(list(p), r) for p, r in zip(prompts, responses, strict=True)]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        out = [0.0] * len(encoded)
        self.model.eval()
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, value in zip(chunk, self._forward([encoded[i] for i in chunk]), strict=True):
                out[i] = value
        return out

    def score(self, prompt: str, completions: Sequence[str]) -> list[float]:
        """evals' RewardScorer protocol: `prompt` is one user turn's text."""
        turn = [{"role": "user", "content": prompt}]
        return self.rewards([turn] * len(completions), completions)


def default_scorer(path: str | Path | None = None) -> RewardModel:
    """evals' `evaluate.reward_scorer: "rewards.scoring:default_scorer"`: the model at `path`
    (evaluate passes `evaluate.reward_model`), else at params `paths.models.reward` relative to
    the repository root (the cwd)."""
    if path is None:
        root = Path.cwd()
        path = stage_paths(load_params(root / "params.yaml"), root)["models.reward"]
    return RewardModel.load(path, device="auto")
