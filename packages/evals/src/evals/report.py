"""The `report` stage: leaderboard, plots, funnel, training curves, digests -> HTML, Markdown."""

from __future__ import annotations

import csv
import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from data_core.io import file_digest, write_text
from data_core.tracking import flatten, tracking_uri
from jinja2 import Environment, PackageLoader, select_autoescape

from evals import plots
from evals.config import ReportConfig
from evals.funnel import funnel_rows, screening
from evals.funnel import load_json as _load
from evals.recipe import diagnosis_markdown, recipe_rows
from evals.summary import render_markdown

log = logging.getLogger(__name__)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def training_histories(root: Path, stages: list[str], max_points: int = 500) -> dict[str, dict]:
    """Per training stage: the latest finished MLflow run's loss-like metric histories."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:  # pragma: no cover - mlflow is a workspace dependency
        return {}
    uri = tracking_uri(root)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return {}  # no runs yet; do not create an empty tracking database
    client = MlflowClient(tracking_uri=uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    out: dict[str, dict] = {}
    for stage in stages:
        runs = client.search_runs(
            exps,
            f"tags.stage = '{stage}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            continue
        keys = [k for k in runs[0].data.metrics if "loss" in k or "reward" in k or "acc" in k]
        hist = {}
        for key in sorted(keys)[:8]:
            points = sorted(
                (m.step, m.value) for m in client.get_metric_history(runs[0].info.run_id, key)
            )
            if len(points) > 1:
                hist[key] = points[:: max(1, len(points) // max_points)]
        if hist:
            out[stage] = hist
    return out


def lock_digests(root: Path, own: Collection[str] = ()) -> list[dict[str, str]]:
    """The md5 of every output dvc.lock pins, but the outputs of the stage writing `own` (the
    report: one run behind). Deps are other stages' outputs or code: a code-only change that
    `dvc commit` records would otherwise make the page differ from a rebuild's."""
    lock = root / "dvc.lock"
    data = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}) if lock.exists() else {}
    rows = []
    for stage, body in (data.get("stages") or {}).items():
        outs = [e for e in body.get("outs") or [] if "md5" in e]
        if any(e["path"] == o or e["path"].startswith(f"{o}/") for e in outs for o in own):
            continue
        rows += [{"stage": stage, "path": e["path"], "md5": e["md5"]} for e in outs]
    return rows


def _cell(m: Mapping[str, Any] | None):
    return None if m is None else {k: m[k] for k in ("acc", "acc_low", "acc_high")}


