"""Knowledge text for the tokenizer and the pretraining corpus: HPO disease sentences, passages.

The sentences are deterministic templates over the ontology's disease annotations: each disease
gets a few phrasings with different phenotype orders, so a model learns the disease <-> finding
association rather than one fixed word sequence.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
from data_core.knowledge import (
    KnowledgeDomainConfig,
    domain_frame,
    eligible_diseases,
    read_knowledge,
)

from trainers.config import KnowledgeConfig, PhrasingConfig


def frequency_word(freq: float | None) -> str | None:
    """HPO frequency (0..1) -> the ontology's frequency category, as plain words."""
    if freq is None:
        return None
    if freq >= 0.995:
        return "always"
    if freq >= 0.8:
        return "very frequently"
    if freq >= 0.3:
        return "frequently"
    if freq >= 0.05:
        return "occasionally"
    if freq > 0:
        return "very rarely"
    return "never"


def _stable_key(text: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{text}".encode()).hexdigest()


def select_diseases(frame: pl.DataFrame, cfg: KnowledgeConfig) -> pl.DataFrame:
    """Tokenizer text: filter by id prefix and annotation count; `max_diseases` in hashed order."""
    kept = eligible_diseases(frame, cfg.prefixes, cfg.min_phenotypes)
    # hashed order: a random-looking but reproducible sample that does not depend on file order
    kept = kept.with_columns(
        pl.col("id")
        .map_elements(lambda i: _stable_key(i, cfg.seed), return_dtype=pl.String)
        .alias("_k")
    ).sort("_k")
    if cfg.max_diseases is not None:
        kept = kept.head(cfg.max_diseases)
    return kept.drop("_k")


def _join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def disease_sentences(disease: dict[str, Any], variant: int, cfg: PhrasingConfig) -> list[str]:
    """The sentences of one phrasing (`variant`) of one disease's phenotypes, onset and genes."""
    rng = random.Random(_stable_key(f"{disease['id']}#{variant}", cfg.seed))
    name = disease["name"]
    phenos = [p for p in disease["phenotypes"] if p["aspect"] == "P"]
    absent = [p["name"].lower() for p in phenos if p["frequency"] == 0]
    present = [p for p in phenos if p["frequency"] != 0]
    rng.shuffle(present)
    inheritance = sorted({p["name"].lower() for p in disease["phenotypes"] if p["aspect"] == "I"})
    out: list[str] = []
    if cfg.phrasings[variant % len(cfg.phrasings)] == "suggest":
        # findings first, a few at a time, as a clinician meets them: "A patient with a, b and c
        # may have X" teaches findings -> disease, the direction a diagnosis question asks
        for start in range(0, len(present), cfg.suggest_findings):
            names = [p["name"].lower() for p in present[start : start + cfg.suggest_findings]]
            out.append(f"A patient with {_join(names)} may have {name}.")
        return out
    for start in range(0, len(present), cfg.max_phenotypes):
        chunk = present[start : start + cfg.max_phenotypes]
        names = [p["name"].lower() for p in chunk]
        phrasing = cfg.phrasings[variant % len(cfg.phrasings)]
        if phrasing == "characterized":
            out.append(f"{name} is characterized by {_join(names)}.")
        elif phrasing == "present":
            out.append(f"Patients with {name} present with {_join(names)}.")
        else:
            out.append(f"Clinical features of {name} include {_join(names)}.")
        graded = [(p["name"].lower(), frequency_word(p["frequency"])) for p in chunk]
        for finding, word in graded:
            if word in ("always", "very frequently"):
                out.append(f"In {name}, {finding} is seen {word}.")
    if absent:
        out.append(f"{name} is not associated with {_join(absent)}.")
    if inheritance:
        out.append(f"{name} shows {_join(inheritance)}.")
    if disease.get("genes"):
        genes = sorted(disease["genes"])[:6]
        out.append(f"{name} is caused by variants in {_join(genes)}.")
    return out


def knowledge_documents(frame: pl.DataFrame, cfg: PhrasingConfig) -> Iterator[str]:
    """One document (a few sentences) per (disease, variant) of `frame`, in its row order."""
    for disease in frame.iter_rows(named=True):
        for variant in range(cfg.variants):
            sentences = disease_sentences(disease, variant, cfg)
            if sentences:
                yield " ".join(sentences)


def passage_texts(path: str | Path, limit: int | None = None) -> list[str]:
    """Passage texts (HPO definitions as 'Term: definition', textbook paragraphs), stable order."""
    frame = pl.read_parquet(path).filter(pl.col("split").is_null() | (pl.col("split") == "train"))
    frame = frame.sort("id")
    if limit is not None:
        frame = frame.head(limit)
    return [f"{t}: {x}" if t else x for t, x in zip(frame["title"], frame["text"], strict=True)]


def instruction_texts(path: str | Path) -> Iterable[str]:
    """Every message text of an Instruction parquet (the synthesized instructions)."""
    frame = pl.read_parquet(path, columns=["messages"])
    for messages in frame["messages"]:
        yield "\n".join(m["content"] for m in messages)


def tokenizer_corpus(
    diseases: Path, passages: Path | None, scored: Path | None, cfg: KnowledgeConfig
) -> Iterator[str]:
    """The tokenizer's training text: disease sentences, passages, synthesized instructions."""
    yield from knowledge_documents(select_diseases(read_knowledge(diseases), cfg), cfg)
    if passages is not None:
        yield from passage_texts(passages)
    if scored is not None:
        yield from instruction_texts(scored)


def pretrain_corpus(
    diseases: Path,
    passages: Path | None,
    domain: KnowledgeDomainConfig,
    cfg: PhrasingConfig,
    passages_limit: int | None,
    eval_fraction: float,
) -> tuple[list[str], list[str]]:
    """(train, eval) documents; eval takes passages only, so every disease fact stays in train.

    The base reads every disease of the knowledge domain, all parts: held-out questions then ask
    about facts it has read, and no instruction is ever about them.
    """
    docs = list(knowledge_documents(domain_frame(read_knowledge(diseases), domain), cfg))
    extra = passage_texts(passages, passages_limit) if passages is not None else []
    n_eval = round(len(extra) * eval_fraction) if extra else 0
    held = {
        _stable_key(t, cfg.seed) for t in sorted(extra, key=lambda t: _stable_key(t, 1))[:n_eval]
    }
    train = docs + [t for t in extra if _stable_key(t, cfg.seed) not in held]
    evals = [t for t in extra if _stable_key(t, cfg.seed) in held]
    # interleave deterministically so blocks mix diseases and definitions
    train.sort(key=lambda t: _stable_key(t, cfg.seed))
    return train, evals


def pretrain_documents(root: Path, params: dict[str, Any]) -> list[str]:
    """The base's training documents exactly as the pretrain stage builds them (for replay)."""
    from data_core.knowledge import parse_domain

    from trainers.config import parse

    cfg = parse(params, "pretrain")
    train, _ = pretrain_corpus(
        root / "data/interim/hpo_diseases.parquet",
        root / "data/clean/passages.parquet",
        parse_domain(params),
        cfg.knowledge,
        cfg.passages_limit,
        cfg.eval_fraction,
    )
    return train
