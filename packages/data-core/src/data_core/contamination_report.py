"""The `contamination` stage: every screening stage's removal table and counts, reconciled, as one
table (`paths.removed`) and one report (metrics/contamination.json).

It reads only what the screening stages wrote (Parquet and JSON, with polars): no index, no model.
A stage's counts must add up (screened = kept + removed, per kind) and agree with its table row
for row by kind and reason; any disagreement stops the stage and names the files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from data_core.errors import DataCoreError
from data_core.io import atomic_path
from data_core.paths import StagePaths
from data_core.screen import REMOVAL_SCHEMA

Counts = dict[str, dict[str, Any]]  # kind -> {"screened": n, "removed": {reason: n}, "kept": n}
EXAMPLES = 20


class ReconciliationError(DataCoreError):
    """A stage's removal table and its metrics disagree, or its counts do not add up."""


def decontaminate_counts(metrics: dict[str, Any]) -> Counts | None:
    """metrics/decontaminate.json: `instructions` / `passages` with read, kept, removed."""
    out = {}
    for plural in ("instructions", "passages"):
        if (c := metrics.get(plural)) is not None:
            removed = {reason: n for reason, n in sorted(c["removed"].items()) if n}
            out[plural[:-1]] = {"screened": c["read"], "removed": removed, "kept": c["kept"]}
    return out


def nested_counts(metrics: dict[str, Any]) -> Counts | None:
    """A stage that reports data_core.screen's counts under `contamination` (build, online_dpo)."""
    if "contamination" not in metrics:
        raise ReconciliationError("no `contamination` counts (re-run the stage)")
    return metrics["contamination"]


def reward_counts(metrics: dict[str, Any]) -> Counts | None:
    """metrics/reward.json `extra_sources` (per source: read, quarantined, kept, removed); None
    without extra pair files. Quarantined pairs were never screened."""
    sources = metrics.get("extra_sources") or {}
    if not sources:
        return None
    removed: Counter[str] = Counter()
    for c in sources.values():
        removed.update(c["removed"])
    screened = sum(c["read"] - c["quarantined"] for c in sources.values())
    kept = sum(c["kept"] for c in sources.values())
    reasons = dict(sorted(removed.items()))
    return {"reward_pair": {"screened": screened, "removed": reasons, "kept": kept}}


@dataclass(frozen=True)
class StageScreen:
    """Where one screening stage left its results."""

    stage: str
    metrics: Path
    table: Path | None  # None: the stage keeps counts only (reward's extra pair files)
    counts: Callable[[dict[str, Any]], Counts | None]  # None: it screened nothing this time


def pipeline_screens(paths: StagePaths) -> list[StageScreen]:
    """Every stage that screens training text, in pipeline order."""
    metrics = paths["metrics"]
    return [
        StageScreen(
            "decontaminate",
            metrics / "decontaminate.json",
            paths["clean.removed"],
            decontaminate_counts,
        ),
        StageScreen("build", metrics / "build.json", paths["synth.removed"], nested_counts),
        StageScreen(
            "online_dpo", metrics / "online_dpo.json", paths["synth.online_removed"], nested_counts
        ),
        StageScreen("reward", metrics / "reward.json", None, reward_counts),
    ]


def _read_counts(screen: StageScreen) -> Counts | None:
    if not screen.metrics.is_file():
        raise ReconciliationError(f"{screen.metrics}: not found (run the `{screen.stage}` stage)")
    try:
        counts = screen.counts(json.loads(screen.metrics.read_text(encoding="utf-8")))
    except ReconciliationError as exc:
        raise ReconciliationError(f"{screen.metrics}: {exc}") from exc
    for kind, c in (counts or {}).items():
        removed = sum(c["removed"].values())
        if c["screened"] != c["kept"] + removed:
            raise ReconciliationError(
                f"{screen.metrics}: {screen.stage} {kind}: screened {c['screened']} != "
                f"kept {c['kept']} + removed {removed}"
            )
    return counts


def _read_table(screen: StageScreen, counts: Counts) -> pl.DataFrame:
    assert screen.table is not None
    if not screen.table.is_file():
        raise ReconciliationError(f"{screen.table}: not found (run the `{screen.stage}` stage)")
    table = pl.read_parquet(screen.table)
    missing = sorted(set(REMOVAL_SCHEMA) - set(table.columns))
    if missing:
        raise ReconciliationError(
            f"{screen.table}: no column(s) {missing} (an older `{screen.stage}` wrote it: re-run)"
        )
    table = table.select([pl.col(name).cast(dtype) for name, dtype in REMOVAL_SCHEMA.items()])
    stages = set(table["stage"].unique().to_list()) - {screen.stage}
    if stages:
        raise ReconciliationError(
            f"{screen.table}: rows of stage(s) {sorted(stages)}, expected only {screen.stage!r}"
        )
    in_table: dict[str, dict[str, int]] = {}
    for (kind, reason), n in Counter(zip(table["kind"], table["reason"], strict=True)).items():
        in_table.setdefault(kind, {})[reason] = n
    in_metrics = {kind: c["removed"] for kind, c in counts.items() if c["removed"]}
    if in_table != in_metrics:
        raise ReconciliationError(
            f"{screen.table} and {screen.metrics} disagree on what {screen.stage} removed: "
            f"table {json.dumps(in_table, sort_keys=True)}, "
            f"metrics {json.dumps(in_metrics, sort_keys=True)}"
        )
    return table


def benchmarks(table: pl.DataFrame, eval_items: Path) -> dict[str, Any]:
    """Per benchmark task: items, items matched, training texts removed (by rule, by stage)."""
    items = pl.read_parquet(eval_items, columns=["task"])["task"].value_counts()
    sizes = dict(zip(items["task"].to_list(), items["count"].to_list(), strict=True))
    hits = table.filter(pl.col("matched_task").is_not_null())
    out = {}
    for task in sorted(set(sizes) | set(hits["matched_task"].to_list())):
        mine = hits.filter(pl.col("matched_task") == task)
        out[task] = {
            "items": sizes.get(task, 0),
            "items_matched": mine["matched_id"].n_unique(),
            "records_removed": mine.height,
            "by_rule": dict(sorted(Counter(mine["reason"].to_list()).items())),
            "by_stage": dict(sorted(Counter(mine["stage"].to_list()).items())),
        }
    return out


def aggregate(screens: Sequence[StageScreen], eval_items: Path) -> tuple[pl.DataFrame, dict]:
    """(every stage's removal rows in one table, the report): counts per stage and kind,
    per benchmark, and the first benchmark matches as examples."""
    stages: dict[str, Counts] = {}
    tables = [pl.DataFrame(schema=REMOVAL_SCHEMA)]
    for screen in screens:
        counts = _read_counts(screen)
        if counts is None:
            continue
        stages[screen.stage] = counts
        if screen.table is not None:
            tables.append(_read_table(screen, counts))
    table = pl.concat(tables, how="vertical")
    hits = table.filter(pl.col("matched_task").is_not_null()).head(EXAMPLES)
    examples = [
        {
            "id": row["id"],
            "stage": row["stage"],
            "matched": row["matched_id"],
            "reason": row["reason"],
            "evidence": row["evidence"],
        }
        for row in hits.iter_rows(named=True)
    ]
    report = {"stages": stages, "benchmarks": benchmarks(table, eval_items), "examples": examples}
    return table, report


def write_table(path: Path, table: pl.DataFrame) -> None:
    """The combined removal table (data_core.screen's schema), written atomically."""
    with atomic_path(path) as tmp:
        table.write_parquet(tmp, compression="zstd")
