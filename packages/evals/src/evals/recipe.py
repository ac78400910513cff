"""The report's opening question, "Does the recipe work?": held-out knowledge, stage by stage.

One row per held-out task run (a task in one format), one column per model in recipe order, each
with its bootstrap interval, then the paired comparisons (difference, McNemar p) that
`evaluate.comparisons` computed on the same items. A second table splits accuracy by evidence
(metrics/diagnosis.json): did the base read the gold disease, how many distractors were SFT answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FORMATS = {
    "": "natural: base cloze; chat models in their template, answer opened as taught",
    "_letters": "letters, in each model's template",
    "_greedy": "greedy generation, in each model's template",
    "_cloze": "option texts, every model as cloze",
    "_primed": "option texts after the answer's opening, every model as cloze (knowledge probe)",
}


def format_of(key: str, task: str) -> str:
    """What a task run's key says about its format (e.g. hpo_diagnosis_cloze -> all-cloze)."""
    return FORMATS.get(key.removeprefix(task), key.removeprefix(task).lstrip("_"))


def recipe_rows(ev: Mapping[str, Any], keys: Sequence[str], models: Sequence[str]) -> list[dict]:
    """Per held-out task run: accuracy cells per model and the paired comparisons."""
    rows = []
    for key in keys:
        info = ev["tasks"].get(key)
        if info is None:
            continue
        cells = []
        for m in models:
            cell = ev["models"].get(m, {}).get(key)
            cells.append(
                None
                if cell is None
                else {k: cell.get(k) for k in ("acc", "acc_low", "acc_high", "unparsed")}
            )
        comparisons = {
            name: {k: per[key][k] for k in ("diff", "low", "high", "mcnemar_p")}
            for name, per in ev.get("comparisons", {}).items()
            if key in per
        }
        rows.append(
            {
                "key": key,
                "task": info["task"],
                "format": format_of(key, info["task"]),
                "items": info["items"],
                "cells": cells,
                "comparisons": comparisons,
            }
        )
    return rows


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def recipe_markdown(
    rows: list[dict], models: Sequence[str], diagnosis: Mapping | None
) -> list[str]:
    """Markdown lines of the section (tables and how to read them)."""
    if not rows:
        return []
    names = sorted({n for r in rows for n in r["comparisons"]})
    lines = [
        "## Does the recipe work?",
        "",
        "Held-out knowledge: diseases the base read during pretraining and that no instruction or "
        "preference pair is about. Accuracy % [95% bootstrap CI]; comparisons are paired on the "
        "same items (difference in points, McNemar p). Chance is 25%.",
        "",
        "| task | format | n | " + " | ".join(models) + " | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * (len(models) + len(names)),
    ]
    for r in rows:
        cells = [
            f"{_pct(c['acc'])} [{_pct(c['acc_low'])}, {_pct(c['acc_high'])}]" if c else "–"
            for c in r["cells"]
        ]
        comps = [
            f"{100 * r['comparisons'][n]['diff']:+.1f} (p={r['comparisons'][n]['mcnemar_p']:.2g})"
            if n in r["comparisons"]
            else "–"
            for n in names
        ]
        lines.append(
            f"| {r['task']} | {r['format']} | {r['items']} | " + " | ".join(cells + comps) + " |"
        )
    if diagnosis:
        lines += ["", *diagnosis_markdown(diagnosis)]
    return lines


def diagnosis_markdown(diagnosis: Mapping[str, Any]) -> list[str]:
    """Accuracy split by whether the base read the gold and by SFT-answer distractors."""
    lines = [
        "Why: accuracy % (items) by whether the base read the gold answer's facts, and by how many "
        "distractors were answers of SFT records; `prior` is how often the model chose an option "
        "that was an SFT answer.",
        "",
        "| task | model | read | unread | 0 SFT-answer distractors | 1 | 2+ | prior |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, data in diagnosis.items():
        for model, b in data["models"].items():
            read, counts = b["by_gold_read"], b["by_answer_distractors"]
            two_plus = [v for k, v in counts.items() if int(k) >= 2]
            n2 = sum(v["n"] for v in two_plus)
            acc2 = sum(v["acc"] * v["n"] for v in two_plus) / n2 if n2 else None
            cell = lambda v: f"{_pct(v['acc'])} ({v['n']})" if v else "–"  # noqa: E731
            lines.append(
                f"| {task} | {model} | {cell(read.get('read'))} | {cell(read.get('unread'))} | "
                f"{cell(counts.get('0'))} | {cell(counts.get('1'))} | "
                f"{cell({'acc': acc2, 'n': n2} if n2 else None)} | "
                f"{_pct(b['all']['chose_training_answer'])} |"
            )
    return lines
