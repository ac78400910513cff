"""`ultramedical-eval`'s flags -> the evaluate stage's EvaluateConfig, task specs and items.

A task name resolves through the stage's own catalog (`ingest.eval_sets`, `evaluate.heldout_sets`).
A declared benchmark's items are ingest's (data/interim/eval_items.parquet) when there, else its
file read by its data_core reader. A task can also be `FILE.jsonl`/`.parquet` of EvalItem records
or `FORMAT:PATH` in a reader's format (`medqa:dev.jsonl`); either may be named, `NAME=FILE`.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import polars as pl
from data_core.config import load_params
from data_core.errors import SourceError, problem_from_validation
from data_core.io import frame_to_records, read_records, write_records
from data_core.paths import stage_paths
from data_core.readers import FORMATS, read_source
from data_core.readers.raw import iter_jsonl
from data_core.schemas import EvalItem
from pydantic import ValidationError

from evals.config import EvaluateConfig, load_evaluate, located
from evals.tasks import FileTask, TaskSpec

log = logging.getLogger(__name__)

BENCHMARK_FORMATS = sorted(k for k, f in FORMATS.items() if f.produces == "eval_item")
ITEM_SUFFIXES = (".jsonl", ".ndjson", ".parquet")
DEFAULT_REWARD_SCORER = "rewards.scoring:default_scorer"
Fail = Callable[[str], NoReturn]  # the parser's one-line usage error (exit 2)


class TaskNameError(ValueError):
    """A --tasks entry that names no declared task and no readable file (a usage error)."""


@dataclass
class ResolvedTasks:
    """The specs to run, in the order asked, and the items of those read from a file."""

    specs: list[TaskSpec] = field(default_factory=list)
    file_items: list[EvalItem] = field(default_factory=list)  # every FileTask's items, task = name


def read_item_file(path: Path, task: str) -> list[EvalItem]:
    """EvalItem records (JSONL or Parquet) as one task's items; errors name file:line:field."""
    if not path.is_file():
        raise TaskNameError(f"{path}: no such file")
    if path.suffix == ".parquet":
        items = read_records(path, EvalItem)
    else:
        items = []
        for row in iter_jsonl(path):
            if row.problem is not None:
                raise SourceError(f"{path}:{row.line}: {row.problem}")
            try:
                items.append(EvalItem.model_validate({"task": task, **row.value}))
            except ValidationError as exc:
                problem = problem_from_validation(exc)
                raise SourceError(
                    f"{path}:{row.line}: field '{problem.field}': {problem.message}"
                ) from None
    if not items:
        raise SourceError(f"{path}: no items")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise SourceError(f"{path}: duplicate item id {item.id!r}")
        seen.add(item.id)
    return [i.model_copy(update={"task": task}) for i in items]


def read_benchmark(path: Path, fmt: str, task: str, options: dict | None = None) -> list[EvalItem]:
    """A benchmark file through its data_core reader; quarantined records are reported, as ingest
    reports them (read = kept + quarantined)."""
    result = read_source(path, fmt, task, task=task, options=options)
    if result.quarantined:
        log.warning(
            "%s: %d of %d records quarantined (first: %s)",
            path,
            len(result.quarantined),
            result.read,
            result.quarantined[0],
        )
    if not result.records:
        raise SourceError(f"{path}: no valid {fmt} records")
    return result.records


def _items_from_ingest(path: Path | None, task: str) -> list[EvalItem]:
    if path is None or not path.exists():
        return []
    frame = pl.read_parquet(path).filter(pl.col("task") == task)
    return frame_to_records(frame, EvalItem)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_") or "task"


