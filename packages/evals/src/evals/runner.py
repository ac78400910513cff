"""Evaluate every configured model on every configured task; write predictions and metrics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from data_core import security
from data_core.io import atomic_path
from data_core.schemas import EvalItem

from evals.backends import GenerationConfig, load_backend
from evals.cache import UnitCache, model_identity, unit_key
from evals.config import EvaluateConfig, TaskRun
from evals.prompts import build_prompt, fewshot_exemplars
from evals.reward_scorer import RewardModelRef
from evals.scorers import score_best_of_n, score_generate, score_loglik, score_self_consistency
from evals.stats import bootstrap_ci, grouped_accuracy, mcnemar, paired_bootstrap
from evals.tasks import FileTask, TaskSpec, group_of, load_items

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """Everything the stage writes: metrics (results only: metrics/eval.json is committed and must
    not change between identical runs), prediction paths, and run-dependent numbers for MLflow."""

    metrics: dict[str, Any]
    predictions: dict[str, Path] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # "<model>" and "<model>.<task key>"
    cache: dict[str, int] = field(default_factory=dict)  # unit cache hits, misses, pruned


def task_prompts(
    items: list[EvalItem], run: TaskRun, seed: int, chat: bool = False, spec: TaskSpec | None = None
) -> list[str]:
    """User-turn texts: k fixed seeded exemplars from the task's pool (never the item itself).

    Inside a chat template, a task whose prompt is `auto` asks zero-shot items in the training
    data's instruction format (what a fine-tuned model was trained on), except an explicit `cot`.
    """
    styles = {"cot": "cot", "generate": "generate", "self_consistency": "cot", "best_of_n": "cot"}
    style = styles.get(run.scorer or "loglik", "mc")
    auto = spec is not None and spec.prompt == "auto"
    if chat and auto and run.scorer != "cot" and not run.num_fewshot:
        return [build_prompt(item, style="instruction") for item in items]
    # k+1 candidates so the item asked can be swapped out and every prompt still has k exemplars
    pool = fewshot_exemplars(items, run.num_fewshot + 1, seed=seed) if run.num_fewshot else []
    prompts = []
    for item in items:
        shots = [e for e in pool if e.id != item.id][: run.num_fewshot]
        prompts.append(build_prompt(item, shots, style=style))
    return prompts


@dataclass
class RewardInputs:
    """What a best-of-n unit's reward model reads: the user turns, each answer's opening."""

    reward: RewardModelRef
    questions: list[str]
    prefixes: list[str]


def _score(backend, spec: TaskSpec, run: TaskRun, items, prompts, chat, cfg, reward=None):
    g = cfg.generation
    if run.scorer == "loglik":
        return score_loglik(backend, items, prompts, chat=chat, kind=run.choices or spec.choices)
    if run.scorer == "generate":
        return score_generate(backend, items, prompts, GenerationConfig(g.max_new_tokens))
    if run.scorer == "cot":
        return score_generate(backend, items, prompts, GenerationConfig(g.cot_max_new_tokens))
    length, samples = run.max_new_tokens or g.cot_max_new_tokens, run.samples or g.samples
    sampled = GenerationConfig(length, g.temperature, g.top_p, samples, g.seed)
    if run.scorer == "self_consistency":
        return score_self_consistency(backend, items, prompts, sampled)
    return score_best_of_n(
        backend,
        items,
        prompts,
        sampled,
        reward.reward.get(),
        questions=reward.questions,
        prefixes=reward.prefixes,
    )


def task_metrics(
    rows: list[dict[str, Any]], items: list[EvalItem], spec: TaskSpec, cfg: EvaluateConfig
) -> dict[str, Any]:
    """acc with its bootstrap interval, acc_norm, unparsed share, per-group breakdown."""
    b = cfg.bootstrap
    correct = [bool(r["correct"]) for r in rows]
    acc = bootstrap_ci(correct, resamples=b.resamples, confidence=b.confidence, seed=b.seed)
    unparsed = sum(r["prediction"] == "unparsed" for r in rows)
    out: dict[str, Any] = {
        "acc": acc.value,
        "acc_low": acc.low,
        "acc_high": acc.high,
        "n": acc.n,
        "unparsed": unparsed,
    }
    if "self_consistency" in rows[0]:  # best-of-n: the other selectors on the same samples
        for name, hits in (
            ("self_consistency", [r["self_consistency"] == r["gold"] for r in rows]),
            ("any_correct", [bool(r["any_correct"]) for r in rows]),
        ):
            ci = bootstrap_ci(hits, resamples=b.resamples, confidence=b.confidence, seed=b.seed)
            out[name] = {"acc": ci.value, "acc_low": ci.low, "acc_high": ci.high}
    if "correct_norm" in rows[0]:
        out["acc_norm"] = sum(r["correct_norm"] for r in rows) / len(rows)
    if spec.group_by:
        grouped = grouped_accuracy(correct, [group_of(i, spec.group_by) for i in items])
        out.update(macro=grouped["macro"], micro=grouped["micro"], subjects=grouped["subjects"])
    return out


def _write_predictions(path: Path, rows, items, model: str, task: str, spec: TaskSpec) -> None:
    records = [
        {**r, "model": model, "task": task, "group": group_of(i, spec.group_by)}
        for r, i in zip(rows, items, strict=True)
    ]
    frame = pl.DataFrame(records, infer_schema_length=None)
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp, compression="zstd")


def evaluate(cfg: EvaluateConfig, root: Path, *, prune: bool = True) -> EvalResult:
    """Every model x every task; per-item predictions to Parquet, metrics dict returned.

    `prune`: drop cache units this run did not use (the stage owns its cache; a one-off run that
    shares it, such as `ultramedical-eval`, must not delete the stage's units).
    """
    security.configure(root)  # the project's `security:` decides what its model loads may run
    tasks: list[tuple[TaskRun, TaskSpec, list[EvalItem]]] = []
    result = EvalResult(metrics={"models": {}, "tasks": {}, "comparisons": {}})
    catalog = cfg.catalog
    for run in cfg.tasks:
        spec = catalog[run.name]
        source = root / (cfg.eval_items if isinstance(spec, FileTask) else cfg.heldout_items)
        if run.optional and not source.exists():
            log.warning("task %s skipped: %s not found", run.key, source)
            result.skipped.append(run.key)
            continue
        items = load_items(
            spec,
            eval_items=root / cfg.eval_items,
            heldout_items=root / cfg.heldout_items,
            limit=run.limit,
        )
        tasks.append((run, spec, items))
        result.metrics["tasks"][run.key] = {
            "task": run.name,
            "items": len(items),
            "scorer": run.scorer or spec.scorer or "per model",
            "num_fewshot": run.num_fewshot,
        }
    outcomes: dict[tuple[str, str], list[bool]] = {}
    pred_dir = root / cfg.predictions_dir
    cache = UnitCache(root / cfg.cache_dir if cfg.cache_dir else None)
    reward_dir = root / cfg.reward_model if cfg.reward_model else None
    reward = RewardModelRef(cfg.reward_scorer, reward_dir)
    chat_prefs = {"auto": None, "always": True, "never": False}
    for model in cfg.models:
        t0 = time.perf_counter()
        fingerprint = model_identity(model, root)
        backend = None  # loaded on the first unit the cache does not hold
        per_model: dict[str, Any] = {}
        for task_run, spec, items in tasks:
            if task_run.models is not None and model.name not in task_run.models:
                continue
            t1 = time.perf_counter()
            # a run that names no scorer takes the task's, else the model's own (natural format)
            scorer = task_run.scorer or spec.scorer or model.scorer or "loglik"
            run = task_run.model_copy(update={"scorer": scorer})
            prompts = task_prompts(items, run, cfg.fewshot_seed)
            key = unit_key(fingerprint, run, items, prompts, cfg, reward.identity)
            rows = cache.get(model.name, run.key, key)
            if rows is None:
                if backend is None:
                    backend = load_backend(
                        model,
                        batch_tokens=cfg.batch_tokens,
                        device=cfg.device,
                        max_length=cfg.max_length,
                        responses=cache.responses_path(),
                    )
                mode = run.chat_template or model.chat_template or cfg.chat_template
                chat_pref = chat_prefs[mode]
                chat = backend.format_prompt("", chat=chat_pref)[1]
                texts = (
                    task_prompts(items, run, cfg.fewshot_seed, chat=True, spec=spec)
                    if chat
                    else prompts
                )
                formatted = [backend.format_prompt(p, chat=chat_pref)[0] for p in texts]
                opened = spec.prefill is not None and (
                    run.prefill == "always" or (run.prefill == "chat" and chat)
                )
                if opened:  # the answer opens as the model was taught (item meta)
                    sep = "" if chat else " "  # a cloze prompt ends with "Answer:"
                    formatted = [
                        f + sep + i.meta.get(spec.prefill, "")
                        for f, i in zip(formatted, items, strict=True)
                    ]
                prefixes = [i.meta.get(spec.prefill, "") if opened else "" for i in items]
                inputs = RewardInputs(reward, list(texts), prefixes)
                # a fresh assistant turn takes the option without a leading space; prefilled
                # text does
                fresh = chat and not opened
                rows = _score(backend, spec, run, items, formatted, fresh, cfg, inputs)
                cache.put(model.name, run.key, key, rows)
            else:
                log.info("%s %s: resumed from %s", model.name, run.key, cfg.cache_dir)
            path = pred_dir / f"{model.name}__{run.key}.parquet"
            _write_predictions(path, rows, items, model.name, run.key, spec)
            result.predictions[f"{model.name}__{run.key}"] = path
            per_model[run.key] = task_metrics(rows, items, spec, cfg)
            per_model[run.key]["scorer"] = run.scorer
            seconds = result.seconds[f"{model.name}.{run.key}"] = time.perf_counter() - t1
            outcomes[model.name, run.key] = [bool(r["correct"]) for r in rows]
            acc = per_model[run.key]["acc"]
            log.info(
                "%s %s acc=%.4f (%d items, %.1fs)", model.name, run.key, acc, len(items), seconds
            )
        result.metrics["models"][model.name] = per_model
        result.seconds[model.name] = time.perf_counter() - t0
    pruned = cache.prune() if prune else 0
    result.cache = {"hits": cache.hits, "misses": cache.misses, "pruned": pruned}
    for a, b in cfg.comparisons:
        for run, *_ in tasks:
            if (a, run.key) not in outcomes or (b, run.key) not in outcomes:
                continue  # a task run limited to other models
            xa, xb = outcomes[a, run.key], outcomes[b, run.key]
            boot = paired_bootstrap(
                xa, xb, resamples=cfg.bootstrap.resamples, seed=cfg.bootstrap.seed
            )
            p_value = mcnemar(xa, xb)["p_value"]
            result.metrics["comparisons"].setdefault(f"{b}_vs_{a}", {})[run.key] = {
                **boot,
                "mcnemar_p": p_value,
            }
    result.metrics["skipped_tasks"] = result.skipped
    return result
