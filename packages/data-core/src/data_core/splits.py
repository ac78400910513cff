"""Deterministic train/test splits by hashing ids: adding records never moves old ones."""

from __future__ import annotations

import hashlib
from typing import Literal


def split_of(
    record_id: str, test_fraction: float, salt: str = "ultramedical"
) -> Literal["train", "test"]:
    """`test` for a stable `test_fraction` share of ids, chosen by a salted sha256 of the id."""
    digest = hashlib.sha256(f"{salt}\0{record_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if position < test_fraction else "train"