def resolve_tasks(
    entries: list[str],
    catalog: dict[str, TaskSpec],
    *,
    root: Path | None,
    eval_items: Path | None,
    heldout_items: Path | None,
    group_by: str | None = None,
) -> ResolvedTasks:
    """Each --tasks entry -> a task spec; benchmark items gathered for one temporary items file."""
    out = ResolvedTasks()
    names: set[str] = set()
    for entry in entries:
        name, _, source = entry.rpartition("=") if "=" in entry else ("", "", entry)
        if source in catalog and not name:
            spec = catalog[source]
            if isinstance(spec, FileTask):
                out.file_items += _declared_items(spec, root, eval_items)
            elif heldout_items is None or not heldout_items.exists():
                raise SourceError(
                    f"task {source!r} reads the held-out items, {heldout_items or 'not declared'}:"
                    " not found (run `dvc repro synthesize`)"
                )
        else:
            spec, items = _file_task(name, source, catalog, group_by)
            if spec.name in catalog:
                raise TaskNameError(
                    f"{source}: its task name {spec.name!r} is a declared task's; name it: "
                    f"OTHER_NAME={source}"
                )
            out.file_items += items
        if spec.name in names:
            raise TaskNameError(f"task {spec.name!r} is asked twice")
        names.add(spec.name)
        out.specs.append(spec)
    return out


def _declared_items(spec: FileTask, root: Path | None, eval_items: Path | None) -> list[EvalItem]:
    """What ingest wrote for the task, else its declared file read the way ingest reads it."""
    items = _items_from_ingest(eval_items, spec.item_task)
    if items:
        return items
    path = Path(spec.path)
    path = path if path.is_absolute() or root is None else root / path
    if not path.exists():
        raise SourceError(
            f"task {spec.name!r}: no items in {eval_items} and its file {path} is missing"
        )
    return read_benchmark(path, spec.format, spec.item_task, spec.options)


def _file_task(
    name: str, source: str, catalog: dict[str, TaskSpec], group_by: str | None
) -> tuple[FileTask, list[EvalItem]]:
    fmt, sep, rest = source.partition(":")
    if sep and fmt in BENCHMARK_FORMATS:
        path = Path(rest).expanduser().resolve()
        if not path.exists():
            raise TaskNameError(f"{rest}: no such file (task {source!r})")
        task = name or _safe_name(path.stem)
        # the declared benchmark of that format lends its breakdown (e.g. MMLU's subject)
        declared = next((s for s in catalog.values() if getattr(s, "format", None) == fmt), None)
        groups = group_by or (declared.group_by if declared else None)
        spec = FileTask(name=task, format=fmt, path=str(path), group_by=groups)
        return spec, read_benchmark(path, fmt, task)
    path = Path(source).expanduser()
    if path.suffix not in ITEM_SUFFIXES:
        known = ", ".join(sorted(catalog)) or "none (no params.yaml found)"
        raise TaskNameError(
            f"unknown task {source!r}; known tasks: {known}; or FILE.jsonl (EvalItem records), "
            f"or FORMAT:PATH with FORMAT one of {', '.join(BENCHMARK_FORMATS)}"
        )
    task = name or _safe_name(path.stem)
    spec = FileTask(name=task, format="eval_items", path=str(path.resolve()), group_by=group_by)
    return spec, read_item_file(path, task)


def find_project(start: Path) -> Path | None:
    """The nearest directory at or above `start` with a params.yaml."""
    for folder in (start, *start.parents):
        if (folder / "params.yaml").is_file():
            return folder
    return None


def _stage_config(root: Path | None) -> EvaluateConfig:
    """The evaluate stage's config (settings, catalog, item files), or the library defaults."""
    if root is None:
        # no models or tasks yet: the flags add them, and the whole is validated then
        return EvaluateConfig.model_construct(models=[], tasks=[], cache_dir=None)
    params = load_params(root / "params.yaml")
    return located(load_evaluate(params), stage_paths(params, root))


