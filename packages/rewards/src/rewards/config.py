"""Typed view of params.yaml `reward:`: the Bradley-Terry reward model's recipe and data."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from data_core.config import Strict, parse_section, unique_names
from data_core.errors import ConfigError
from data_core.paths import StagePaths
from pydantic import Field, field_validator
from trainers.config import TrainConfig

PairFormat = Literal["ultramedical", "rewardbench"]
ScoreInit = Literal["random", "zero"]


class PairSource(Strict):
    """An extra preference file: UltraMedical-Preference release rows or RewardBench-style rows."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")  # the id prefix of its pairs
    format: PairFormat
    path: str  # relative to the repository root


class RewardConfig(TrainConfig):
    """reward: a sequence classifier (1 label) trained on chosen/rejected pairs with TRL's
    RewardTrainer, loss -log sigmoid(r_chosen - r_rejected [- margin])."""

    section: ClassVar[str] = "reward"
    learning_rate: float = Field(2e-4, gt=0, le=1)  # UltraMedical (8B): 2e-6
    output_dir: str = "models/reward"
    init_from: str = Field("sft", pattern=r"^[A-Za-z0-9_]+$")  # a `paths.models` entry
    # TRL: + coef * mean((r_c + r_r)^2), keeps rewards centred on 0 (0.01 recommended)
    center_rewards_coefficient: float | None = Field(0.01, ge=0)
    use_margin: bool = False  # subtract margin_scale * (chosen_score - rejected_score)
    margin_scale: float = Field(0.1, gt=0)  # the judge's 1-10 scores -> logit units
    # the new score head's own learning rate (None: learning_rate); it starts from scratch while
    # the body only adapts, so it can take a far larger step
    head_learning_rate: float | None = Field(None, gt=0, le=10)
    score_init: ScoreInit = "random"  # zero: every reward starts at 0 (no random head to undo)
    freeze_embeddings: bool = False  # token embeddings kept as the start model's
    freeze_layers: int = Field(0, ge=0)  # the first N decoder layers kept (fewer backward FLOPs)
    # torch intra-op threads while training (None: torch's default); a fixed count also fixes the
    # order of float reductions, so a re-run is bit-identical on any machine
    cpu_threads: int | None = Field(None, ge=1)
    max_train_records: int | None = Field(None, ge=1)  # of the preference set's train split
    dev_records: int = Field(0, ge=0)  # train-split pairs after those, scored only (recipe choice)
    max_eval_records: int | None = Field(None, ge=1)  # of its test split
    sources: list[PairSource] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[PairSource]) -> list[PairSource]:
        return unique_names(value)

    def start_model(self, paths: StagePaths) -> Path:
        """The model dir training starts from: `paths.models.<init_from>`."""
        try:
            path = paths[f"models.{self.init_from}"]
        except ConfigError as exc:
            raise ConfigError(
                f"params.yaml: reward.init_from: {self.init_from!r} is not a paths.models entry"
            ) from exc
        if not (path / "config.json").exists():
            raise ConfigError(
                f"params.yaml: reward.init_from: {path} holds no model (config.json missing)"
            )
        return path


def parse(params: dict[str, Any]) -> RewardConfig:
    """Validate `reward:`; errors read `params.yaml: reward.key: message`."""
    return parse_section(params, "reward", RewardConfig)


def rewardbench_files(params: dict[str, Any]) -> list[str]:
    """`reward_eval.rewardbench_files`: reward benchmarks every extra pair is checked against."""
    section = params.get("reward_eval") or {}
    files = (section.get("rewardbench_files") or []) if isinstance(section, dict) else section
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ConfigError(
            f"params.yaml: reward_eval.rewardbench_files: expected a list of paths, got {files!r}"
        )
    return files
