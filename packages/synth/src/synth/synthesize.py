"""Step 1, seeds -> instructions: the kb teacher over HPO, or an LLM over text seeds."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from data_core.prompts import format_mc
from data_core.schemas import EvalItem, Instruction, Message, Passage
from generation import Generator, Request, Sampling
from tqdm import tqdm

from synth.config import SynthConfig
from synth.kb_teacher import definition_answer, finding_names, mc_rationale
from synth.knowledge_base import KnowledgeBase
from synth.questions import (
    definition_item,
    definition_mc_item,
    diagnosis_item,
    hierarchy_item,
    phenotype_item,
)

SOURCE = "synth-kb"


def reference_answer(kb: KnowledgeBase, item: dict[str, Any]) -> str:
    """The teacher's correct, detailed answer with its rationale."""
    meta = item["meta"]
    if meta["kind"] == "definition":
        return definition_answer(kb, meta["subject"], detailed=True)
    letter = item["answer"]
    return f"The answer is {letter}. {mc_rationale(kb, meta, letter, detailed=True)}"


def to_instruction(
    kb: KnowledgeBase, item: dict[str, Any], record_id: str, source: str = SOURCE
) -> Instruction:
    """A generated item -> an Instruction whose messages end with the reference answer."""
    options = item["options"]
    prompt = format_mc(item["question"], options) if options else item["question"]
    meta = {**item["meta"], "generator": "kb", "question": item["question"]}
    return Instruction(
        id=record_id,
        source=source,
        type="mc" if options else "open",
        messages=[
            Message(role="user", content=prompt),
            Message(role="assistant", content=reference_answer(kb, item)),
        ],
        options=options,
        answer=item["answer"],
        meta=meta,
    )


def answer_prefix(kb: KnowledgeBase, meta: dict[str, Any]) -> dict[str, str]:
    """A diagnosis item's answer opening in the findings_first style (evals prefill it)."""
    if meta.get("kind") != "diagnosis":
        return {}
    return {"answer_prefix": f"A patient with {finding_names(kb, meta['findings'])} may have"}


def _fill(
    count: int,
    subjects: list[str],
    make: Callable[[str], dict[str, Any] | None],
    label: str,
    rounds: int = 1,
) -> list[tuple[str, dict[str, Any]]]:
    """Up to `count` items, walking the subjects up to `rounds` times (new findings each round)."""
    out: list[tuple[str, dict[str, Any]]] = []
    with tqdm(total=count, desc=label, unit="item", mininterval=2.0) as bar:
        for _ in range(rounds):
            for subject in subjects:
                if len(out) >= count:
                    return out
                item = make(subject)
                if item is not None:
                    out.append((subject, item))
                    bar.update()
    return out


def _shuffled(ids: list[str], rng: random.Random) -> list[str]:
    ids = sorted(ids)
    rng.shuffle(ids)
    return ids


