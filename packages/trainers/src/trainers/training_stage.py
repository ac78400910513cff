"""The stage side of a training run, the same for every training stage: the MLflow run, the
digests of the inputs, the model card, the metrics file (results only) and the MLflow record."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_core.io import file_digest
from data_core.paths import StagePaths
from data_core.tracking import stage_run

from trainers.card import CAUSAL_LM_USAGE, model_card
from trainers.distributed import maybe_run
from trainers.lifecycle import TrainingJob, TrainingResult
from trainers.reporting import model_reference, system_metrics, write_metrics


@dataclass
class TrainingStage:
    """One DVC training stage: `name` names its run, its checkpoints and metrics/<name>.json."""

    name: str
    paths: StagePaths
    inputs: Mapping[str, Path]  # in the order the card lists them
    params: Mapping[str, Any]  # logged to MLflow, the card's recipe, part of the fingerprint
    digests: dict[str, str] = field(default_factory=dict)
    run: Any = None
    job: TrainingJob | None = None

    @contextmanager
    def training(self, out_dir: Path) -> Iterator[TrainingJob]:
        """Open the stage's run (rank 0) with system metrics; yield the job the trainer runs."""
        root = self.paths.root
        self.digests = {name: file_digest(path) for name, path in self.inputs.items()}
        fingerprint = {"params": self.params, "data": self.digests}
        with maybe_run(stage_run(self.name, self.params, root=root)) as run, system_metrics(run):
            self.run = run
            checkpoints = self.paths["models.checkpoints"] / self.name
            self.job = TrainingJob(root, out_dir, checkpoints, fingerprint, run)
            yield self.job

    def publish(
        self,
        result: TrainingResult,
        *,
        model: str,
        title: str,
        base: str,
        usage: str = CAUSAL_LM_USAGE,
    ) -> None:
        """Rank 0: the card (`usage`: how to load the model) into the model dir, the metrics
        file, the MLflow record."""
        if self.run is None or self.job is None:
            return
        root, out_dir = self.paths.root, self.job.out_dir
        data = {str(path.relative_to(root)): self.digests[n] for n, path in self.inputs.items()}
        card = model_card(
            out_dir,
            title=title,
            base=base,
            data=data,
            recipe=self.params,
            metrics=result.metrics,
            usage=usage,
        )
        metrics = result.metrics | {"model": model_reference(self.run, out_dir, model, root)}
        write_metrics(self.paths["metrics"] / f"{self.name}.json", metrics)
        for name, path in self.inputs.items():
            self.run.log_input(path, name)
        self.run.log_metrics(metrics | result.mlflow_only)
        self.run.set_tags({k: v for k, v in result.mlflow_only.items() if isinstance(v, str) and v})
        self.run.log_artifact(card)
