"""Resumable training state: a checkpoint folder stamped with the fingerprint of its recipe.

The Trainer writes `checkpoint-N` in place, file by file, and deletes old ones with rmtree; a
job killed meanwhile leaves a folder with some of its files. `CheckpointManifest` therefore
writes, last and atomically, the list of the folder's files and sizes: a checkpoint is resumed
only if its manifest is there and every listed file still is, whole.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data_core.io import write_json
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

log = logging.getLogger(__name__)

STAMP = "fingerprint.json"
MANIFEST = "checkpoint_files.json"  # written last: the folder is complete


class CheckpointManifest(TrainerCallback):
    """After every save: record the checkpoint's files and sizes (install after the callbacks
    that add files to the checkpoint, such as LossCarryCallback).

    The last planned step saves no checkpoint: the Trainer checks `max_steps` only after a step,
    so a run resumed from checkpoint-<max_steps> (killed during the held-out evaluation or the
    final save) trained one step more and reported another global_step and train_loss. Such a
    run resumes from the checkpoint before and redoes the last steps, identically.
    """

    def on_step_end(self, args, state, control, **kwargs):
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            control.should_save = False
        return control

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if folder.is_dir():
            files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
            sizes = {str(p.relative_to(folder)): p.stat().st_size for p in files}
            write_json(folder / MANIFEST, sizes)


def is_complete(folder: Path) -> bool:
    """Whether `folder` holds a whole checkpoint: its manifest and every file listed, same size."""
    try:
        sizes = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(
        (folder / name).is_file() and (folder / name).stat().st_size == size
        for name, size in sizes.items()
    )


def last_complete_checkpoint(checkpoints: Path, tidy: bool) -> str | None:
    """The newest whole `checkpoint-N` in `checkpoints`; `tidy`: delete the partial ones (a kill
    during a save or a rotation), so that neither a resume nor the Trainer's rotation reads them."""
    found: dict[int, Path] = {}
    for folder in checkpoints.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        step = folder.name.rsplit("-", 1)[1]
        if not (folder.is_dir() and step.isdigit()):
            continue
        if is_complete(folder):
            found[int(step)] = folder
        elif tidy:
            log.warning("removing %s: a partial checkpoint (the job was killed writing it)", folder)
            shutil.rmtree(folder, ignore_errors=True)
    return str(found[max(found)]) if found else None


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
        tidy = state.is_main_process
        last = (
            last_complete_checkpoint(checkpoints, tidy) if same and checkpoints.is_dir() else None
        )
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
