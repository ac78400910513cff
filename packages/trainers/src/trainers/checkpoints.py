"""Resumable training state: a checkpoint folder stamped with the fingerprint of its recipe."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers.trainer_utils import get_last_checkpoint

log = logging.getLogger(__name__)

STAMP = "fingerprint.json"


def prepare_checkpoints(checkpoints: Path, fingerprint: Mapping[str, Any]) -> str | None:
    """The checkpoint to resume from, if `checkpoints` holds one made with the same fingerprint.

    A checkpoint made with other params or data is stale: resuming it would mix two recipes, so
    the folder is cleared instead. Rank 0 tidies the folder first; the other ranks then read it.
    """
    from accelerate import PartialState

    stamp = checkpoints / STAMP
    wanted = json.dumps(fingerprint, sort_keys=True, default=str)
    state = PartialState()
    with state.main_process_first():
        same = stamp.exists() and stamp.read_text(encoding="utf-8") == wanted
        last = get_last_checkpoint(str(checkpoints)) if same and checkpoints.is_dir() else None
        if state.is_main_process and not last:
            shutil.rmtree(checkpoints, ignore_errors=True)
            checkpoints.mkdir(parents=True, exist_ok=True)
            stamp.write_text(wanted, encoding="utf-8")
    if last:
        log.info("resuming from %s", last)
    return last


def checkpoint_step(checkpoint: str | None) -> int:
    """The global step a `checkpoint-N` folder was saved at (0 for a fresh start)."""
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else 0
