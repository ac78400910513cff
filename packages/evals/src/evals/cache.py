"""Resume for `evaluate`: each finished (model, task) unit is kept on disk under a content key.

The key hashes everything that decides the unit's per-item rows: the model (its files' md5, or the
endpoint and model id), the task run, the items, the prompts, the scoring settings and the evals
package's own source. An interrupted `evaluate` re-run therefore scores only the units it had not
finished, and any change to weights, items, params or scorer code misses the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
from data_core.io import atomic_path
from data_core.schemas import EvalItem
from generation import model_fingerprint

from evals.config import EvaluateConfig, ModelSpec, TaskRun

log = logging.getLogger(__name__)


@cache
def code_digest() -> str:
    """md5 of the evals package's Python source: a scorer change invalidates every unit."""
    pkg = Path(__file__).parent
    h = hashlib.md5()
    for path in sorted(pkg.rglob("*.py")):
        h.update(path.relative_to(pkg).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def model_identity(model: ModelSpec, root: Path) -> dict[str, Any]:
    """The spec plus the generation layer's fingerprint of the local model folder.

    Endpoints (openai) are identified by the spec alone. The fingerprint reads names, sizes and
    head/tail bytes, so multi-GB weights are not read whole on every `evaluate`.
    """
    local = root / model.path
    found = model.backend != "openai" and local.exists()
    return {
        **model.identity(exclude={"stage"}),
        "fingerprint": model_fingerprint(local) if found else None,
    }


def unit_key(
    model: dict[str, Any],
    run: TaskRun,
    items: Sequence[EvalItem],
    prompts: Sequence[str],
    cfg: EvaluateConfig,
    reward: dict[str, Any] | None = None,
) -> str:
    """sha256 over everything that decides a unit's rows, down to the last bit.

    The log-likelihood batch size is in it: batch shapes move float sums by ~1e-6.

    `reward`: the reward model's identity, for the best-of-n units it decides.
    """
    payload = {
        "model": model,
        # which models a run is for, and whether it may be skipped, do not decide its rows: a
        # one-off run of the same task (ultramedical-eval) shares the stage's units
        "run": run.model_dump(exclude={"models", "optional"}),
        "items": [i.model_dump(mode="json") for i in items],
        "prompts": list(prompts),
        "chat_template": cfg.chat_template,
        "max_length": cfg.max_length,
        "batch_tokens": cfg.batch_tokens,
        "device": cfg.device,
        "generation": cfg.generation.model_dump(),
        "reward": reward if run.scorer == "best_of_n" else None,
        "code": code_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class UnitCache:
    """One Parquet file of rows per finished unit in `directory` (None: no caching)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.used: set[Path] = set()
        self.hits = 0
        self.misses = 0

    def _path(self, model: str, task: str, key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{model}__{task}__{key[:20]}.parquet"

    def get(self, model: str, task: str, key: str) -> list[dict[str, Any]] | None:
        if self.directory is None:
            return None
        path = self._path(model, task, key)
        self.used.add(path)
        if not path.exists():
            self.misses += 1
            return None
        try:
            rows = pl.read_parquet(path).to_dicts()
        except (OSError, pl.exceptions.PolarsError) as exc:  # unreadable: score the unit again
            log.warning("evaluate cache: %s unreadable (%s); scoring again", path, exc)
            self.misses += 1
            return None
        self.hits += 1
        return rows

    def put(self, model: str, task: str, key: str, rows: list[dict[str, Any]]) -> None:
        if self.directory is None:
            return
        path = self._path(model, task, key)
        with atomic_path(path) as tmp:  # a crash mid-write leaves no half file to resume from
            pl.DataFrame(rows, infer_schema_length=None).write_parquet(tmp)
        self.used.add(path)

    def responses_path(self) -> Path | None:
        """Where API responses are kept one by one inside a unit (only API backends write it)."""
        return self.directory / "responses.sqlite" if self.directory is not None else None

    def prune(self) -> int:
        """After a complete run: drop units this run did not use (old weights, old params)."""
        if self.directory is None or not self.directory.exists():
            return 0
        stale = [p for p in self.directory.glob("*.parquet") if p not in self.used]
        stale += list(self.directory.glob(".*.tmp"))  # left by a kill -9 mid-write
        for path in stale:
            path.unlink()
        return len(stale)
