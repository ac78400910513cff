"""Benchmark decontamination rules: which training texts contain which benchmark item.

Texts and items are compared as normalised words (lowercase `[a-z0-9]+` runs, `ngrams`):
- ngram: the text shares at least `min_matches` of an item's distinct word n-grams and they
  cover at least `min_coverage` of the item's n-grams (question + options) or of its stem's, so
  one stock phrase does not count but a copied question stem without its options does;
- stem: an item whose stem (question sentence) is shorter than n words is contained whole in
  the text, when the stem is distinctive: at least `min_words` words, not the stem of a
  different question (other options), and found in at most `max_texts` of the screened texts
  (a stock stem such as "which of the following is true" occurs in many);
- stem_answer: the short stem directly followed by its answer (optionally its letter), the
  first n words of that sequence;
- stem_options: the short stem plus every option's words, anywhere and in any order, with or
  without letters (this is how a stock stem still identifies its question).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from data_core.config import DecontaminateConfig
from data_core.key_scan import KeyTable, key_arrays
from data_core.ngrams import Tokenized, WindowHasher, tokenize, words
from data_core.schemas import EvalItem

RULES = ("ngram", "stem", "stem_answer", "stem_options")  # priority order when several match
_CHUNK = 50_000  # texts tokenised at once: bounded memory, progress after each


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
    label: str = ""  # the gold option's letter

    @classmethod
    def of(cls, item: EvalItem, context_tasks: Sequence[str] = ()) -> BenchmarkItem:
        stem = item.question.strip()
        if item.task in context_tasks:
            stem = stem.rsplit("\n", 1)[-1]
        options = tuple(item.options.values())
        return cls(item.id, item.full_text, stem, options, item.options[item.answer], item.answer)


def _text_windows(
    tokens: Tokenized, n: int
) -> tuple[WindowHasher, np.ndarray, np.ndarray, np.ndarray]:
    """(hasher, start word, text index, hash) of every n-word window inside one text."""
    hasher = WindowHasher(tokens)
    windows = hasher.windows(n)
    owners = hasher.owners(np.arange(len(windows)), n)
    starts = np.flatnonzero(owners >= 0)
    return hasher, starts, owners[starts], windows[starts]


def _mix(hashes: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """One uint64 per (hash, owner) pair (collisions ~2**-64)."""
    with np.errstate(over="ignore"):
        return hashes ^ (owners.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))


class BenchmarkIndex:
    """Every rule above over one set of benchmark items (config: the decontaminate section)."""

    def __init__(self, items: Sequence[BenchmarkItem], cfg: DecontaminateConfig) -> None:
        self.cfg, self.n = cfg, cfg.ngram.n
        self.item_ids = [item.id for item in items]
        self.item_words = words([item.text for item in items]).to_list()
        stems = words([item.stem for item in items]).to_list()
        self.stem_text = [" ".join(stem) for stem in stems]
        flat = iter(words([o for item in items for o in item.options]).to_list())
        self.options = [  # each option's normalised words, padded for whole-word containment
            [f" {o} " for o in (" ".join(next(flat)) for _ in item.options) if o] for item in items
        ]
        grams = self._ngram_entries(items) if cfg.ngram.enabled else _NO_GRAMS
        self.gram_item, self.gram_start, self.gram_in_stem, hashes, firsts = grams
        self.gram_total = np.bincount(self.gram_item, minlength=len(items))
        self.stem_total = np.bincount(
            self.gram_item, weights=self.gram_in_stem, minlength=len(items)
        )
        short = self._short_entries(items, stems) if cfg.short_items.enabled else []
        self.short_item = np.array([s[0] for s in short], dtype=np.int64)
        self.short_rule = [s[1] for s in short]
        self.short_text = [" ".join(s[2]) for s in short]
        self.distinctive = self._distinctive(items, stems)
        short_keys = key_arrays([s[3] for s in short])
        self.table = KeyTable(
            np.concatenate([hashes, short_keys[0]]),
            np.concatenate([np.full(len(hashes), self.n), short_keys[1]]),
            np.concatenate([firsts, short_keys[2]]),
        )
        self.short_items = sum(rule == "stem" for rule in self.short_rule)

    @classmethod
    def from_eval_items(cls, items: Sequence[EvalItem], cfg: DecontaminateConfig) -> BenchmarkIndex:
        context = cfg.short_items.context_tasks
        return cls([BenchmarkItem.of(item, context) for item in items], cfg)

    def _ngram_entries(self, items: Sequence[BenchmarkItem]) -> tuple[np.ndarray, ...]:
        """Distinct (n-gram, item) pairs: item, start word, in the stem?, hash, first-2 hash."""
        tokens = tokenize([item.text for item in items])
        hasher, starts, owner, hashes = _text_windows(tokens, self.n)
        firsts = hasher.windows(2)[starts] if self.n >= 2 else hashes
        _, first = np.unique(_mix(hashes, owner), return_index=True)
        first.sort()
        owner, hashes, firsts, starts = owner[first], hashes[first], firsts[first], starts[first]
        _, _, stem_owner, stem_hashes = _text_windows(tokenize([i.stem for i in items]), self.n)
        in_stem = np.isin(_mix(hashes, owner), _mix(stem_hashes, stem_owner))
        return owner, starts - tokens.offsets[owner], in_stem, hashes, firsts

    def _short_entries(
        self, items: Sequence[BenchmarkItem], stems: list[list[str]]
    ) -> list[tuple[int, str, list[str], np.ndarray]]:
        """(item, rule, words, word hashes) of each stem and stem + answer key of short items."""
        answers = words([item.answer for item in items]).to_list()
        labels = words([item.label for item in items]).to_list()
        out = []
        for i, stem in enumerate(stems):
            if not 0 < len(stem) < self.n:
                continue
            keys = [("stem", stem)]
            if answers[i]:
                keys.append(("stem_answer", (stem + answers[i])[: self.n]))
                if labels[i]:
                    keys.append(("stem_answer", (stem + labels[i] + answers[i])[: self.n]))
            out += [(i, rule, key) for rule, key in keys]
        if not out:
            return []
        tokens = tokenize([" ".join(key) for _, _, key in out])
        hashes = np.split(tokens.hashes, tokens.offsets[1:-1])
        return [(*entry, h) for entry, h in zip(out, hashes, strict=True)]

    def _distinctive(self, items: Sequence[BenchmarkItem], stems: list[list[str]]) -> np.ndarray:
        """Per item: may its short stem match alone (before counting texts that contain it)?"""
        questions: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for i, stem in enumerate(stems):
            questions[" ".join(stem)].add(tuple(sorted(self.options[i])))
        return np.array(
            [
                len(stem) >= self.cfg.short_items.min_words and len(questions[" ".join(stem)]) == 1
                for stem in stems
            ],
            dtype=bool,
        )

    def match(
        self, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> list[Match | None]:
        """For each text, the benchmark item it matched (None when clean)."""
        docs, entries = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        for start in range(0, len(texts), _CHUNK):
            doc, entry = self.table.scan(tokenize(texts[start : start + _CHUNK]))
            docs.append(doc + start)
            entries.append(entry)
            if progress is not None:
                progress(min(start + _CHUNK, len(texts)))
        doc, entry = np.concatenate(docs), np.concatenate(entries)
        grams = len(self.gram_item)
        found: dict[int, tuple[tuple, Match]] = {}  # text -> (ranking key, best match)
        self._ngram_matches(doc[entry < grams], entry[entry < grams], found)
        self._short_matches(doc[entry >= grams], entry[entry >= grams] - grams, texts, found)
        result: list[Match | None] = [None] * len(texts)
        for d, (_, match) in found.items():
            result[d] = match
        return result

    @staticmethod
    def _offer(found: dict, doc: int, rank: int, score: float, item: int, match: Match) -> None:
        """Keep the best match per text: rule priority, score, the longest key, the first item."""
        key = (rank, -score, -match.evidence.count(" "), item)
        if doc not in found or key < found[doc][0]:
            found[doc] = (key, match)

    def _ngram_matches(self, doc: np.ndarray, entry: np.ndarray, found: dict) -> None:
        if len(doc) == 0:
            return
        pairs = np.unique(doc * len(self.gram_item) + entry)
        doc, entry = pairs // len(self.gram_item), pairs % len(self.gram_item)
        item = self.gram_item[entry]
        groups, inverse = np.unique(doc * len(self.item_ids) + item, return_inverse=True)
        shared = np.bincount(inverse)
        shared_stem = np.bincount(inverse, weights=self.gram_in_stem[entry])
        first = np.full(len(groups), len(self.gram_item))
        np.minimum.at(first, inverse, entry)  # the item's earliest shared n-gram: the evidence
        gd, gi = groups // len(self.item_ids), groups % len(self.item_ids)
        coverage = shared / self.gram_total[gi]
        stem_total = self.stem_total[gi]
        with np.errstate(divide="ignore", invalid="ignore"):
            stem_cov = np.where(stem_total > 0, shared_stem / stem_total, 0.0)
        coverage = np.maximum(coverage, stem_cov)
        ngram = self.cfg.ngram
        ok = (shared >= ngram.min_matches) & (coverage >= ngram.min_coverage)
        for d, i, cov, e in zip(
            gd[ok].tolist(), gi[ok].tolist(), coverage[ok].tolist(), first[ok].tolist(), strict=True
        ):
            start = int(self.gram_start[e])
            evidence = " ".join(self.item_words[i][start : start + self.n])
            self._offer(
                found, d, 0, cov, i, Match(self.item_ids[i], "ngram", round(cov, 6), evidence)
            )

    def _short_matches(
        self, doc: np.ndarray, entry: np.ndarray, texts: Sequence[str], found: dict
    ) -> None:
        if len(doc) == 0:
            return
        pairs = np.unique(doc * len(self.short_item) + entry)
        size = len(self.short_item)
        hits = list(zip((pairs // size).tolist(), (pairs % size).tolist(), strict=True))
        texts_with: dict[str, int] = defaultdict(int)  # stem -> screened texts containing it
        for _, stem in {(d, self.short_text[e]) for d, e in hits if self.short_rule[e] == "stem"}:
            texts_with[stem] += 1
        stem_docs: dict[int, list[int]] = defaultdict(list)
        max_texts = self.cfg.short_items.max_texts
        for d, e in hits:
            item, rule = int(self.short_item[e]), self.short_rule[e]
            if rule == "stem":
                stem_docs[d].append(item)
                if not (self.distinctive[item] and texts_with[self.short_text[e]] <= max_texts):
                    continue
            match = Match(self.item_ids[item], rule, 1.0, self.short_text[e])
            self._offer(found, d, RULES.index(rule), 1.0, item, match)
        todo = [d for d in sorted(stem_docs) if d not in found]
        normalised = [f" {' '.join(w)} " for w in words([texts[d] for d in todo]).to_list()]
        for d, text in zip(todo, normalised, strict=True):
            for item in sorted(set(stem_docs[d])):
                options = self.options[item]
                if options and all(o in text for o in options):
                    evidence = f"{self.stem_text[item]} + options"
                    match = Match(self.item_ids[item], "stem_options", 1.0, evidence)
                    self._offer(found, d, RULES.index("stem_options"), 1.0, item, match)
                    break


_NO_GRAMS = (
    np.empty(0, np.int64),
    np.empty(0, np.int64),
    np.empty(0, bool),
    np.empty(0, np.uint64),
    np.empty(0, np.uint64),
)
