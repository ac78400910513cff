"""The knowledge base behind the kb teacher: HPO diseases, phenotypes and the is-a hierarchy."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from data_core.knowledge import (
    KnowledgeDomainConfig,
    Part,
    domain_parts,
    read_knowledge,
    term_is_heldout,
)


@dataclass(frozen=True)
class Phenotype:
    """One annotated phenotype of a disease."""

    hpo_id: str
    name: str
    frequency: float | None = None
    onset: str | None = None


@dataclass(frozen=True)
class Disease:
    """A disease with its (aspect P) phenotypes."""

    id: str
    name: str
    phenotypes: tuple[Phenotype, ...]
    onsets: tuple[str, ...] = ()
    genes: tuple[str, ...] = ()

    @cached_property
    def phenotype_ids(self) -> frozenset[str]:
        """HPO ids of the annotated phenotypes (computed once: distractor search's hot path)."""
        return frozenset(p.hpo_id for p in self.phenotypes)


@dataclass(frozen=True)
class Term:
    """An HPO term."""

    id: str
    name: str
    definition: str | None
    parents: tuple[str, ...]


@dataclass
class KnowledgeBase:
    """Diseases and terms with the indexes the teacher needs, and the knowledge domain's parts."""

    diseases: dict[str, Disease]
    terms: dict[str, Term]
    domain: dict[str, Part] = field(default_factory=dict)  # data_core.knowledge.domain_parts
    domain_cfg: KnowledgeDomainConfig = field(default_factory=KnowledgeDomainConfig)
    by_phenotype: dict[str, list[str]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index: dict[str, list[str]] = defaultdict(list)
        for disease in self.diseases.values():
            for hpo_id in disease.phenotype_ids:
                index[hpo_id].append(disease.id)
        self.by_phenotype = dict(index)
        kids: dict[str, list[str]] = defaultdict(list)
        for term in self.terms.values():
            for parent in term.parents:
                kids[parent].append(term.id)
        self.children = {k: sorted(v) for k, v in kids.items()}
        self._ancestors: dict[str, frozenset[str]] = {}
        self._disease_names = {d.name.lower() for d in self.diseases.values()}

    def is_heldout(self, record_id: str) -> bool:
        """True for ids no training text may be about: dev / held-out diseases, held-out terms."""
        if record_id in self.domain:
            return self.domain[record_id] != "train"
        if record_id in self.terms:
            return term_is_heldout(record_id, self.domain_cfg)
        return False

    def in_scope(self, disease_id: str, scope: str) -> bool:
        """Whether a disease may be an option of an item of `scope` (a domain part, or `any`)."""
        return scope == "any" or self.domain.get(disease_id) == scope

    def part_ids(self, part: str) -> list[str]:
        """The domain's diseases of one part, sorted."""
        return sorted(d for d, p in self.domain.items() if p == part and d in self.diseases)

    def ancestors(self, term_id: str) -> frozenset[str]:
        """Every ancestor of a term (not the term itself)."""
        if term_id not in self._ancestors:
            seen: set[str] = set()
            stack = list(self.terms[term_id].parents) if term_id in self.terms else []
            while stack:
                parent = stack.pop()
                if parent not in seen:
                    seen.add(parent)
                    stack.extend(self.terms[parent].parents if parent in self.terms else ())
            self._ancestors[term_id] = frozenset(seen)
        return self._ancestors[term_id]

    def ancestors_of_set(self, term_ids: frozenset[str] | set[str]) -> set[str]:
        """Every ancestor of any of the terms."""
        out: set[str] = set()
        for term_id in term_ids:
            out |= self.ancestors(term_id)
        return out

    def overlap(self, a: str, b: str) -> float:
        """Jaccard overlap of two diseases' phenotype sets."""
        pa, pb = self.diseases[a].phenotype_ids, self.diseases[b].phenotype_ids
        return len(pa & pb) / max(1, len(pa | pb))

    def distractor_diseases(
        self,
        disease_id: str,
        findings: list[str],
        k: int,
        rng: random.Random,
        scope: str = "train",
        pool: int = 12,
    ) -> list[str]:
        """`k` diseases sharing phenotypes with the answer but not every presented finding.

        Candidates are ranked by phenotype overlap; drawing from the closest `pool` keeps the
        distractors plausible while varying them between calls. `scope` limits candidates to one
        part of the knowledge domain (training items: `train`), or `any` disease.
        """
        answer = self.diseases[disease_id]
        shared: dict[str, int] = defaultdict(int)
        for hpo_id in answer.phenotype_ids:
            if len(self.by_phenotype.get(hpo_id, ())) > 400:  # too common to discriminate
                continue
            for other in self.by_phenotype.get(hpo_id, ()):
                shared[other] += 1
        wanted = set(findings)
        candidates = []
        for other, count in shared.items():
            disease = self.diseases[other]
            if other == disease_id or disease.name.lower() == answer.name.lower():
                continue
            if not self.in_scope(other, scope):
                continue
            if wanted <= disease.phenotype_ids:  # would fit the vignette as well as the answer
                continue
            candidates.append((-count, other))
        candidates.sort()
        top = [c for _, c in candidates[: max(pool, k)]]
        chosen = rng.sample(top, k) if len(top) >= k else top
        names = {answer.name.lower()}
        unique = []
        for other in chosen:
            name = self.diseases[other].name.lower()
            if name not in names:
                names.add(name)
                unique.append(other)
        return unique


def load_kb(
    diseases_path: Path,
    terms_path: Path,
    domain_cfg: KnowledgeDomainConfig | None = None,
    min_phenotypes: int = 3,
) -> KnowledgeBase:
    """Read data/interim/hpo_{diseases,terms}.parquet; keep diseases with enough phenotypes."""
    disease_rows, term_rows = read_knowledge(diseases_path), read_knowledge(terms_path)
    diseases: dict[str, Disease] = {}
    for row in disease_rows.iter_rows(named=True):
        phenos, onsets, seen = [], [], set()
        for p in row["phenotypes"] or []:
            if p["aspect"] == "C" and p["name"]:
                onsets.append(p["name"])
            if p["aspect"] != "P" or p["hpo_id"] in seen:
                continue
            seen.add(p["hpo_id"])
            phenos.append(Phenotype(p["hpo_id"], p["name"], p["frequency"], p["onset"]))
        if len(phenos) >= min_phenotypes:
            diseases[row["id"]] = Disease(
                row["id"], row["name"], tuple(phenos), tuple(onsets), tuple(row["genes"] or ())
            )
    terms = {
        row["id"]: Term(row["id"], row["name"], row["definition"], tuple(row["parents"] or ()))
        for row in term_rows.iter_rows(named=True)
    }
    domain_cfg = domain_cfg or KnowledgeDomainConfig()
    domain = domain_parts(disease_rows, domain_cfg)
    return KnowledgeBase(diseases, terms, domain, domain_cfg)
