"""The kb teacher: answers HPO questions from the knowledge base; `error_rate` makes it noisy.

A synth thing (it reads the knowledge base) behind the generation interface, like any LLM.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from typing import Any

from generation import Generation, Generator, Request, request_key

from synth.knowledge_base import KnowledgeBase

UNKNOWN = "I cannot answer this from the Human Phenotype Ontology."


def option_scores(kb: KnowledgeBase, meta: dict[str, Any]) -> dict[str, float]:
    """How well each option fits the question, by the knowledge base (higher is better)."""
    kind, subject, option_ids = meta["kind"], meta["subject"], meta["option_ids"]
    scores: dict[str, float] = {}
    for letter, oid in option_ids.items():
        if kind == "diagnosis":
            pheno = kb.diseases[oid].phenotype_ids if oid in kb.diseases else frozenset()
            scores[letter] = len(pheno & set(meta["findings"])) - 1.5 * len(
                pheno & set(meta.get("negative") or ())
            )
        elif kind == "phenotype":
            scores[letter] = float(oid in kb.diseases[subject].phenotype_ids)
        elif kind == "hierarchy":
            scores[letter] = float(oid in kb.ancestors(subject))
        else:  # definition_mc: the option that is the defined term
            scores[letter] = float(oid == subject)
    return scores


def finding_names(kb: KnowledgeBase, ids: Sequence[str]) -> str:
    """Phenotype names as the knowledge text writes them: lower case, "a, b and c"."""
    return _names(kb, ids)


def _names(kb: KnowledgeBase, ids: Sequence[str]) -> str:
    names = [kb.terms[i].name.lower() if i in kb.terms else i for i in ids]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def mc_rationale(kb: KnowledgeBase, meta: dict[str, Any], letter: str, detailed: bool) -> str:
    """Why option `letter` is (claimed to be) right, grounded in its knowledge-base facts."""
    kind, oid = meta["kind"], meta["option_ids"][letter]
    if kind == "diagnosis":
        disease = kb.diseases[oid]
        shared = [h for h in meta["findings"] if h in disease.phenotype_ids] or meta["findings"][:1]
        text = f"{disease.name} is characterised by {_names(kb, shared)}, which fits this patient."
        if detailed:
            others = [o for k, o in meta["option_ids"].items() if k != letter and o in kb.diseases]
            text += (
                f" The other options ({'; '.join(kb.diseases[o].name for o in others)}) "
                "share some of these features but do not account for all of them."
            )
            if meta.get("negative"):
                text += f" The absence of {_names(kb, meta['negative'])} also argues against them."
        return text
    if kind == "phenotype":
        disease = kb.diseases[meta["subject"]]
        text = f"{kb.terms[oid].name if oid in kb.terms else oid} is annotated as a feature of "
        text += f"{disease.name} in the Human Phenotype Ontology."
        if detailed:
            text += " The other options are features of related disorders, not of this one."
        return text
    if kind == "hierarchy":
        child, parent = kb.terms[meta["subject"]], kb.terms[oid]
        text = f"'{child.name}' is a more specific kind of '{parent.name}'."
        if detailed and parent.definition and not kb.is_heldout(parent.id):
            # Held-out definitions only ever appear in the held-out eval (hpo_definition).
            text += f" '{parent.name}' is defined as: {parent.definition}"
        return text
    term = kb.terms[oid]
    text = f"The definition describes '{term.name}'."
    if detailed and term.parents and term.parents[0] in kb.terms:
        text += f" It is a subclass of '{kb.terms[term.parents[0]].name}'."
    return text


def definition_answer(kb: KnowledgeBase, term_id: str, detailed: bool) -> str:
    """An open answer giving a term's definition (and its place in the hierarchy if detailed)."""
    term = kb.terms[term_id]
    text = f"'{term.name}' means: {term.definition}"
    if detailed and term.parents and term.parents[0] in kb.terms:
        parent = kb.terms[term.parents[0]].name
        text += f" In the Human Phenotype Ontology it is a subclass of '{parent}'."
    return text


def option_label(kb: KnowledgeBase, option_id: str) -> str:
    """The text an option shows: a disease's or a term's name."""
    if option_id in kb.diseases:
        return kb.diseases[option_id].name
    return kb.terms[option_id].name if option_id in kb.terms else option_id


