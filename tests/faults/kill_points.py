"""Kill a training stage by its progress, and read what it left: the steps it logged to MLflow,
its checkpoints, its model directory.

Progress is read from what the stage itself writes, never from the clock: the per-step `loss`
the stage logs to its MLflow run (root/mlflow.db), and the `checkpoint-N` folders the Trainer
creates. When progress reaches the kill point the process is frozen (SIGSTOP), its state on disk
recorded, and then killed with SIGKILL: exactly a kill -9 at that moment.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from trainers.checkpoints import is_complete

from tests.faults.stage_launcher import Launcher, Process
from tests.faults.training_root import STAGES

TIMEOUT_S = 300.0  # a stage that neither reaches its kill point nor ends: a failure, not a hang
RESUMED = re.compile(r"resuming from \S*checkpoint-(\d+)")


@dataclass(frozen=True)
class KillPoint:
    """Where a kill landed: the chosen point and what was on disk when the process died."""

    stage: str
    wanted: int  # the seeded kill point (a step)
    trigger: str  # "step": step `wanted` logged; "save <file>": checkpoint-`wanted` being
    # written, `file` there; "final": the model dir being written
    logged: int  # the last step the killed run had logged
    complete: tuple[int, ...]  # whole checkpoints on disk
    partial: tuple[int, ...]  # checkpoints half-written (or half-deleted) at the kill

    @property
    def resume_step(self) -> int:
        return max(self.complete, default=0)


def checkpoint_dir(root: Path, stage: str) -> Path:
    return root / "models/checkpoints" / stage


def logged_losses(root: Path, stage: str, since_ms: int = 0) -> dict[str, dict[int, float]]:
    """run id -> {step: loss} for the stage's MLflow runs started at or after `since_ms`, in the
    order they started."""
    db = root / "mlflow.db"
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as con:
            rows = con.execute(
                "SELECT m.run_uuid, m.step, m.value FROM metrics m JOIN runs r"
                " ON r.run_uuid = m.run_uuid WHERE r.name = ? AND r.start_time >= ?"
                " AND m.key = 'loss' ORDER BY r.start_time, m.step",
                (stage, since_ms),
            ).fetchall()
    except sqlite3.OperationalError:  # the schema is being created, or a writer holds the lock
        return {}
    runs: dict[str, dict[int, float]] = {}
    for run, step, value in rows:
        runs.setdefault(run, {})[step] = value
    return runs


def snapshot(root: Path, stage: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(whole, partial) checkpoint steps on disk."""
    whole, partial = [], []
    for folder in checkpoint_dir(root, stage).glob("checkpoint-*"):
        (whole if is_complete(folder) else partial).append(int(folder.name.split("-")[1]))
    return tuple(sorted(whole)), tuple(sorted(partial))


def start(launcher: Launcher, stage: str, root: Path) -> tuple[Process, int]:
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    since_ms = int(time.time() * 1000)
    return launcher.start(STAGES[stage][0], root, logs / f"{stage}.log"), since_ms


def run_to_end(launcher: Launcher, stage: str, root: Path) -> None:
    process, _ = start(launcher, stage, root)
    code = process.wait(TIMEOUT_S)
    assert code == 0, f"{stage} exited {code}:\n{stage_log(root, stage)[-3000:]}"


def kill_at(
    launcher: Launcher, stage: str, root: Path, wanted: int, trigger: str, file: str = ""
) -> KillPoint:
    """Start the stage and kill -9 it as soon as it reaches `wanted`. `trigger` "step": the
    step's loss is logged; "save": this run has logged the step and then written `file` into
    checkpoint-`wanted` (the Trainer logs, then saves); "final": training is over and the model
    dir is being written."""
    process, since_ms = start(launcher, stage, root)
    target = checkpoint_dir(root, stage) / f"checkpoint-{wanted}" / file
    model_dir = root / STAGES[stage][1]
    final = model_dir.with_name(f".{model_dir.name}.tmp")
    deadline = time.monotonic() + TIMEOUT_S
    logged = False  # "save": the step is logged; now watch for the file, closely
    while True:
        if trigger == "final" and final.is_dir():
            break
        if trigger == "save" and logged and target.exists():
            break
        if not logged and last_step(root, stage, since_ms) >= wanted:
            if trigger == "step":
                break
            logged = True
        code = process.poll(0.0002 if logged else 0.002)
        assert code is None, (
            f"{stage} ended ({code}) before reaching {trigger} {wanted}:\n"
            + stage_log(root, stage)[-3000:]
        )
        if time.monotonic() > deadline:
            os.kill(process.pid, signal.SIGKILL)
            raise AssertionError(f"{stage} never reached {trigger} {wanted} in {TIMEOUT_S} s")
    os.kill(process.pid, signal.SIGSTOP)  # freeze it where it is, look, then kill -9
    try:
        whole, partial = snapshot(root, stage)
        step = last_step(root, stage, since_ms)
    finally:
        os.kill(process.pid, signal.SIGKILL)
    assert process.wait(TIMEOUT_S) == -signal.SIGKILL
    return KillPoint(stage, wanted, f"{trigger} {file}".strip(), step, whole, partial)


def last_step(root: Path, stage: str, since_ms: int) -> int:
    return max((max(s) for s in logged_losses(root, stage, since_ms).values() if s), default=0)


def stage_log(root: Path, stage: str) -> str:
    path = root / "logs" / f"{stage}.log"
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def resumed_steps(root: Path, stage: str) -> list[int]:
    """The checkpoint step each run of the stage logged "resuming from" (in order)."""
    return [int(m) for m in RESUMED.findall(stage_log(root, stage))]


def digest(folder: Path) -> dict[str, str]:
    """md5 of every file under `folder`, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
