"""The report's data funnel: the record counts a reader follows through the pipeline, each with
the metrics file and key it comes from, and per screening stage the texts screened against the
benchmarks and removed for matching one (metrics/contamination.json `stages`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from data_core.screen import RULE_REASONS
from data_core.tracking import flatten

# (metrics file stem, dotted key, label): the record counts a reader follows through the pipeline
FUNNEL_KEYS = [
    ("ingest", "total.read", "ingest: records read"),
    ("ingest", "total.kept", "ingest: kept"),
    ("ingest", "hpo.diseases", "ingest: HPO diseases"),
    ("ingest", "hpo.terms_kept", "ingest: HPO terms"),
    ("decontaminate", "instructions.read", "decontaminate: instructions in"),
    ("decontaminate", "instructions.kept", "decontaminate: instructions kept"),
    ("synthesize", "instructions", "synthesize: instructions"),
    ("synthesize", "heldout_eval", "synthesize: held-out eval items"),
    ("evolve", "total", "evolve: instructions"),
    ("score", "kept", "score: kept"),
]
SCREEN_ORDER = ("decontaminate", "build", "reward", "online_dpo")  # pipeline order
KIND_LABELS = {"online_response": "responses", "reward_pair": "extra pairs"}  # else "<kind>s"
BENCHMARK_REASONS = frozenset(RULE_REASONS.values())  # not the duplicates decontaminate drops


def load_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def screening(stages: dict[str, Any]) -> list[dict[str, Any]]:
    """metrics/contamination.json `stages` as rows in pipeline order: stage, kind, screened,
    removed for a benchmark match, removed as duplicates, kept."""
    order = [s for s in SCREEN_ORDER if s in stages] + sorted(set(stages) - set(SCREEN_ORDER))
    rows = []
    for stage in order:
        for kind, c in sorted(stages[stage].items()):
            matched = sum(n for r, n in c["removed"].items() if r in BENCHMARK_REASONS)
            rows.append(
                {
                    "stage": stage,
                    "kind": kind,
                    "screened": c["screened"],
                    "matched": matched,
                    "duplicates": sum(c["removed"].values()) - matched,
                    "kept": c["kept"],
                }
            )
    return rows


def screening_rows(rel: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Funnel rows per screening stage and kind: texts screened, removed for a benchmark match."""
    rows = []
    for r in screening(data.get("stages") or {}):
        key, stage = f"stages.{r['stage']}.{r['kind']}", r["stage"]
        kind = KIND_LABELS.get(r["kind"], f"{r['kind']}s")
        for label, count, field in (
            (f"{stage}: {kind} screened", r["screened"], "screened"),
            (f"{stage}: {kind} removed (benchmark match)", r["matched"], "removed"),
        ):
            rows.append({"label": label, "count": count, "source": f"{rel}:{key}.{field}"})
    return rows


def funnel_rows(root: Path, files: list[str]) -> list[dict[str, Any]]:
    """Known counts from the data stages' metrics files that exist (the screening counts of
    metrics/contamination.json); other files' top-level ints."""
    rows = []
    for rel in files:
        data = load_json(root / rel)
        if data is None:
            continue
        stem, flat = Path(rel).stem, flatten(data)
        if stem == "contamination":
            rows += screening_rows(rel, data)
            continue
        known = [(k, label) for s, k, label in FUNNEL_KEYS if s == stem]
        if not known:  # a stage we do not know yet: its top-level counts
            known = [(k, f"{stem}: {k}") for k, v in data.items() if isinstance(v, int)]
        for key, label in known:
            if isinstance(flat.get(key), int) and not isinstance(flat.get(key), bool):
                rows.append({"label": label, "count": flat[key], "source": f"{rel}:{key}"})
    return rows
