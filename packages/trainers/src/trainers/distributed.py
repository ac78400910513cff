"""Which process does what under `accelerate launch`: only rank 0 logs and writes outputs."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any


def is_main_process() -> bool:
    """True on rank 0 (or when not launched distributed): only it logs and writes outputs."""
    return int(os.environ.get("RANK", "0")) == 0


def is_distributed() -> bool:
    """True under `accelerate launch` / torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def maybe_run(ctx: AbstractContextManager[Any]) -> AbstractContextManager[Any]:
    """The stage's MLflow run context on rank 0; a no-op context yielding None elsewhere."""
    return ctx if is_main_process() else nullcontext(None)
