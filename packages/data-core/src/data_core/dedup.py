"""Exact and near-duplicate detection: normalised-text hashes, then MinHash LSH (rensa)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rensa import RMinHash, RMinHashLSH

from data_core.ngrams import tokenize, whole_hashes, words


@dataclass(frozen=True)
class Duplicate:
    """Text `index` duplicates the earlier text `of` (exactly, or by Jaccard `similarity`)."""

    index: int
    of: int
    rule: str  # "exact" | "near"
    similarity: float


def exact_duplicates(texts: Sequence[str]) -> list[Duplicate]:
    """Texts whose normalised words equal an earlier text's (the first occurrence is kept)."""
    hashes = whole_hashes(tokenize(texts)).tolist()
    first: dict[int, int] = {}
    found = []
    for index, h in enumerate(hashes):
        if h in first:
            found.append(Duplicate(index, first[h], "exact", 1.0))
        else:
            first[h] = index
    return found


def near_duplicates(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle: int = 5,
    seed: int = 42,
    skip: set[int] | None = None,
) -> list[Duplicate]:
    """Texts whose word-shingle MinHash Jaccard with an earlier kept text reaches `threshold`.

    Candidates come from LSH; each is confirmed by its MinHash Jaccard estimate, so the LSH
    band layout only affects recall, not which pairs count. Texts in `skip` are neither
    compared nor indexed (already removed as exact duplicates).
    """
    skip = skip or set()
    lsh = RMinHashLSH(threshold=threshold, num_perm=num_perm, num_bands=_bands(num_perm, threshold))
    kept: dict[int, RMinHash] = {}
    found = []
    for index, tokens in enumerate(words(texts).to_list()):
        if index in skip:
            continue
        shingles = [
            " ".join(tokens[i : i + shingle]) for i in range(max(len(tokens) - shingle + 1, 1))
        ]
        minhash = RMinHash(num_perm=num_perm, seed=seed)
        minhash.update(shingles)
        best, best_sim = -1, 0.0
        for candidate in lsh.query(minhash):
            sim = minhash.jaccard(kept[candidate])
            if sim >= threshold and (sim > best_sim or (sim == best_sim and candidate < best)):
                best, best_sim = candidate, sim
        if best >= 0:
            found.append(Duplicate(index, best, "near", best_sim))
        else:
            kept[index] = minhash
            lsh.insert(index, minhash)
    return found


def _bands(num_perm: int, threshold: float) -> int:
    """The divisor of num_perm whose LSH S-curve midpoint lies closest below the threshold."""
    options = [b for b in range(1, num_perm + 1) if num_perm % b == 0]
    midpoints = {b: (1 / b) ** (b / num_perm) for b in options}
    below = [b for b in options if midpoints[b] <= threshold * 0.9] or options
    return min(below, key=lambda b: abs(midpoints[b] - threshold * 0.9))


def duplicate_mask(count: int, duplicates: Sequence[Duplicate]) -> np.ndarray:
    """Boolean mask of the texts to keep."""
    keep = np.ones(count, dtype=bool)
    for dup in duplicates:
        keep[dup.index] = False
    return keep
