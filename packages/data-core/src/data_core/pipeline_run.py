"""Which pipeline invocation a stage process belongs to, and that invocation's MLflow parent run.

DVC calls no hook when `dvc repro` or `dvc exp run` starts: it runs each stage's `cmd` as a child
process (through `$SHELL -c`, sometimes `uv run`) with DVC_STAGE and DVC_ROOT added to its
environment, and under `dvc exp run` also DVC_EXP_NAME and DVC_EXP_BASELINE_REV. The `dvc` process
itself has no DVC_STAGE, so the nearest ancestor of a stage process whose environment lacks it is
the `dvc` process; its pid + start time name one invocation (a pid is reused, the pair is not).
Every stage of one `dvc repro` finds the same invocation, the next `dvc repro` a new one, with
no state file to clean up. Outside DVC a process is its own invocation (no parent run), unless
ULTRAMEDICAL_PIPELINE_ID groups runs started by hand.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PIPELINE_ID_ENV = "ULTRAMEDICAL_PIPELINE_ID"  # set by hand to group runs started outside DVC
# tags shared by the parent and its stage runs (no dots: the UI filters `tags.pipeline_id = '..'`)
ID_TAG, ROLE_TAG, LAUNCHER_TAG = "pipeline_id", "pipeline_role", "pipeline_launcher"
PARENT_TAG = "mlflow.parentRunId"  # what the MLflow UI nests runs by
DVC_ENV_TAGS = {
    "DVC_EXP_NAME": "dvc_exp_name",
    "DVC_EXP_BASELINE_REV": "dvc_exp_baseline_rev",
    "DVC_ROOT": "dvc_root",
}


@dataclass(frozen=True)
class Invocation:
    """One `dvc repro` / `dvc exp run` (or one process outside DVC) and the tags its runs share."""

    pipeline_id: str
    launcher: str  # "dvc repro" | "dvc exp run" | "env" | "manual"
    name: str  # the parent run's name
    started_ms: int | None = None  # when the dvc process started
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def grouped(self) -> bool:
        """True when other processes may join: then the stage runs nest under a parent run."""
        return self.launcher != "manual"


def dvc_process(env: Mapping[str, str]) -> Any | None:
    """The `dvc` process that started this stage process (a psutil.Process), or None."""
    if "DVC_STAGE" not in env:
        return None
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a data-core dependency
        return None
    try:
        proc = psutil.Process().parent()
        while proc is not None:
            try:
                if "DVC_STAGE" not in proc.environ():
                    return proc
            except psutil.AccessDenied:  # another user's process: judge by its command line
                if any(Path(arg).name == "dvc" for arg in proc.cmdline()[:2]):
                    return proc
            proc = proc.parent()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):  # an ancestor ended meanwhile
        return None
    return None


def _dvc_command(cmdline: list[str]) -> str:
    """`dvc repro -s x` from `[python, /venv/bin/dvc, repro, -s, x]` (at most 500 characters)."""
    for i, arg in enumerate(cmdline):
        if Path(arg).name == "dvc":
            return " ".join(["dvc", *cmdline[i + 1 :]])[:500]
    return " ".join(cmdline)[:500]


def current_invocation(env: Mapping[str, str] | None = None) -> Invocation:
    """The invocation this process belongs to (see the module docstring)."""
    env = os.environ if env is None else env
    tags = {tag: env[var] for var, tag in DVC_ENV_TAGS.items() if env.get(var)}
    if env.get("DVC_STAGE"):
        tags["dvc_stage"] = env["DVC_STAGE"]
    exp = env.get("DVC_EXP_NAME")
    if explicit := env.get(PIPELINE_ID_ENV):
        return Invocation(explicit, "env", f"pipeline {explicit}", None, tags)
    proc = dvc_process(env)
    if proc is None:
        return Invocation(uuid.uuid4().hex[:12], "manual", "manual", None, tags)
    try:
        started, command = proc.create_time(), _dvc_command(proc.cmdline())
    except Exception:  # it ended: still one id per pid
        started, command = None, "dvc"
    key = f"{proc.pid}:{started or 0:.3f}:{exp or ''}"
    pipeline_id = hashlib.sha1(key.encode()).hexdigest()[:12]
    launcher = "dvc exp run" if exp else "dvc repro"
    when = datetime.fromtimestamp(started or 0, UTC).strftime("%Y-%m-%d %H:%M:%S")
    name = f"{launcher} {exp}" if exp else f"{launcher} {when}"
    tags |= {"pipeline_command": command, "dvc_pid": str(proc.pid)}
    return Invocation(pipeline_id, launcher, name, round(started * 1000) if started else None, tags)


def _lock(pipeline_id: str) -> Any:
    """A file lock per invocation, so that two stage processes never create two parents."""
    from filelock import FileLock

    return FileLock(Path(tempfile.gettempdir()) / f"ultramedical-pipeline-{pipeline_id}.lock")


def open_parent_run(
    client: Any, experiment_id: str, inv: Invocation, tags: Mapping[str, str]
) -> str:
    """The invocation's parent run (created by its first stage), marked RUNNING; its run id."""
    query = f"tags.{ID_TAG} = '{inv.pipeline_id}' and tags.{ROLE_TAG} = 'pipeline'"
    with _lock(inv.pipeline_id):
        found = client.search_runs([experiment_id], query, max_results=1)
        if found:
            run = found[0]
            if run.info.status != "FAILED":  # a failed stage keeps the pipeline failed
                client.update_run(run.info.run_id, status="RUNNING")
            return run.info.run_id
        parent_tags = {k: v for k, v in tags.items() if k != "dvc_stage"}  # the first stage's
        parent_tags |= {ROLE_TAG: "pipeline", LAUNCHER_TAG: inv.launcher}
        run = client.create_run(
            experiment_id, start_time=inv.started_ms, tags=parent_tags, run_name=inv.name
        )
        log.info("MLflow parent run %s for %s", run.info.run_id, inv.name)
        return run.info.run_id


def close_stage(client: Any, parent_id: str, stage: str, status: str, seconds: float) -> None:
    """After a stage: its time on the parent, the stage list, FINISHED (or FAILED, sticky)."""
    with _lock(client.get_run(parent_id).data.tags.get(ID_TAG, parent_id)):
        parent = client.get_run(parent_id)
        done = [s for s in parent.data.tags.get("pipeline_stages", "").split(",") if s]
        client.set_tag(parent_id, "pipeline_stages", ",".join([*done, stage])[:5000])
        key = re.sub(r"[^\w\-. /]", "_", stage)  # MLflow metric names allow no `@` (foreach)
        client.log_metric(parent_id, f"stage_seconds.{key}", round(seconds, 3))
        failed = status == "FAILED" or parent.info.status == "FAILED"
        client.set_terminated(parent_id, status="FAILED" if failed else "FINISHED")
