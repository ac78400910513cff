"""The knowledge domain: which HPO diseases the base reads, and which of them training may use.

One owner for the held-out design. The domain is a hashed sample of the ontology's diseases; the
base model reads the facts of every disease in it, and each disease falls in one part:
- `train`: subjects, answers and distractors of training instructions;
- `dev`: read by the base, never in an instruction; the recipe is chosen on these;
- `heldout`: read by the base, never in an instruction; the reported held-out tasks ask these.
Synth and pretrain both call `domain_parts`, so the parts cannot drift apart. Terms (definitions)
keep a plain hashed held-out split (`term_is_heldout`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from data_core.config import Strict, parse_section
from data_core.errors import DataCoreError
from data_core.splits import hash_position, split_of

Part = Literal["train", "dev", "heldout"]


class KnowledgeDomainConfig(Strict):
    """params.yaml `knowledge`: the domain's size and its train / dev / held-out parts."""

    prefixes: list[str] = Field(default_factory=lambda: ["OMIM", "ORPHA"])
    min_phenotypes: int = Field(5, ge=1)  # aspect-P annotations a disease needs to be in it
    max_phenotypes: int | None = Field(None, ge=1)  # and at most (short facts a small model learns)
    size: int | None = Field(700, ge=1)  # diseases, in hashed order; None: every eligible one
    heldout_fraction: float = Field(0.3, ge=0, lt=1)
    dev_fraction: float = Field(0.15, ge=0, lt=1)
    salt: str = "hpo-heldout"
    term_heldout_fraction: float = Field(0.1, ge=0, lt=1)  # HPO terms (definition tasks)

    @model_validator(mode="after")
    def _parts(self) -> KnowledgeDomainConfig:
        if self.heldout_fraction + self.dev_fraction >= 1:
            raise ValueError("heldout_fraction + dev_fraction must leave a training part")
        return self


def parse_domain(params: dict[str, Any]) -> KnowledgeDomainConfig:
    """The `knowledge` section of params.yaml, validated."""
    return parse_section(params, "knowledge", KnowledgeDomainConfig)


def part_of(disease_id: str, cfg: KnowledgeDomainConfig) -> Part:
    """The part a domain disease falls in, by a salted hash of its id."""
    position = hash_position(disease_id, cfg.salt)
    if position < cfg.heldout_fraction:
        return "heldout"
    if position < cfg.heldout_fraction + cfg.dev_fraction:
        return "dev"
    return "train"


def term_is_heldout(term_id: str, cfg: KnowledgeDomainConfig) -> bool:
    """True for HPO terms whose definitions no training text may contain."""
    return split_of(term_id, cfg.term_heldout_fraction, cfg.salt) == "test"


def read_knowledge(path: str | Path) -> pl.DataFrame:
    """hpo_diseases.parquet or hpo_terms.parquet (ingest's knowledge tables): the one reader."""
    if not Path(path).exists():
        raise DataCoreError(f"{path}: missing (run `uv run dvc repro ingest` first)")
    return pl.read_parquet(path)


def eligible_diseases(
    diseases: pl.DataFrame,
    prefixes: list[str],
    min_phenotypes: int,
    max_phenotypes: int | None = None,
) -> pl.DataFrame:
    """Rows of hpo_diseases.parquet with an id prefix in `prefixes`, enough aspect-P phenotypes."""
    count = pl.col("phenotypes").list.eval(pl.element().struct.field("aspect") == "P").list.sum()
    kept = diseases.filter(
        pl.any_horizontal(*[pl.col("id").str.starts_with(f"{p}:") for p in prefixes]),
        count >= min_phenotypes,
    )
    return kept if max_phenotypes is None else kept.filter(count <= max_phenotypes)


def domain_frame(diseases: pl.DataFrame, cfg: KnowledgeDomainConfig) -> pl.DataFrame:
    """The domain's diseases (hpo_diseases.parquet rows) in hashed order, with a `part` column."""
    eligible = eligible_diseases(diseases, cfg.prefixes, cfg.min_phenotypes, cfg.max_phenotypes)
    # hashed order with its own salt: which diseases are sampled is independent of their part
    order = [hashlib.sha1(f"domain\0{cfg.salt}\0{i}".encode()).hexdigest() for i in eligible["id"]]
    frame = eligible.with_columns(pl.Series("_order", order)).sort("_order").drop("_order")
    if cfg.size is not None:
        frame = frame.head(cfg.size)
    parts = [part_of(i, cfg) for i in frame["id"]]
    return frame.with_columns(pl.Series("part", parts, dtype=pl.String))


def domain_parts(diseases: pl.DataFrame, cfg: KnowledgeDomainConfig) -> dict[str, Part]:
    """Disease id -> part, for every disease of the domain."""
    frame = domain_frame(diseases, cfg)
    return dict(zip(frame["id"], frame["part"], strict=True))
