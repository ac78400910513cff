"""Where a training run's figures go: results to metrics/<stage>.json, the rest to MLflow only.

The metrics files are committed to git and must be byte-identical across rebuilds, so anything
that depends on the run rather than on params + data (wall time, throughput, the checkpoint a
run resumed from, CPU/GPU load) is logged to MLflow and never written there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from data_core.io import file_digest, write_json

from trainers.distributed import is_main_process

log = logging.getLogger(__name__)

# key fragments of run-dependent values (Trainer's `*_runtime`, `*_per_second`, our timings)
RUN_DEPENDENT = ("seconds", "per_second", "runtime", "resumed_from")


def is_run_dependent(key: str) -> bool:
    """True for a metric whose value changes from run to run with the same params and data."""
    return any(fragment in key for fragment in RUN_DEPENDENT)


def split_results(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(results, run-dependent values) of a flat metrics mapping."""
    results = {k: v for k, v in metrics.items() if not is_run_dependent(k)}
    return results, {k: v for k, v in metrics.items() if is_run_dependent(k)}


def write_metrics(path: Path, metrics: Mapping[str, Any]) -> None:
    """The DVC metrics file of a stage (rank 0 only): results only, run-dependent keys dropped."""
    results, dropped = split_results(metrics)
    if dropped:
        log.debug("not in %s (MLflow only): %s", path.name, sorted(dropped))
    if is_main_process():
        write_json(path, results)


def model_reference(run: Any, out_dir: Path, name: str, root: Path) -> dict[str, str]:
    """Log the saved model to MLflow as a reference (path + digest), never the weights.

    The run gets the folder as an output dataset and an MLflow logged model (model view) that
    points at it; the returned entry, written to metrics/<stage>.json, holds path + md5 only, so it
    stays the same across rebuilds. Nothing is written into `out_dir`.
    """
    digest = file_digest(out_dir)
    shown = out_dir.resolve().relative_to(root.resolve()).as_posix()
    if run is not None:
        run.log_output(out_dir, name)
        run.set_tags({f"model.{name}.path": shown, f"model.{name}.md5": digest})
        run.log_model(name, out_dir, digest=digest, model_type=architecture(out_dir))
    return {"path": shown, "md5": digest}


def architecture(model_dir: Path) -> str | None:
    """The model class a Hugging Face folder declares (config.json `architectures`), if any."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    names = config.get("architectures") if isinstance(config, dict) else None
    return str(names[0]) if isinstance(names, list) and names else None


@contextmanager
def system_metrics(run: Any, interval_s: float = 5.0) -> Iterator[None]:
    """MLflow system metrics (CPU, memory, GPU when present) for the run, if psutil is usable."""
    if run is None:
        yield
        return
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(
            run.run_id, sampling_interval=interval_s, samples_before_logging=1
        )
        monitor.start()
    except Exception as exc:  # optional extra: training must not fail because psutil is missing
        log.warning("system metrics unavailable: %s", exc)
        monitor = None
    try:
        yield
    finally:
        if monitor is not None:
            monitor.finish()
