"""One MLflow run per stage execution: params, git commit, dataset digests, metrics, artifacts.

The tracking URI is `MLFLOW_TRACKING_URI` when set, else `sqlite:///<repo root>/mlflow.db`, so
`mlflow ui` run at the repo root shows every stage run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from data_core.io import file_digest

EXPERIMENT = "ultramedical"


def repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding dvc.yaml or .git (else `start`)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists() or (folder / ".git").exists():
            return folder
    return here


def tracking_uri(root: Path | None = None) -> str:
    """Where runs go: the environment's choice, else the repo's sqlite file."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root(root) / 'mlflow.db'}"


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirty flag of the working tree (empty when git is unavailable)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"mlflow.source.git.commit": commit, "git_dirty": str(bool(dirty)).lower()}


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params/metrics -> dotted keys (lists get their index as a key part)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and any(isinstance(v, (Mapping, list)) for v in value):
            out.update(flatten({str(i): v for i, v in enumerate(value)}, f"{name}."))
        else:
            out[name] = value
    return out


class StageRun:
    """Handle on the active run; every method is safe to call many times."""

    def __init__(self, mlflow_module: Any, root: Path) -> None:
        self._mlflow = mlflow_module
        self.root = root
        self.run_id: str = mlflow_module.active_run().info.run_id

    def _dataset(self, path: str | Path, name: str | None, context: str) -> str:
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        path = Path(path)
        digest = file_digest(path)
        try:
            shown = path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            shown = str(path.resolve())
        with warnings.catch_warnings():  # MLflow registers the local source twice and says so
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(str(path.resolve()))
        dataset = MetaDataset(source=source, name=name or shown, digest=digest[:36])
        self._mlflow.log_input(dataset, context=context, tags={"path": shown, "md5": digest})
        return digest

    def log_input(self, path: str | Path, name: str | None = None) -> str:
        """Record an input file or folder by digest (an MLflow dataset input, context "input")."""
        return self._dataset(path, name, "input")

    def log_output(self, path: str | Path, name: str | None = None) -> str:
        """Record an output file or folder by digest (an MLflow dataset input, context "output")."""
        return self._dataset(path, name, "output")

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log every numeric leaf of a (nested) mapping."""
        numeric = {
            k: float(v)
            for k, v in flatten(metrics).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if numeric:
            self._mlflow.log_metrics(numeric, step=step)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Attach a file a person wants to open (report, card, small JSON)."""
        self._mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Tag the run with strings (where a model was saved, what a run resumed from)."""
        if tags:
            self._mlflow.set_tags({k: str(v) for k, v in tags.items()})


@contextmanager
def stage_run(
    stage: str, params: Mapping[str, Any], *, root: Path | None = None
) -> Iterator[StageRun]:
    """Open the stage's MLflow run; it ends FAILED if the block raises."""
    import mlflow  # heavy import, deferred so that `import data_core` stays light

    for noisy in ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root = repo_root(root)
    mlflow.set_tracking_uri(tracking_uri(root))
    mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT))
    tags = {"stage": stage, **git_state(root)}
    with mlflow.start_run(run_name=stage, tags=tags, log_system_metrics=False):
        params_flat = {k: str(v)[:6000] for k, v in flatten(params).items()}
        if params_flat:
            mlflow.log_params(params_flat)
        yield StageRun(mlflow, root)
