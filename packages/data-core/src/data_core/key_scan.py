"""Finding many word sequences ("keys", 1 to n words long) in tokenised texts at once.

A key is a sequence of normalised words hashed as `ngrams` hashes windows. A key of two or more
words can only start where a text's two words at that position are the first two words of some
key, so one bitmap lookup per word position leaves a small set of candidate starts (on 400K
instructions about 2% of positions); only those are extended word by word and looked up in the
table of each key length. One-word keys are looked up directly. No Python loop runs per word.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data_core.ngrams import P, Tokenized, powers

_MAX_BITS = 24  # membership bitmaps index at most the low 24 hash bits (16 MiB)


class HashSet:
    """Sorted uint64 keys with owners (a key may have several), queried for many hashes at once."""

    def __init__(self, keys: np.ndarray, owners: np.ndarray) -> None:
        order = np.lexsort((owners, keys))
        self.keys, self.owners = keys[order], owners[order]
        self.bitmap = _bitmap(self.keys)

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index of each hash that is a key, its owner), one pair per owner."""
        if len(self.keys) == 0 or len(hashes) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        maybe = np.flatnonzero(_probe(self.bitmap, hashes))
        left = np.searchsorted(self.keys, hashes[maybe], side="left")
        counts = np.searchsorted(self.keys, hashes[maybe], side="right") - left
        index = np.repeat(maybe, counts)
        # every (key, owner) entry of each hit: left + 0..count-1
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return index, self.owners[np.repeat(left, counts) + offsets]


def _bitmap(hashes: np.ndarray) -> np.ndarray:
    """A bool per value of the low hash bits: ~64 slots per key (few false hits), at most
    16 MiB; small key sets get small bitmaps that stay in cache."""
    bits = min(_MAX_BITS, max(12, int(len(hashes) * 64).bit_length()))
    bitmap = np.zeros(1 << bits, dtype=bool)
    bitmap[_low_bits(hashes, bitmap)] = True
    return bitmap


def _low_bits(hashes: np.ndarray, bitmap: np.ndarray) -> np.ndarray:
    return (hashes & np.uint64(len(bitmap) - 1)).view(np.int64)


def _probe(bitmap: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    return bitmap[_low_bits(hashes, bitmap)]


def sequence_hash(word_hashes: np.ndarray) -> np.uint64:
    """The hash of one word sequence (sum of h_j * P**j mod 2**64), as `scan` computes it."""
    with np.errstate(over="ignore"):
        return (word_hashes * powers(P, len(word_hashes))).sum(dtype=np.uint64)


class KeyTable:
    """Keys by length; `scan` reports every (text, key entry) occurrence."""

    def __init__(self, hashes: np.ndarray, lengths: np.ndarray, firsts: np.ndarray) -> None:
        """Entry i is the key of `lengths[i]` words hashing to `hashes[i]`, whose first two
        words hash (as a two-word sequence) to `firsts[i]` (unused for one-word keys)."""
        entries = np.arange(len(hashes))
        self.tables = {
            int(size): HashSet(hashes[lengths == size], entries[lengths == size])
            for size in np.unique(lengths)
        }
        self.longest = int(lengths.max()) if len(lengths) else 0
        self.first2 = _bitmap(firsts[lengths >= 2])

    def scan(self, tokens: Tokenized) -> tuple[np.ndarray, np.ndarray]:
        """(text index, key entry) for every occurrence of a key inside one text."""
        h, offsets = tokens.hashes, tokens.offsets
        docs: list[np.ndarray] = []
        entries: list[np.ndarray] = []
        if len(h) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        if 1 in self.tables:
            index, owner = self.tables[1].lookup(h)
            docs.append(np.searchsorted(offsets, index, side="right") - 1)
            entries.append(owner)
        if self.longest >= 2 and len(h) >= 2:
            with np.errstate(over="ignore"):
                pairs = h[:-1] + h[1:] * np.uint64(P)
            starts = np.flatnonzero(_probe(self.first2, pairs))
            doc = np.searchsorted(offsets, starts, side="right") - 1
            end = offsets[doc + 1]
            acc = h[starts]
            step = powers(P, self.longest)
            for size in range(2, self.longest + 1):
                fits = starts + size <= end  # the window stays inside its text
                if not fits.all():
                    starts, doc, end, acc = starts[fits], doc[fits], end[fits], acc[fits]
                if len(starts) == 0:
                    break
                with np.errstate(over="ignore"):
                    acc = acc + h[starts + size - 1] * step[size - 1]
                if size in self.tables:
                    index, owner = self.tables[size].lookup(acc)
                    docs.append(doc[index])
                    entries.append(owner)
        if not docs:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(docs), np.concatenate(entries)


def key_arrays(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash, length, first-two-words hash) of each key given as an array of word hashes."""
    hashes = np.array([sequence_hash(s) for s in sequences], dtype=np.uint64)
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    firsts = np.array([sequence_hash(s[:2]) for s in sequences], dtype=np.uint64)
    return hashes, lengths, firsts