def _model_spec(args: argparse.Namespace, root: Path, fail: Fail) -> dict[str, Any]:
    backend = args.backend
    if backend == "auto":
        backend = "openai" if re.match(r"^https?://", args.model) else "hf"
    if backend == "openai":
        if not args.model_id:
            fail("--backend openai needs --model-id (the served model name)")
        spec = {"path": args.model_id, "model_id": args.model_id, "base_url": args.model}
        spec["api_key_env"] = args.api_key_env
        default_name = args.model_id
    else:
        local = Path(args.model).expanduser().resolve()
        if not local.is_dir():
            fail(f"--model {args.model}: no such model directory")
        if not (local / "config.json").is_file():
            fail(f"--model {args.model}: not a Hugging Face model directory (no config.json)")
        # relative to the project root when run there, so the cache key matches the stage's
        inside = local.is_relative_to(root) and Path.cwd().resolve() == root
        spec = {"path": local.relative_to(root).as_posix() if inside else str(local)}
        default_name = local.name
    name = args.name or re.sub(r"[^A-Za-z0-9_.\-]+", "_", default_name).strip("_") or "model"
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        fail(f"--name {name!r}: use letters, digits, '_', '.', '-'")
    return {"name": name, "backend": backend, "chat_template": args.chat_template, **spec}


def build_config(
    args: argparse.Namespace, fail: Fail, workdir: Path
) -> tuple[EvaluateConfig, Path, Path]:
    """The EvaluateConfig of the flags: one model, one run per task, the stage's settings."""
    root = (args.project or find_project(Path.cwd()) or Path.cwd()).resolve()
    has_params = (root / "params.yaml").is_file()
    if args.project and not has_params:
        fail(f"--project {args.project}: no params.yaml there")
    stage = _stage_config(root if has_params else None)
    model = _model_spec(args, root, fail)
    entries = [e.strip() for e in args.tasks.split(",") if e.strip()]
    if not entries:
        fail("--tasks: no task named")
    heldout = root / stage.heldout_items
    try:
        tasks = resolve_tasks(
            entries,
            stage.catalog,
            root=root if has_params else None,
            eval_items=root / stage.eval_items if has_params else None,
            heldout_items=heldout if has_params else None,
            group_by=args.group_by,
        )
    except TaskNameError as exc:
        fail(str(exc))
    items_file = workdir / "eval_items.parquet"  # every benchmark task's items, as ingest writes
    write_records(items_file, tasks.file_items, EvalItem)
    output = (args.output or Path("eval_results") / model["name"]).resolve()
    if args.no_cache:
        cache_dir = None
    elif args.cache_dir:
        cache_dir = str(args.cache_dir.resolve())
    elif has_params and stage.cache_dir:
        cache_dir = str(root / stage.cache_dir)
    else:
        cache_dir = str(output / "cache")
    run = {
        "scorer": args.scorer,
        "num_fewshot": args.num_fewshot,
        "limit": args.limit,
        "choices": args.choices,
        "samples": args.samples,
        "max_new_tokens": args.max_new_tokens,
    }
    data = stage.model_dump()
    declared = {s.name for s in [*stage.eval_sets, *stage.heldout_sets]}
    data.update(
        models=[model],
        tasks=[{"name": s.name, **run} for s in tasks.specs],
        eval_sets=[
            *data["eval_sets"],
            *(s.model_dump() for s in tasks.specs if s.name not in declared),
        ],
        comparisons=[],
        eval_items=str(items_file),
        heldout_items=str(heldout),
        predictions_dir=str(output),
        metrics=str(output / "metrics.json"),
        cache_dir=cache_dir,
    )
    for key in ("batch_tokens", "device"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.max_length is not None:
        data["max_length"] = args.max_length or None
    if args.seed is not None:
        data["fewshot_seed"] = data["generation"]["seed"] = data["bootstrap"]["seed"] = args.seed
    if args.reward_model:
        data["reward_model"] = str(Path(args.reward_model).resolve())
        data["reward_scorer"] = data["reward_scorer"] or DEFAULT_REWARD_SCORER
    return EvaluateConfig.model_validate(data), root, output
