"""Step 2, Evol-Instruct over instructions: in depth (harder) and breadth (new forms)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from data_core.schemas import Instruction
from generation import Generator, Request, Sampling, as_messages

from synth.config import SynthConfig
from synth.knowledge_base import KnowledgeBase
from synth.questions import LETTERS, definition_mc_item, pick_findings, vignette_text
from synth.synthesize import generated_mc, parse_generated, to_instruction

CONSTRAINTS = {
    "mc": "Justify the choice by naming the finding that best separates "
    "the two most likely options.",
    "open": "Answer in at most two sentences and place the term in its broader category.",
}
APPLIES = {
    "more_findings": {"diagnosis"},
    "negative_findings": {"diagnosis"},
    "harder_distractors": {"diagnosis"},
    "add_constraint": {"diagnosis", "phenotype", "hierarchy", "definition", "definition_mc"},
    "definition_to_mc": {"definition"},
}


def _item(record: Instruction) -> dict[str, Any]:
    meta = {k: v for k, v in record.meta.items() if k not in ("generator", "question")}
    return {
        "question": record.meta.get("question", record.prompt_text),
        "meta": meta,
        "options": record.options,
        "answer": record.answer,
    }


def evolve_kb(
    kb: KnowledgeBase, record: Instruction, op: str, rng: random.Random
) -> dict[str, Any] | None:
    """One deterministic evolution of a kb instruction, or None when it does not apply."""
    item = _item(record)
    meta = dict(item["meta"])
    if op == "definition_to_mc":
        return definition_mc_item(kb, meta["subject"], rng, len(LETTERS[:4]))
    if op == "add_constraint":
        meta["constraint"] = CONSTRAINTS["mc" if item["options"] else "open"]
        question = item["question"] if meta["kind"] != "diagnosis" else None
        item["question"] = question + " " + meta["constraint"] if question else ""
    disease = kb.diseases.get(meta["subject"])
    if op == "more_findings" and disease:
        extra = [
            h
            for h in pick_findings(disease, len(disease.phenotypes), rng)
            if h not in meta["findings"]
        ][:2]
        if not extra:
            return None
        meta["findings"] = [*meta["findings"], *extra]
    if op == "negative_findings" and disease:
        others = [o for o in meta["option_ids"].values() if o != meta["subject"]]
        cand = sorted(
            {h for o in others for h in kb.diseases[o].phenotype_ids}
            - disease.phenotype_ids
            - kb.ancestors_of_set(disease.phenotype_ids)
        )
        if not cand:
            return None
        meta["negative"] = rng.sample(cand, min(2, len(cand)))
    if op == "harder_distractors" and disease:
        k = len(meta["option_ids"]) - 1
        others = kb.distractor_diseases(meta["subject"], meta["findings"], k, rng, pool=k)
        if len(others) < k or set(others) == set(meta["option_ids"].values()) - {meta["subject"]}:
            return None
        ids = [meta["subject"], *others]
        rng.shuffle(ids)
        meta["option_ids"] = {LETTERS[i]: x for i, x in enumerate(ids)}
        item["options"] = {k: kb.diseases[v].name for k, v in meta["option_ids"].items()}
        item["answer"] = next(k for k, v in meta["option_ids"].items() if v == meta["subject"])
    if meta["kind"] == "diagnosis":
        item["question"] = vignette_text(kb, meta)
    item["meta"] = meta
    return item


EVOLVE_PROMPT = """\
Rewrite the exam question below into a harder version ({op}), as in Evol-Instruct:
keep it medically correct and answerable, keep one best answer. Return only JSON:
{{"question": "...", "options": {{"A": "...", ...}}, "answer": "<letter>", "explanation": "..."}}

Question:
{question}"""


def evolve(
    records: list[Instruction],
    cfg: SynthConfig,
    kb: KnowledgeBase | None,
    backend: Generator | None = None,
) -> tuple[list[Instruction], dict[str, Any]]:
    """Parents plus one evolved child for a `fraction` of them; children keep `meta.parent`."""
    rng = random.Random(cfg.seed + 1)
    ops = cfg.evolve.operations
    picked: list[tuple[Instruction, str]] = []
    for record in records:
        if rng.random() >= cfg.evolve.fraction:
            continue
        kind = record.meta.get("kind", "")
        usable = [op for op in ops if kind in APPLIES.get(op, ())] if backend is None else ops
        if usable:
            picked.append((record, rng.choice(usable)))
    children: list[Instruction] = []
    skipped: Counter[str] = Counter()
    if backend is None:
        assert kb is not None
        for record, op in picked:
            item = evolve_kb(kb, record, op, random.Random(f"{cfg.seed}:{record.id}:{op}"))
            if item is None:
                skipped[op] += 1
                continue
            child = to_instruction(kb, item, f"{record.id}~{op}", record.source)
            child.meta.update(
                parent=record.id, evolution=op, depth=int(record.meta.get("depth", 0)) + 1
            )
            children.append(child)
    else:
        requests = [
            Request(
                [
                    {
                        "role": "user",
                        "content": EVOLVE_PROMPT.format(
                            op=op.replace("_", " "), question=r.prompt_text
                        ),
                    }
                ],
                Sampling(temperature=0.7, max_tokens=512),
                cfg.seed,
            )
            for r, op in picked
        ]
        for (record, op), gen in zip(picked, backend.generate(requests), strict=True):
            try:
                item = parse_generated(gen.text)
            except ValueError:
                skipped[op] += 1
                continue
            answer = f"The answer is {item['answer']}. {item['explanation']}"
            prompt = as_messages(record.messages)[0]["content"]
            meta = {**record.meta, "parent": record.id, "evolution": op}
            extra = {"generator": backend.model, "parent_prompt": prompt[:200]}
            record_id = f"{record.id}~{op}"
            children.append(generated_mc(record_id, record.source, item, answer, meta, extra))
    counts = {
        "parents": len(records),
        "evolved": len(children),
        "by_operation": dict(Counter(c.meta["evolution"] for c in children)),
        "skipped": dict(skipped),
    }
    return [*records, *children], counts
