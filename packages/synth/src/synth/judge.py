"""Step 5, judging: gold-answer verification, a kb rubric, or an LLM rubric with swapped order."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from data_core.schemas import Completion, Instruction, Judgement
from generation import Generation, Generator, Request, Sampling

from synth.kb_teacher import option_scores
from synth.knowledge_base import KnowledgeBase
from synth.parse import extract_letter, parse_score

_WORD = re.compile(r"[a-z0-9]+")


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD-style token F1 between two texts."""
    pred, ref = _WORD.findall(prediction.lower()), _WORD.findall(gold.lower())
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def token_recall(prediction: str, gold: str) -> float:
    """Share of the gold answer's tokens the prediction contains (extra detail is not penalised)."""
    pred, ref = _WORD.findall(prediction.lower()), _WORD.findall(gold.lower())
    return sum((Counter(pred) & Counter(ref)).values()) / len(ref) if ref else 0.0


def verify(record: Instruction, text: str, open_threshold: float) -> bool | None:
    """Does the completion give the gold answer? None when the item has no gold to check."""
    if record.type in ("mc", "yesno") and record.answer:
        if record.type == "yesno":
            found = re.search(r"\b(yes|no|maybe)\b", text.lower())
            return bool(found) and found.group(1) == record.answer
        options = record.options or {}
        return extract_letter(text, "".join(options), options) == record.answer
    gold = record.meta.get("gold")
    return token_recall(text, gold) >= open_threshold if gold else None


def kb_score(
    kb: KnowledgeBase | None, record: Instruction, text: str, open_threshold: float
) -> tuple[float, str, bool | None]:
    """(score 1-10, rationale, verified) by verification plus knowledge-grounded partial credit."""
    verified = verify(record, text, open_threshold)
    words = len(text.split())
    if record.type == "mc" and record.options:
        letter = extract_letter(text, "".join(record.options), record.options)
        if letter is None:
            return 1.0, "no answer letter found", False
        gold_text = record.options[record.answer] if record.answer else ""
        if verified:
            grounded = gold_text.lower() in text.lower()
            value = 6 + 2 * grounded + 2 * min(1.0, words / 40)
            return (
                round(value, 2),
                (
                    f"correct ({letter}); rationale {'names' if grounded else 'omits'}"
                    f" the answer; {words} words"
                ),
                True,
            )
        plausibility = 0.0
        if kb is not None and record.meta.get("option_ids"):
            scores = option_scores(kb, record.meta)
            best, low = max(scores.values()), min(scores.values())
            plausibility = (scores[letter] - low) / (best - low) if best > low else 0.0
        return (
            round(1 + 3 * plausibility, 2),
            (f"wrong ({letter}, gold {record.answer}); plausibility {plausibility:.2f}"),
            False,
        )
    gold = record.meta.get("gold")
    if not gold:
        return 5.0, "no gold answer: neutral score", None
    recall, f1 = token_recall(text, gold), token_f1(text, gold)
    value = 1 + 9 * (0.8 * recall + 0.2 * f1)
    return (
        round(value, 2),
        f"gold-token recall {recall:.2f}, F1 {f1:.2f} vs the reference",
        verified,
    )


JUDGE_PROMPT = """\
You are grading answers to a medical question. Judge each response for correctness,
helpfulness and reasoning, on a 1-10 scale. Reply with one line per response, exactly:
Response <number>: <score>/10
then one line "Rationale: ..."

Question:
{question}
{reference}
{responses}"""


def judge_prompt(record: Instruction, texts: Sequence[str]) -> str:
    """The listwise rubric prompt for the responses in the given order."""
    ref = ""
    if record.answer:
        ref = f"Correct answer: {record.answer}" + (
            f". {record.options[record.answer]}" if record.options else ""
        )
    blocks = "\n\n".join(f"[Response {i + 1}]\n{t}" for i, t in enumerate(texts))
    return JUDGE_PROMPT.format(question=record.prompt_text, reference=ref, responses=blocks)


def parse_listwise(text: str, n: int) -> tuple[list[float | None], str]:
    """Scores per response position from "Response i: 7/10" lines; reasons for what failed."""
    scores: list[float | None] = [None] * n
    reasons = []
    for match in re.finditer(r"response\s*\[?(\d+)\]?\s*[:\-=]\s*([^\n]*)", text or "", flags=re.I):
        pos = int(match.group(1)) - 1
        if 0 <= pos < n and scores[pos] is None:
            value, why = parse_score(match.group(2))
            scores[pos] = value
            if value is None:
                reasons.append(f"response {pos + 1}: {why}")
    missing = [str(i + 1) for i, s in enumerate(scores) if s is None]
    if missing and not reasons:
        reasons.append(f"no score for responses {', '.join(missing)}")
    return scores, "; ".join(reasons)


def swapped_requests(
    record: Instruction, texts: list[str], rng: random.Random, seed: int
) -> tuple[list[list[int]], list[Request]]:
    """Judge twice: a random order, then its reverse. The two orders and their requests."""
    order = list(range(len(texts)))
    rng.shuffle(order)
    passes = [order, order[::-1]]
    sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=64 + 16 * len(texts))
    requests = [
        Request(
            [{"role": "user", "content": judge_prompt(record, [texts[i] for i in p])}],
            sampling,
            seed,
        )
        for p in passes
    ]
    return passes, requests


