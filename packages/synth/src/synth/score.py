"""Step 3, difficulty and quality annotation (kb measure or LLM rubric), then selection."""

from __future__ import annotations

from collections import Counter
from typing import Any

from data_core.schemas import Instruction
from generation import Generator, Request, Sampling

from synth.config import ScoreConfig
from synth.kb_teacher import option_scores
from synth.knowledge_base import KnowledgeBase
from synth.parse import parse_labeled


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def kb_difficulty(kb: KnowledgeBase, record: Instruction) -> tuple[float, str]:
    """1-10 from how close the distractors are to the answer in the knowledge base."""
    meta = record.meta
    kind = meta.get("kind")
    extra = 0.5 * max(0, len(record.options or {}) - 4)
    if kind == "diagnosis":
        findings = set(meta["findings"])
        shares = [
            len(findings & kb.diseases[o].phenotype_ids) / len(findings)
            for o in meta["option_ids"].values()
            if o != meta["subject"]
        ]
        closeness = 0.6 * max(shares) + 0.4 * sum(shares) / len(shares)
        negatives = len(meta.get("negative") or ())
        value = 1 + 9 * closeness + extra - 0.5 * negatives
        why = (
            f"closest distractor explains {max(shares):.0%} of {len(findings)} findings, "
            f"mean {sum(shares) / len(shares):.0%}; {negatives} negative findings"
        )
    elif kind in ("phenotype", "hierarchy", "definition_mc"):
        answer = meta["option_ids"][record.answer]
        lineage = set(kb.ancestors(answer)) | {answer}
        sims = [
            _jaccard(lineage, set(kb.ancestors(o)) | {o})
            for o in meta["option_ids"].values()
            if o != answer
        ]
        value = 1 + 9 * (0.5 * max(sims) + 0.5 * sum(sims) / len(sims)) + extra
        mean = sum(sims) / len(sims)
        why = f"distractor/answer ancestor overlap max {max(sims):.2f}, mean {mean:.2f}"
    elif kind == "definition":
        depth = len(kb.ancestors(meta["subject"]))
        value = 1 + 9 * min(1.0, depth / 15)
        why = f"term has {depth} ancestors (more specific terms are harder to define)"
    else:
        return 5.0, "no knowledge-base measure for this kind: neutral difficulty"
    if meta.get("constraint"):
        value += 0.5
        why += "; answer constraint"
    return round(min(10.0, max(1.0, value)), 2), why


def kb_quality(kb: KnowledgeBase, record: Instruction) -> tuple[float, str]:
    """1-10 from checks a knowledge base can make: unique solution, sound reference answer."""
    problems = []
    meta = record.meta
    reference = record.messages[-1].content if record.messages[-1].role == "assistant" else ""
    if record.type == "mc" and meta.get("option_ids"):
        scores = option_scores(kb, meta)
        best = max(scores.values())
        winners = [k for k, v in scores.items() if v == best]
        if winners != [record.answer]:
            problems.append(f"knowledge base supports {winners}, gold is {record.answer}")
        if len(set(record.options.values())) < len(record.options):
            problems.append("duplicate option texts")
        if not reference.startswith(f"The answer is {record.answer}."):
            problems.append("reference answer does not state the gold letter")
    if not reference:
        problems.append("no reference answer")
    elif len(reference.split()) < 6:
        problems.append("reference answer too short")
    if len(record.prompt_text.split()) < 6:
        problems.append("question too short")
    quality = 10.0 - 3.0 * len(problems)
    return max(1.0, quality), "; ".join(
        problems
    ) or "unique knowledge-base solution; sound reference"


RUBRIC = """Rate this medical exam question for a question bank.
Difficulty (1-10): how much expert reasoning it needs. \
Quality (1-10): clear, correct, one best answer.
Reply as:
Difficulty: <n>/10
Quality: <n>/10
Rationale: <one sentence>

Question:
{question}

Reference answer:
{answer}"""


def llm_scores(
    backend: Generator, records: list[Instruction], seed: int
) -> list[tuple[float | None, float | None, str]]:
    """(difficulty, quality, rationale or parse failure) per record from an LLM rubric."""
    requests = [
        Request(
            [
                {
                    "role": "user",
                    "content": RUBRIC.format(question=r.prompt_text, answer=r.messages[-1].content),
                }
            ],
            Sampling(temperature=0.0, max_tokens=200),
            seed,
        )
        for r in records
    ]
    out = []
    for gen in backend.generate(requests):
        difficulty, why_d = parse_labeled(gen.text, "difficulty")
        quality, why_q = parse_labeled(gen.text, "quality")
        rationale = (
            gen.text.split("Rationale:", 1)[-1].strip()[:500]
            if "Rationale:" in gen.text
            else "; ".join(w for w in (why_d, why_q) if w) or gen.text[:200]
        )
        out.append((difficulty, quality, rationale))
    return out


def score(
    records: list[Instruction],
    cfg: ScoreConfig,
    kb: KnowledgeBase | None,
    backend: Generator | None = None,
    seed: int = 0,
) -> tuple[list[Instruction], dict[str, Any]]:
    """Annotate every record, then keep those passing the params' thresholds."""
    dropped: Counter[str] = Counter()
    if backend is None:
        assert kb is not None
        annotated = [_kb_pair(kb, r) for r in records]
    else:
        annotated = llm_scores(backend, records, seed)
    kept: list[Instruction] = []
    per_kind: Counter[str] = Counter()
    for record, (difficulty, quality, rationale) in zip(records, annotated, strict=True):
        if difficulty is None or quality is None:
            dropped["unparsed"] += 1
            continue
        if quality < cfg.min_quality:
            dropped["low_quality"] += 1
            continue
        if not cfg.min_difficulty <= difficulty <= cfg.max_difficulty:
            dropped["difficulty_out_of_range"] += 1
            continue
        kind = record.meta.get("kind", "other")
        if cfg.max_per_kind and per_kind[kind] >= cfg.max_per_kind:
            dropped["over_kind_quota"] += 1
            continue
        per_kind[kind] += 1
        kept.append(
            record.model_copy(
                update={
                    "difficulty": difficulty,
                    "meta": {**record.meta, "quality": quality, "score_rationale": rationale},
                }
            )
        )
    diffs = [r.difficulty for r in kept]
    counts = {
        "scored": len(records),
        "kept": len(kept),
        "dropped": dict(dropped),
        "kept_by_kind": dict(per_kind),
        "difficulty_mean": round(sum(diffs) / len(diffs), 3) if diffs else None,
        "difficulty_hist": dict(sorted(Counter(int(d) for d in diffs).items())),
    }
    return kept, counts


def _kb_pair(kb: KnowledgeBase, record: Instruction) -> tuple[float, float, str]:
    difficulty, why_d = kb_difficulty(kb, record)
    quality, why_q = kb_quality(kb, record)
    return difficulty, quality, f"difficulty: {why_d}. quality: {why_q}"
