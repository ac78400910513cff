"""One MLflow run per stage execution: params, git commit, dataset digests, metrics, artifacts.

The tracking URI is `MLFLOW_TRACKING_URI` when set, else `sqlite:///<repo root>/mlflow.db`, so
`mlflow ui` run at the repo root shows every stage run. The stage runs of one `dvc repro` or
`dvc exp run` share a `pipeline_id` tag and nest under one parent run (data_core.pipeline_run);
trained models are MLflow logged models that point at their DVC-tracked folder (no copy).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from data_core.io import file_digest
from data_core.pipeline_run import (
    ID_TAG,
    LAUNCHER_TAG,
    PARENT_TAG,
    ROLE_TAG,
    close_stage,
    current_invocation,
    open_parent_run,
)

# MLflow prices traced token usage from a model catalog it downloads from github.com: nothing may
# reach the network at run time, so it uses the catalog bundled in the wheel (a user can still
# point the variable at a mirror).
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")

EXPERIMENT = "ultramedical"
# MLflow 3 opens an experiment in the GenAI or the model-training view by this tag; without it the
# UI guesses, and the traces of API teachers would make it guess GenAI.
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"


def repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding dvc.yaml or .git (else `start`)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists() or (folder / ".git").exists():
            return folder
    return here


def tracking_uri(root: Path | None = None) -> str:
    """Where runs go: the environment's choice, else the repo's sqlite file.

    Under `dvc exp run --temp` (and queued experiments) a stage runs in a scratch copy of the
    repo; DVC_ROOT then names the real repo, whose mlflow.db must get the runs.
    """
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    dvc_root = os.environ.get("DVC_ROOT")
    base = Path(dvc_root) if dvc_root and Path(dvc_root).is_dir() else repo_root(root)
    return f"sqlite:///{base / 'mlflow.db'}"


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirty flag of the working tree (empty when git is unavailable).

    Dirty means a tracked file other than a DVC output differs from HEAD: during `dvc repro`
    DVC deletes and rewrites the committed outputs (metrics/*.json, dvc.lock), which says
    nothing about whether the code and params that ran were committed.
    """

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
        return done.stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        changed = git("status", "--porcelain", "-z", "--untracked-files=no").split("\0")
    except (OSError, subprocess.CalledProcessError):
        return {}
    outputs = dvc_outputs(root)
    dirty = [e[3:] for e in changed if len(e) > 3 and e[3:] not in outputs]
    # `git_commit` repeats MLflow's own tag under a name the UI filters without backticks
    return {
        "mlflow.source.git.commit": commit,
        "git_commit": commit,
        "git_dirty": str(bool(dirty)).lower(),
    }


def dvc_outputs(root: Path) -> set[str]:
    """dvc.lock and every out it pins (repo-relative paths; empty without a lock)."""
    import yaml

    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {"dvc.lock"}
    stages = lock.get("stages") if isinstance(lock, dict) else None
    outs = {
        str(out["path"])
        for body in (stages or {}).values()
        for out in (body.get("outs") or [])
        if isinstance(out, dict) and "path" in out
    }
    return outs | {"dvc.lock"}


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

    def __init__(
        self, mlflow_module: Any, root: Path, params: Mapping[str, str] | None = None
    ) -> None:
        self._mlflow = mlflow_module
        self.root = root
        self.params = dict(params or {})
        self.run_id: str = mlflow_module.active_run().info.run_id

    def _shown(self, path: Path) -> str:
        """The path relative to the repo root (as dvc.yaml names it), else absolute."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())

    def _dataset(self, path: str | Path, name: str | None, context: str) -> str:
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        path = Path(path)
        digest = file_digest(path)
        shown = self._shown(path)
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
        if numeric:  # by run id: MLflow then reads the run's logged models and links them
            self._mlflow.log_metrics(numeric, step=step, run_id=self.run_id)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Attach a file a person wants to open (report, card, small JSON)."""
        self._mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Tag the run with strings (where a model was saved, what a run resumed from)."""
        if tags:
            self._mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_model(
        self,
        name: str,
        path: str | Path,
        *,
        digest: str | None = None,
        model_type: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """An MLflow logged model whose weights stay in the DVC-tracked folder; its model id.

        MLflow stores a stub MLmodel file only; the model carries `dvc_path` and `dvc_md5`, the
        run's params, and becomes the run's output, so metrics logged later at step 0 attach to it.
        """
        from mlflow.entities import LoggedModelOutput

        path = Path(path)
        run = self._mlflow.get_run(self.run_id)
        shared = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        model_tags = {
            **shared,
            "dvc_path": self._shown(path),
            "dvc_md5": digest or file_digest(path),
            "uri": path.resolve().as_uri(),
            **(tags or {}),
        }
        model = self._mlflow.create_external_model(
            name=name,
            source_run_id=self.run_id,
            tags=model_tags,
            params=self.params,
            model_type=model_type,
        )
        self._mlflow.log_outputs([LoggedModelOutput(model.model_id, step=0)])
        return model.model_id


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
    experiment = use_experiment(mlflow, os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT))
    client = mlflow.MlflowClient()
    invocation = current_invocation()
    shared = {**git_state(root), **invocation.tags, ID_TAG: invocation.pipeline_id}
    shared[LAUNCHER_TAG] = invocation.launcher
    parent = None
    if invocation.grouped:
        try:
            parent = open_parent_run(client, experiment.experiment_id, invocation, shared)
        except Exception as exc:  # grouping is a convenience, the stage goes on
            logging.getLogger(__name__).warning("no MLflow pipeline run: %s", exc)
    tags = {"stage": stage, ROLE_TAG: "stage", **shared} | ({PARENT_TAG: parent} if parent else {})
    started, status = time.monotonic(), "FAILED"
    try:
        with mlflow.start_run(run_name=stage, tags=tags, log_system_metrics=False):
            params_flat = {k: str(v)[:6000] for k, v in flatten(params).items()}
            if params_flat:
                mlflow.log_params(params_flat)
            yield StageRun(mlflow, root, params_flat)
        status = "FINISHED"
    finally:
        # API-call traces (generation.tracing) are exported in the background: write them now
        with contextlib.suppress(Exception):
            mlflow.flush_trace_async_logging()
        if parent:
            try:
                close_stage(client, parent, stage, status, time.monotonic() - started)
            except Exception as exc:  # never fail a stage over its parent run
                logging.getLogger(__name__).warning("pipeline run %s not updated: %s", parent, exc)


def use_experiment(mlflow_module: Any, name: str) -> Any:
    """Create or select the experiment and make it open in MLflow's model-training view."""
    experiment = mlflow_module.set_experiment(name)
    kind = experiment.tags.get(EXPERIMENT_KIND_TAG)
    # an unset or UI-inferred kind is ours to fix; a kind a person chose is kept
    if kind is None or kind.endswith("_inferred") or kind == "no_inferred_type":
        mlflow_module.MlflowClient().set_experiment_tag(
            experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
        )
    return experiment