def swapped_scores(
    passes: list[list[int]], outputs: Sequence[Generation], n: int
) -> tuple[list[float | None], list[float | None], str]:
    """Both passes' scores in the responses' original order, and why any failed to parse."""
    results: list[list[float | None]] = []
    reasons = []
    for perm, gen in zip(passes, outputs, strict=True):
        by_position, why = parse_listwise(gen.text, n)
        original: list[float | None] = [None] * n
        for position, index in enumerate(perm):
            original[index] = by_position[position]
        results.append(original)
        if why:
            reasons.append(why)
    return results[0], results[1], "; ".join(reasons)


def agreement(first: list[float | None], second: list[float | None]) -> float | None:
    """Share of response pairs both passes order the same way (1.0 = no position effect)."""
    pairs = same = 0
    for i in range(len(first)):
        for j in range(i + 1, len(first)):
            a, b = (first[i], first[j]), (second[i], second[j])
            if None in a or None in b:
                continue
            pairs += 1
            same += (a[0] - a[1]) * (b[0] - b[1]) > 0 or (a[0] == a[1] and b[0] == b[1])
    return same / pairs if pairs else None


def judge(
    records: list[Instruction],
    completions: list[Completion],
    judge_name: str,
    kb: KnowledgeBase | None,
    backend: Generator | None,
    open_threshold: float,
    seed: int,
) -> tuple[list[Judgement], dict[str, Any]]:
    """One Judgement per completion (unparsed LLM verdicts are counted, with reasons)."""
    by_id = {r.id: r for r in records}
    grouped: dict[str, list[Completion]] = defaultdict(list)
    for c in completions:
        grouped[c.prompt_id].append(c)
    out: list[Judgement] = []
    stats: Counter[str] = Counter()
    agreements: list[float] = []
    examples: list[str] = []  # why verdicts could not be parsed (kept out of numeric metrics)
    rng = random.Random(seed)
    asked: list[tuple[str, Instruction, list[Completion], list[list[int]]]] = []
    requests_all: list[Request] = []
    for pid in sorted(grouped):
        record, group = by_id.get(pid), grouped[pid]
        if record is None:
            stats["unknown_prompt"] += len(group)
            continue
        if backend is None:
            for c in group:
                value, why, verified = kb_score(kb, record, c.text, open_threshold)
                out.append(
                    Judgement(
                        prompt_id=pid,
                        model=c.model,
                        sample=c.sample,
                        score=value,
                        rationale=why,
                        judge=judge_name,
                        verified=verified,
                    )
                )
            continue
        passes, requests = swapped_requests(record, [c.text for c in group], rng, seed)
        asked.append((pid, record, group, passes))
        requests_all += requests
    # Every prompt's two passes in one call: the backend keeps its concurrency bound busy and
    # commits each verdict as it arrives. Identical requests (a prompt whose answers read the
    # same in both orders) are asked once: the cache would store one answer for both.
    distinct = {repr(r): r for r in requests_all}
    answers = backend.generate(list(distinct.values())) if backend is not None else []
    by_request = dict(zip(distinct, answers, strict=True))
    outputs = [by_request[repr(r)] for r in requests_all]
    for k, (pid, record, group, passes) in enumerate(asked):
        first, second, why = swapped_scores(passes, outputs[2 * k : 2 * k + 2], len(group))
        if (a := agreement(first, second)) is not None:
            agreements.append(a)
        for c, s1, s2 in zip(group, first, second, strict=True):
            got = [s for s in (s1, s2) if s is not None]
            if not got:
                stats["unparsed"] += 1
                if len(examples) < 20:
                    examples.append(f"{pid}/{c.model}/{c.sample}: {why}")
                continue
            stats["single_pass"] += len(got) == 1
            out.append(
                Judgement(
                    prompt_id=pid,
                    model=c.model,
                    sample=c.sample,
                    score=sum(got) / len(got),
                    rationale=f"passes {s1}, {s2}",
                    judge=judge_name,
                    verified=verify(record, c.text, open_threshold),
                )
            )
    verified = [j.verified for j in out if j.verified is not None]
    agree_gold = gold_agreement(out)
    metrics: dict[str, Any] = {
        "judgements": len(out),
        "completions": len(completions),
        **stats,
        "verified_rate": round(sum(verified) / len(verified), 4) if verified else None,
        "unparsed_examples": examples,
        "gold_agreement": round(agree_gold, 4) if agree_gold is not None else None,
        "position_agreement": round(sum(agreements) / len(agreements), 4) if agreements else None,
        "score_mean_by_model": {m: round(sum(s) / len(s), 3) for m, s in _by_model(out).items()},
        "verified_rate_by_model": {m: round(sum(v) / len(v), 4) for m, v in _verified(out).items()},
    }
    return out, metrics


def gold_agreement(judgements: list[Judgement]) -> float | None:
    """Share of (verified, unverified) answer pairs to a prompt that the scores order correctly."""
    groups: dict[str, list[Judgement]] = defaultdict(list)
    for j in judgements:
        groups[j.prompt_id].append(j)
    pairs = right = 0
    for group in groups.values():
        good = [j.score for j in group if j.verified is True]
        bad = [j.score for j in group if j.verified is False]
        pairs += len(good) * len(bad)
        right += sum(g > b for g in good for b in bad)
    return right / pairs if pairs else None


def _by_model(judgements: list[Judgement]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for j in judgements:
        out[j.model].append(j.score)
    return dict(out)


def _verified(judgements: list[Judgement]) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = defaultdict(list)
    for j in judgements:
        if j.verified is not None:
            out[j.model].append(j.verified)
    return dict(out)
