"""The repository's task declarations and paths (params.yaml), for tests that build their own
`evaluate:` section: the built-in tasks are data there, not Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from evals.config import EvaluateConfig, load_evaluate

REPO = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))


def with_tasks(params: dict[str, Any]) -> dict[str, Any]:
    """`params` plus the repository's `paths:`, `ingest.eval_sets` and `evaluate.heldout_sets`."""
    out = {"paths": PARAMS["paths"], **params}
    out.setdefault("ingest", {}).setdefault("eval_sets", PARAMS["ingest"]["eval_sets"])
    out["evaluate"] = {"heldout_sets": PARAMS["evaluate"]["heldout_sets"], **params["evaluate"]}
    return out


def evaluate_config(params: dict[str, Any]) -> EvaluateConfig:
    """The evaluate config of `params` with the repository's declared tasks."""
    return load_evaluate(with_tasks(params))
