"""Knowledge-grounded questions and answers over HPO: what the kb teacher writes and solves."""

from __future__ import annotations

import random
import string
from typing import Any

from synth.knowledge_base import Disease, KnowledgeBase

LETTERS = string.ascii_uppercase


def pick_findings(disease: Disease, n: int, rng: random.Random) -> list[str]:
    """`n` phenotype ids, favouring frequent ones (what a clinician would see first)."""
    pool = list(disease.phenotypes)
    weights = [p.frequency if p.frequency is not None else 0.5 for p in pool]
    chosen: list[str] = []
    while pool and len(chosen) < n:
        idx = rng.choices(range(len(pool)), weights=[w + 0.05 for w in weights])[0]
        chosen.append(pool.pop(idx).hpo_id)
        weights.pop(idx)
    return chosen


def _name(kb: KnowledgeBase, hpo_id: str) -> str:
    term = kb.terms.get(hpo_id)
    return term.name if term else hpo_id


def _join(names: list[str]) -> str:
    # Lower-case the sentence-initial capital of HPO names, but keep acronyms (e.g. "EEG").
    names = [n[0].lower() + n[1:] if n[1:2].islower() else n for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _shuffle_options(
    answer: str, others: list[str], labels: dict[str, str], rng: random.Random
) -> tuple[dict[str, str], dict[str, str], str]:
    ids = [answer, *others]
    rng.shuffle(ids)
    option_ids = {LETTERS[i]: x for i, x in enumerate(ids)}
    options = {k: labels[v] for k, v in option_ids.items()}
    letter = next(k for k, v in option_ids.items() if v == answer)
    return options, option_ids, letter


def vignette_text(kb: KnowledgeBase, meta: dict[str, Any]) -> str:
    """The clinical vignette for a diagnosis item (findings, negatives, constraint)."""
    disease = kb.diseases[meta["subject"]]
    onset = f" with {disease.onsets[0].lower()}" if disease.onsets else ""
    text = f"A patient{onset} presents with {_join([_name(kb, h) for h in meta['findings']])}."
    if meta.get("negative"):
        text += f" There is no {_join([_name(kb, h) for h in meta['negative']])}."
    text += " Which of the following is the most likely diagnosis?"
    if meta.get("constraint"):
        text += " " + meta["constraint"]
    return text


def diagnosis_item(
    kb: KnowledgeBase,
    disease_id: str,
    rng: random.Random,
    n_options: int,
    n_findings: int,
    scope: str = "train",
    pool: int = 12,
) -> dict[str, Any] | None:
    """A diagnosis vignette: one disease's findings, distractors (of `scope`) sharing phenotypes."""
    disease = kb.diseases[disease_id]
    findings = pick_findings(disease, n_findings, rng)
    others = kb.distractor_diseases(disease_id, findings, n_options - 1, rng, scope, pool)
    if len(others) < n_options - 1:
        return None
    labels = {d: kb.diseases[d].name for d in [disease_id, *others]}
    options, option_ids, letter = _shuffle_options(disease_id, others, labels, rng)
    meta = {
        "kind": "diagnosis",
        "subject": disease_id,
        "findings": findings,
        "option_ids": option_ids,
        "gold": disease.name,
    }
    return {"question": vignette_text(kb, meta), "options": options, "answer": letter, "meta": meta}


def _mc_item(
    kind: str,
    subject: str,
    question: str,
    answer_id: str,
    others: list[str],
    labels: dict[str, str],
    rng: random.Random,
) -> dict[str, Any]:
    """A shuffled MC item whose options are knowledge-base ids named by `labels`."""
    options, option_ids, letter = _shuffle_options(answer_id, others, labels, rng)
    meta = {
        "kind": kind,
        "subject": subject,
        "option_ids": option_ids,
        "gold": labels[answer_id],
        "answer_id": answer_id,
    }
    return {"question": question, "options": options, "answer": letter, "meta": meta}


def phenotype_item(
    kb: KnowledgeBase, disease_id: str, rng: random.Random, n_options: int
) -> dict[str, Any] | None:
    """Which listed phenotype is annotated to a disease; distractors come from similar diseases."""
    disease = kb.diseases[disease_id]
    own = disease.phenotype_ids
    answer = pick_findings(disease, 1, rng)[0]
    blocked = own | kb.ancestors(answer)
    pool: list[str] = []
    for other in kb.distractor_diseases(disease_id, list(own), 6, rng):
        pool.extend(sorted(p for p in kb.diseases[other].phenotype_ids - blocked))
    pool = sorted(set(pool) - {answer})
    if len(pool) < n_options - 1:
        return None
    others = rng.sample(pool, n_options - 1)
    labels = {h: _name(kb, h) for h in [answer, *others]}
    if len(set(labels.values())) < n_options:
        return None
    question = f"Which of the following is a characteristic clinical feature of {disease.name}?"
    return _mc_item("phenotype", disease_id, question, answer, others, labels, rng)


def hierarchy_item(
    kb: KnowledgeBase, term_id: str, rng: random.Random, n_options: int
) -> dict[str, Any] | None:
    """Which listed term is a parent (broader class) of a term; distractors are non-ancestors."""
    term = kb.terms[term_id]
    if not term.parents:
        return None
    parent = rng.choice(sorted(term.parents))
    blocked = kb.ancestors(term_id) | {term_id} | set(kb.children.get(term_id, ()))
    # Siblings of the parent and cousins are plausible but wrong.
    pool = {c for gp in kb.terms[parent].parents for c in kb.children.get(gp, ())}
    pool |= {c for p in term.parents for c in kb.children.get(p, ())}
    pool = sorted(pool - blocked - {parent})
    if len(pool) < n_options - 1:
        return None
    others = rng.sample(pool, n_options - 1)
    labels = {t: kb.terms[t].name for t in [parent, *others]}
    if len(set(labels.values())) < n_options:
        return None
    question = (
        f"In the Human Phenotype Ontology, '{term.name}' is a subclass of which of the "
        "following terms?"
    )
    return _mc_item("hierarchy", term_id, question, parent, others, labels, rng)


def definition_item(kb: KnowledgeBase, term_id: str) -> dict[str, Any] | None:
    """An open question asking for a term's definition."""
    term = kb.terms[term_id]
    if not term.definition:
        return None
    question = f"What is meant by the clinical term '{term.name}'?"
    meta = {"kind": "definition", "subject": term_id, "gold": term.definition}
    return {"question": question, "options": None, "answer": None, "meta": meta}


def definition_mc_item(
    kb: KnowledgeBase, term_id: str, rng: random.Random, n_options: int
) -> dict[str, Any] | None:
    """Which listed term matches a definition (held-out eval format; breadth evolution)."""
    term = kb.terms[term_id]
    if not term.definition:
        return None
    siblings = {c for p in term.parents for c in kb.children.get(p, ())} - {term_id}
    siblings -= kb.ancestors(term_id)
    pool = sorted(s for s in siblings if kb.terms[s].name.lower() != term.name.lower())
    if len(pool) < n_options - 1:
        return None
    others = rng.sample(pool, n_options - 1)
    labels = {t: kb.terms[t].name for t in [term_id, *others]}
    if len(set(labels.values())) < n_options:
        return None
    question = f'Which term matches this definition: "{term.definition}"'
    return _mc_item("definition_mc", term_id, question, term_id, others, labels, rng)
