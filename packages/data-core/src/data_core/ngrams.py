"""Vectorised word n-gram hashing: every window of every text hashed in a few numpy passes.

Texts are lowercased and split into `[a-z0-9]+` words; each word gets a 64-bit hash (polars),
and a window's hash is a polynomial over its word hashes, computed for all windows at once
from prefix sums (mod 2**64), so no Python loop runs per word or per window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

WORD = r"[a-z0-9]+"
P = 0x9E3779B97F4A7C15  # odd, so it is invertible mod 2**64
_POWER_TABLES: dict[int, np.ndarray] = {}


def powers(base: int, count: int) -> np.ndarray:
    """base**0 .. base**(count-1) mod 2**64, cached and grown by doubling."""
    have = _POWER_TABLES.get(base)
    if have is None or len(have) < count:
        size = max(count, 1 << 16, 2 * (0 if have is None else len(have)))
        table = np.full(size, base, dtype=np.uint64)
        table[0] = 1
        with np.errstate(over="ignore"):
            have = np.cumprod(table, dtype=np.uint64)
        _POWER_TABLES[base] = have
    return have[:count]


def words(texts: Sequence[str]) -> pl.Series:
    """Normalised word lists of texts (lowercase, alphanumeric runs)."""
    return pl.Series(texts, dtype=pl.String).fill_null("").str.to_lowercase().str.extract_all(WORD)


def normalize(text: str) -> str:
    """The normalised form two texts are compared in: lowercase words joined by single spaces."""
    return " ".join(words([text])[0])


@dataclass
class Tokenized:
    """All words of a batch of texts, flattened: word hashes plus per-text offsets."""

    hashes: np.ndarray  # uint64, one per word
    offsets: np.ndarray  # int64, len(texts) + 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def tokenize(texts: Sequence[str]) -> Tokenized:
    """Hash every word of every text (two halves in parallel: polars runs columns concurrently)."""
    half = (len(texts) + 1) // 2
    frame = pl.DataFrame(
        {"a": list(texts[:half]), "b": list(texts[half:]) + [""] * (2 * half - len(texts))},
        schema={"a": pl.String, "b": pl.String},
    )
    split = frame.select(
        pl.col(c).fill_null("").str.to_lowercase().str.extract_all(WORD) for c in ("a", "b")
    )
    lists = pl.concat([split["a"], split["b"]])[: len(texts)]
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = lists.explode().drop_nulls()
    hashes = flat.hash(seed=0).to_numpy().astype(np.uint64, copy=False)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Tokenized(hashes, offsets)


class WindowHasher:
    """Hashes of all length-L windows of a Tokenized batch, sharing one prefix-sum pass."""

    def __init__(self, tokens: Tokenized) -> None:
        n = len(tokens.hashes)
        self.tokens = tokens
        self._prefix = np.zeros(n + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum(tokens.hashes * powers(P, n), out=self._prefix[1:], dtype=np.uint64)
        self._inverse = powers(pow(P, -1, 2**64), n + 1)
        self._doc_of_word = np.repeat(np.arange(len(tokens.lengths)), tokens.lengths)

    def windows(self, size: int) -> np.ndarray:
        """Hash of the `size`-word window starting at every word position (may cross texts)."""
        n = len(self.tokens.hashes)
        if n < size:
            return np.empty(0, np.uint64)
        with np.errstate(over="ignore"):
            return (self._prefix[size:] - self._prefix[: n - size + 1]) * self._inverse[
                : n - size + 1
            ]

    def owners(self, starts: np.ndarray, size: int) -> np.ndarray:
        """Text index of each window start, or -1 where the window runs past its text's end."""
        doc = self._doc_of_word[starts]
        return np.where(doc == self._doc_of_word[starts + size - 1], doc, -1)


def whole_hashes(tokens: Tokenized) -> np.ndarray:
    """Hash of each text's full word sequence (equal to its single full-length window)."""
    hasher = WindowHasher(tokens)
    starts, ends = tokens.offsets[:-1], tokens.offsets[1:]
    with np.errstate(over="ignore"):
        return (hasher._prefix[ends] - hasher._prefix[starts]) * hasher._inverse[starts]