def teacher_answer(
    kb: KnowledgeBase,
    meta: dict[str, Any],
    rng: random.Random,
    error_rate: float,
    detailed: bool,
    style: str = "letter",
) -> str:
    """Solve a question from the knowledge base; with probability `error_rate` answer wrongly."""
    wrong = rng.random() < error_rate
    if meta["kind"] == "definition":
        term = kb.terms[meta["subject"]]
        target = term.id
        if wrong:  # a sibling's definition: plausible, on topic, and wrong
            sibs = sorted({c for p in term.parents for c in kb.children.get(p, ())} - {term.id})
            sibs = [s for s in sibs if kb.terms[s].definition and not kb.is_heldout(s)]
            if sibs:
                target = rng.choice(sibs)
        text = definition_answer(kb, target, detailed)
        return text.replace(f"'{kb.terms[target].name}'", f"'{term.name}'", 1)
    scores = option_scores(kb, meta)
    best = max(scores.values())
    right = sorted(k for k, v in scores.items() if v == best)
    letter = rng.choice(right)
    if wrong:
        rest = sorted((k for k in scores if k not in right), key=lambda k: (-scores[k], k))
        if rest:  # usually the runner-up (a near miss), sometimes any other option
            letter = rest[0] if rng.random() < 0.6 else rng.choice(rest)
    answer = f"The answer is {letter}. {mc_rationale(kb, meta, letter, detailed)}"
    label = option_label(kb, meta["option_ids"][letter])
    if style == "findings_first" and meta["kind"] == "diagnosis":
        # the findings, then the diagnosis, in the words a pretrained base read its facts in; the
        # answer is the option's text (no letter: a small model names diseases, not letters)
        return f"A patient with {finding_names(kb, meta['findings'])} may have {label}."
    if style in ("option_first", "findings_first"):  # the option's text first: what a model recalls
        return f"{label}. {answer}"
    return answer


# The teacher's revision: part of its model name, so of every cache key and sampling seed. Bump it
# when a change to this module or `synth.knowledge_base` changes what the teacher answers (the
# snapshot test in tests/synth/test_kb_teacher.py fails then); a change of layout, names or place
# changes nothing.
KB_TEACHER_REVISION = "2"


def teacher_fingerprint(kb: KnowledgeBase) -> str:
    """Identity of the teacher for cache keys: its revision, the knowledge base size and split.

    Like a model's weights, a change to either must not be answered from old cache rows.
    """
    parts = [KB_TEACHER_REVISION, f"{len(kb.diseases)}:{len(kb.terms)}"]
    parts.append(kb.domain_cfg.model_dump_json())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


class KbTeacher(Generator):
    """Deterministic given the request (seed and sample included), like a seeded LLM."""

    kind = "kb"
    stream_batch = 1  # each answer is computed alone, so each can be committed alone

    def __init__(
        self,
        kb: KnowledgeBase,
        error_rate: float = 0.0,
        detail_rate: float = 0.5,
        latency_s: float = 0.0,
        model: str | None = None,
        answer_style: str = "letter",
    ) -> None:
        name = model or ("kb" if error_rate == 0 else f"kb-noisy-{error_rate:g}")
        style = "" if answer_style == "letter" else f"+{answer_style}"
        super().__init__(f"{name}{style}@{teacher_fingerprint(kb)}")
        self.answer_style = answer_style
        self.kb, self.error_rate, self.detail_rate = kb, error_rate, detail_rate
        self.latency_s = latency_s  # simulated teacher latency (used by the crash test)

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """Answer each request from its grounding context."""
        out = []
        for request in requests:
            start = time.perf_counter()
            if self.latency_s:
                time.sleep(self.latency_s)
            seed = int(request_key(self.kind, self.model, request)[:16], 16)
            rng = random.Random(seed)
            meta = request.context
            subject = meta.get("subject")
            if not meta.get("kind") or (
                subject not in self.kb.diseases and subject not in self.kb.terms
            ):
                text, reason = UNKNOWN, "no_knowledge"
            else:
                detailed = rng.random() < self.detail_rate
                text = teacher_answer(
                    self.kb, meta, rng, self.error_rate, detailed, self.answer_style
                )
                reason = "stop"
            self.stats["calls"] += 1
            prompt_tokens = sum(len(m["content"].split()) for m in request.messages)
            out.append(
                Generation(
                    text, reason, prompt_tokens, len(text.split()), time.perf_counter() - start
                )
            )
        return out