def _record_ids(prefix: str, filled: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """`<prefix>:<subject>`, with `#k` from a subject's second item on."""
    seen: Counter[str] = Counter()
    ids = []
    for subject, _ in filled:
        seen[subject] += 1
        suffix = f"#{seen[subject]}" if seen[subject] > 1 else ""
        ids.append(f"{prefix}:{subject}{suffix}")
    return ids


def synthesize_kb(
    kb: KnowledgeBase, cfg: SynthConfig
) -> tuple[list[Instruction], list[EvalItem], dict[str, Any]]:
    """Training instructions from the domain's train part; eval items from its dev/held-out parts.

    Disease questions (diagnosis, phenotype) are about training-part diseases only, with
    training-part distractors: every option of every training item is a disease the base read.
    """
    sc, rng = cfg.synthesize, random.Random(cfg.seed)
    lo, hi = sc.findings
    usable = {d for d, v in kb.diseases.items() if len(v.phenotypes) >= sc.min_phenotypes}
    part = {p: [d for d in kb.part_ids(p) if d in usable] for p in ("train", "dev", "heldout")}
    defined = [t for t, v in kb.terms.items() if v.definition]
    parented = [t for t, v in kb.terms.items() if v.parents]
    terms = lambda ids: [t for t in ids if not kb.is_heldout(t)]  # noqa: E731
    makers: dict[str, tuple[list[str], Callable[[str], dict[str, Any] | None]]] = {
        "diagnosis": (
            part["train"],
            lambda d: diagnosis_item(
                kb, d, rng, rng.randint(sc.n_options, sc.n_options_max), rng.randint(lo, hi)
            ),
        ),
        "phenotype": (part["train"], lambda d: phenotype_item(kb, d, rng, sc.n_options)),
        "hierarchy": (terms(parented), lambda t: hierarchy_item(kb, t, rng, sc.n_options)),
        "definition": (terms(defined), lambda t: definition_item(kb, t)),
    }
    instructions: list[Instruction] = []
    for kind in sorted(sc.counts):
        ids, make = makers[kind]
        filled = _fill(sc.counts[kind], _shuffled(ids, rng), make, kind, rounds=sc.max_per_subject)
        for record_id, (_, item) in zip(_record_ids(f"hpo-{kind}", filled), filled, strict=True):
            instructions.append(to_instruction(kb, item, record_id))
    evals: list[EvalItem] = []

    def vignette(scope: str) -> Callable[[str], dict[str, Any] | None]:
        return lambda d: diagnosis_item(kb, d, rng, 4, rng.randint(lo, hi), scope=scope)

    heldout_makers = {
        "hpo_diagnosis": (part["heldout"], cfg.heldout.diagnosis, vignette("any")),
        "hpo_diagnosis_heldout": (
            part["heldout"],
            cfg.heldout.diagnosis_heldout,
            vignette("heldout"),
        ),
        "hpo_diagnosis_dev": (part["dev"], cfg.heldout.diagnosis_dev, vignette("dev")),
        "hpo_definition": (
            [t for t in defined if kb.is_heldout(t)],
            cfg.heldout.definition,
            lambda t: definition_mc_item(kb, t, rng, 4),
        ),
    }
    for task, (ids, count, make) in heldout_makers.items():
        # dev items may repeat a disease with other findings: more items to choose a recipe on
        rounds = cfg.heldout.dev_per_subject if task == "hpo_diagnosis_dev" else 1
        filled = _fill(count, _shuffled(ids, rng), make, task, rounds=rounds)
        for item_id, (subject, item) in zip(_record_ids(task, filled), filled, strict=True):
            evals.append(
                EvalItem(
                    id=item_id,
                    task=task,
                    question=item["question"],
                    options=item["options"],
                    answer=item["answer"],
                    meta={
                        "subject": subject,
                        "source": "hpo",
                        "gold": item["meta"]["gold"],
                        "option_ids": item["meta"]["option_ids"],
                        **answer_prefix(kb, item["meta"]),
                    },
                )
            )
    counts = {
        "instructions": len(instructions),
        "heldout_eval": len(evals),
        "by_kind": dict(Counter(i.meta["kind"] for i in instructions)),
        "heldout_by_task": dict(Counter(e.task for e in evals)),
        "domain_by_part": {p: len(ids) for p, ids in part.items()},
        "terms_heldout": sum(kb.is_heldout(t) for t in defined),
    }
    return instructions, evals, counts


SEED_PROMPT = """You are a medical educator writing exam questions, as in the UltraMedical dataset.
Read the passage and write ONE challenging {style} question that tests understanding of it
(not recall of a sentence), answerable without seeing the passage. Return only JSON:
{{"question": "...", "options": {{"A": "...", "B": "...", "C": "...", "D": "..."}},
"answer": "<letter>", "explanation": "a short rationale"}}

Passage ({title}):
{text}"""


def parse_generated(text: str) -> dict[str, Any]:
    """The first JSON object in a model's reply, validated as a question; raises ValueError."""
    match = re.search(r"\{.*\}", text, flags=re.S)
    if not match:
        raise ValueError("no JSON object in the reply")
    data = json.loads(match.group(0))
    options = {str(k).strip().upper(): str(v) for k, v in (data.get("options") or {}).items()}
    answer = str(data.get("answer", "")).strip().upper()[:1]
    if not str(data.get("question", "")).strip() or len(options) < 2 or answer not in options:
        raise ValueError("question, >= 2 options and an answer among them are required")
    return {
        "question": data["question"].strip(),
        "options": options,
        "answer": answer,
        "explanation": str(data.get("explanation", "")).strip(),
    }


def generated_mc(
    record_id: str,
    source: str,
    item: dict[str, Any],
    answer: str,
    meta: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Instruction:
    """An MC instruction from a generator's parsed item (`parse_generated`): meta, then the gold
    and question the judge reads, then `extra`."""
    gold = {"gold": item["options"][item["answer"]], "question": item["question"]}
    return Instruction(
        id=record_id,
        source=source,
        type="mc",
        messages=[
            Message(role="user", content=format_mc(item["question"], item["options"])),
            Message(role="assistant", content=answer),
        ],
        options=item["options"],
        answer=item["answer"],
        meta=meta | gold | (extra or {}),
    )


def synthesize_llm(
    backend: Generator, seeds: list[Passage], cfg: SynthConfig
) -> tuple[list[Instruction], dict[str, Any]]:
    """Instructions written by an LLM from text seeds; unparseable replies are counted, not kept."""
    seeds = seeds[: cfg.synthesize.max_seeds]
    sampling = Sampling(temperature=0.8, top_p=0.95, max_tokens=512)
    requests = [
        Request(
            [
                {
                    "role": "user",
                    "content": SEED_PROMPT.format(
                        style="multiple-choice", title=p.title or p.source, text=p.text
                    ),
                }
            ],
            sampling,
            cfg.seed,
        )
        for p in seeds
    ]
    out, rejected = [], Counter()
    for seed, generation in zip(seeds, backend.generate(requests), strict=True):
        try:
            item = parse_generated(generation.text)
        except (ValueError, json.JSONDecodeError, AttributeError) as exc:
            rejected[type(exc).__name__] += 1
            continue
        answer = f"The answer is {item['answer']}. {item['explanation']}".strip()
        meta = {"kind": "seed_mc", "subject": seed.id, "generator": backend.model}
        source = f"synth-{backend.kind}"
        out.append(generated_mc(f"{source}:{seed.id}", source, item, answer, meta))
    return out, {"instructions": len(out), "seeds": len(seeds), "rejected": dict(rejected)}
