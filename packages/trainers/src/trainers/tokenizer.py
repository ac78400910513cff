"""Byte-level BPE tokenizer with Llama-3 special tokens and chat template (or the real model's)."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from data_core.errors import ConfigError
from generation import LLAMA3_CHAT_TEMPLATE  # with {% generation %} markers (assistant-only loss)
from generation.weights import load_tokenizer
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from trainers.config import SPECIAL_TOKENS, TokenizerConfig

log = logging.getLogger(__name__)


def train_bpe(texts: Iterable[str], cfg: TokenizerConfig) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts`; wrap it as a Llama-3-style fast tokenizer."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=True,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return wrap(tok, cfg.model_max_length)


def wrap(tok: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    """A `tokenizers.Tokenizer` -> HF fast tokenizer with the special tokens and chat template."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL_TOKENS["bos"],
        eos_token=SPECIAL_TOKENS["eos"],
        pad_token=SPECIAL_TOKENS["pad"],
        additional_special_tokens=[
            SPECIAL_TOKENS[k] for k in ("start_header", "end_header", "eot")
        ],
        chat_template=LLAMA3_CHAT_TEMPLATE,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def real_tokenizer(base_path: str) -> PreTrainedTokenizerBase:
    """Full scale: the model's own tokenizer, plus a chat template and pad token if missing."""
    path = Path(base_path)
    if not path.exists():
        raise ConfigError(f"params.yaml: model.base_path: {base_path} does not exist")
    tok = load_tokenizer(path)
    if not tok.chat_template:
        tok.chat_template = LLAMA3_CHAT_TEMPLATE  # base (non-instruct) Llama-3 ships none
    if tok.pad_token is None:
        pad = SPECIAL_TOKENS["pad"]
        tok.pad_token = pad if pad in tok.get_vocab() else tok.eos_token
    return tok


def build_tokenizer(
    texts: Iterable[str], cfg: TokenizerConfig, base_path: str | None, out_dir: Path
) -> dict[str, Any]:
    """Train (or, at full scale, take over) the tokenizer and save it to `out_dir`; return stats."""
    start = time.perf_counter()
    if base_path:
        tok = real_tokenizer(base_path)
        mode = "copied"
    else:
        tok = train_bpe(texts, cfg)
        mode = "trained"
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tok.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)  # whole-folder swap: a crash never leaves a half-written tokenizer
    return {
        "mode": mode,
        "source": base_path or "bpe",
        "vocab_size": len(tok),
        "seconds": round(time.perf_counter() - start, 2),
    }