def build_context(cfg: ReportConfig, root: Path) -> dict[str, Any]:
    """Everything the templates show; also writes the plots/*.csv that dvc.yaml's plots read."""
    ev = _load(root / cfg.eval_metrics)
    if ev is None:
        from data_core.errors import SourceError

        raise SourceError(f"{root / cfg.eval_metrics}: not found (run the evaluate stage first)")
    models = list(ev["models"])
    tasks = list(ev["tasks"])
    plots_dir = root / cfg.plots_dir
    ctx: dict[str, Any] = {
        "tasks": tasks,
        "task_info": ev["tasks"],
        "plots": {},
        "eval_metrics_path": cfg.eval_metrics,
    }
    ctx["leaderboard"] = [
        {"model": m, "cells": [_cell(ev["models"][m].get(t)) for t in tasks]} for m in models
    ]
    ctx["comparisons"] = [
        {"name": name, "task": task, **vals}
        for name, per in ev.get("comparisons", {}).items()
        for task, vals in per.items()
    ]
    # accuracy per recipe stage: models in stage order (others keep their place at the end)
    ordered = [m for m in cfg.stage_order if m in models] + [
        m for m in models if m not in cfg.stage_order
    ]
    ctx["recipe"] = recipe_rows(ev, cfg.heldout_tasks, ordered)
    ctx["recipe_models"] = ordered
    ctx["recipe_comparisons"] = sorted({n for r in ctx["recipe"] for n in r["comparisons"]})
    ctx["diagnosis"] = _load(root / cfg.diagnosis_metrics)
    ctx["diagnosis_lines"] = diagnosis_markdown(ctx["diagnosis"]) if ctx["diagnosis"] else []
    by_stage = {
        t: [
            (
                m,
                ev["models"][m][t]["acc"],
                ev["models"][m][t]["acc_low"],
                ev["models"][m][t]["acc_high"],
            )
            for m in ordered
            if t in ev["models"][m]
        ]
        for t in tasks
    }
    _write_csv(
        plots_dir / "eval_by_stage.csv",
        ["model", "task", "acc", "acc_low", "acc_high"],
        [[m, t, a, lo, hi] for t, pts in by_stage.items() for m, a, lo, hi in pts],
    )
    ctx["plots"]["by_stage"] = plots.accuracy_by_stage(by_stage) if ordered else None
    # MMLU per subject
    with_subjects = [m for m in models if any("subjects" in v for v in ev["models"][m].values())]
    ctx["subjects"], ctx["subject_models"] = [], with_subjects
    subject_rows: list[list[Any]] = []
    if with_subjects:
        task = next(t for t, v in ev["models"][with_subjects[0]].items() if "subjects" in v)
        names = sorted(ev["models"][with_subjects[0]][task]["subjects"])
        table = {m: ev["models"][m][task] for m in with_subjects}
        ctx["subjects"] = [
            {
                "name": s,
                "n": table[with_subjects[0]]["subjects"][s]["n"],
                "values": [table[m]["subjects"][s]["acc"] for m in with_subjects],
            }
            for s in names
        ]
        ctx["subject_macro"] = [table[m]["macro"] for m in with_subjects]
        ctx["subject_micro"] = [table[m]["micro"] for m in with_subjects]
        subject_rows = [
            [m, s, table[m]["subjects"][s]["acc"]] for m in with_subjects for s in names
        ]
        ctx["plots"]["subjects"] = plots.grouped_bars(
            names,
            {m: [table[m]["subjects"][s]["acc"] for s in names] for m in with_subjects},
            "MMLU medical: accuracy per subject",
        )
    # written even when empty: dvc.yaml declares it as a plot output
    _write_csv(plots_dir / "mmlu_subjects.csv", ["model", "subject", "acc"], subject_rows)
    # reward models
    reward = _load(root / cfg.reward_metrics)
    ctx["reward_metrics_path"] = cfg.reward_metrics
    ctx["rewards"] = reward_categories(reward) if reward else {}
    ctx["reward"] = reward_section(reward) if ctx["rewards"] else None
    if ctx["reward"]:
        cats, table = list(ctx["rewards"]), ctx["reward"]
        series = {"reward model": list(ctx["rewards"].values())} | {
            b: [r["baselines"][i] for r in table["rows"]] for i, b in enumerate(table["baselines"])
        }
        title = "Reward accuracy per category (chosen > rejected; ties wrong)"
        ctx["plots"]["rewards"] = plots.grouped_bars(cats, series, title)
    # data funnel and contamination
    ctx["funnel"] = funnel_rows(root, cfg.funnel_metrics)
    if ctx["funnel"]:
        ctx["plots"]["funnel"] = plots.funnel(
            [f["label"] for f in ctx["funnel"]], [f["count"] for f in ctx["funnel"]]
        )
    contamination = _load(root / cfg.contamination_metrics) or {}
    ctx["contamination"] = contamination.get("benchmarks", {})
    ctx["screening"] = screening(contamination.get("stages") or {})
    ctx["contamination_metrics_path"] = cfg.contamination_metrics
    # training curves from MLflow
    ctx["tracking_uri"] = tracking_uri(root)
    try:
        histories = training_histories(root, cfg.training_stages)
    except Exception as exc:  # a broken tracking DB must not hide the evaluation results
        log.warning("training curves unavailable: %s", exc)
        histories = {}
    _write_csv(
        plots_dir / "training_curves.csv",
        ["stage", "metric", "step", "value"],
        [[s, k, st, v] for s, h in histories.items() for k, pts in h.items() for st, v in pts],
    )
    ctx["training"] = {s: plots.curves(h, f"{s}: training metrics") for s, h in histories.items()}
    # digests behind every number
    files = {cfg.eval_metrics: file_digest(root / cfg.eval_metrics)}
    for rel in [cfg.reward_metrics, *cfg.funnel_metrics, cfg.contamination_metrics, "params.yaml"]:
        if (root / rel).exists():
            files[rel] = file_digest(root / rel)
    pred_dir = root / cfg.predictions_dir
    for p in sorted(pred_dir.glob("*.parquet")) if pred_dir.exists() else []:
        files[p.relative_to(root).as_posix()] = file_digest(p)
    ctx["digests"] = {
        "eval_metrics": files[cfg.eval_metrics],
        "files": files,
        "lock": lock_digests(root, own=[cfg.html, cfg.markdown, cfg.plots_dir]),
    }
    return ctx


def reward_categories(data: Mapping[str, Any]) -> dict[str, float]:
    """Category -> accuracy from metrics/reward_eval.json (`categories`, else accuracy leaves)."""
    cats = data.get("categories")
    if isinstance(cats, Mapping):
        return {k: float(v["accuracy"] if isinstance(v, Mapping) else v) for k, v in cats.items()}
    return {
        k: float(v)
        for k, v in flatten(data).items()
        if "acc" in k and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def reward_section(data: Mapping[str, Any]) -> dict[str, Any]:
    """The reward table: per category the model's cell and each baseline's accuracy (or None)."""
    cats = reward_categories(data)
    cells = data.get("categories") if isinstance(data.get("categories"), Mapping) else {}
    bases = {k: v.get("categories", v) for k, v in (data.get("baselines") or {}).items()}

    def acc(cell: Any) -> float | None:
        return (
            None if cell is None else float(cell["accuracy"] if isinstance(cell, Mapping) else cell)
        )

    rows = [
        {
            "category": k,
            "cell": cells[k] if isinstance(cells.get(k), Mapping) else {"accuracy": v},
            "baselines": [acc(b.get(k)) for b in bases.values()],
        }
        for k, v in cats.items()
    ]
    mean = data.get("mean", sum(cats.values()) / len(cats))
    return {
        "rows": rows,
        "mean": mean,
        "baselines": list(bases),
        "baseline_means": [(data["baselines"][b] or {}).get("mean") for b in bases],
        "easy_by_length": data.get("easy_by_length") or {},
        "rewardbench": data.get("rewardbench") or {},
    }


def write_report(cfg: ReportConfig, root: Path) -> dict[str, Any]:
    """Render reports/report.html and reports/summary.md; return the context (tests, logging)."""
    ctx = build_context(cfg, root)
    env = Environment(
        loader=PackageLoader("evals", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    write_text(root / cfg.html, env.get_template("report.html.j2").render(**ctx))
    write_text(root / cfg.markdown, render_markdown(ctx))
    return ctx
