"""The one model fingerprint: names, sizes and head/tail bytes of a model folder's files."""

from __future__ import annotations

import hashlib
from pathlib import Path


def model_fingerprint(path: str | Path, window: int = 1 << 20) -> str:
    """Identity of a model folder (12 hex digits; a missing path or a hub id gives md5 of nothing).

    It goes into cache keys, so retrained weights at the same path are never served stale
    completions; reading only 2 MiB per file keeps it fast for multi-GB checkpoints.
    """
    digest = hashlib.md5()
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(root).as_posix()}\0{size}\0".encode())
        with file.open("rb") as fh:
            digest.update(fh.read(window))
            if size > 2 * window:
                fh.seek(-window, 2)
                digest.update(fh.read(window))
    return digest.hexdigest()[:12]
