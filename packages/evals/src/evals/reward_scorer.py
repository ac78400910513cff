"""The reward model behind best-of-n: loaded once per evaluate, and identified in the unit cache
keys by its files, so retraining it re-scores exactly the best-of-n units and nothing else."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from data_core.errors import ConfigError
from generation import model_fingerprint

from evals.scorers import RewardScorer


def load_reward_scorer(target: str | None, model_path: Path | None = None) -> RewardScorer:
    """Import 'package.module:factory' and call it (with the model dir when one is configured):
    the rewards package plugs in here, evals never imports it."""
    if not target or ":" not in target:
        raise ConfigError(
            f"params.yaml: evaluate.reward_scorer: expected 'module:factory', got {target!r}"
        )
    module, attr = target.split(":", 1)
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"params.yaml: evaluate.reward_scorer: cannot load {target!r}: {exc}"
        ) from exc
    if model_path is None:
        return factory()
    if not model_path.exists():
        raise ConfigError(f"params.yaml: evaluate.reward_model: {model_path} does not exist")
    if not inspect.signature(factory).parameters:
        raise ConfigError(
            f"params.yaml: evaluate.reward_scorer: {target} takes no model path, "
            "but evaluate.reward_model names one"
        )
    return factory(model_path)


class RewardModelRef:
    """`evaluate.reward_scorer` + `evaluate.reward_model`: identity now, the model on first use."""

    def __init__(self, target: str | None, model_path: Path | None) -> None:
        self.target = target
        self.model_path = model_path
        self._scorer: RewardScorer | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """What a best-of-n unit's rows depend on: the factory and the model's files."""
        found = self.model_path is not None and self.model_path.exists()
        return {
            "factory": self.target,
            "fingerprint": model_fingerprint(self.model_path) if found else None,
        }

    def get(self) -> RewardScorer:
        if self._scorer is None:
            self._scorer = load_reward_scorer(self.target, self.model_path)
        return self._scorer
