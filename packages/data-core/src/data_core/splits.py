"""Deterministic train/test splits by hashing ids: adding records never moves old ones."""

from __future__ import annotations

import hashlib
from typing import Literal


def split_of(
    record_id: str, test_fraction: float, salt: str = "ultramedical"
) -> Literal["train", "test"]:
    """`test` for a stable `test_fraction` share of ids, chosen by a salted sha256 of the id."""
    return "test" if hash_position(record_id, salt) < test_fraction else "train"


def hash_position(record_id: str, salt: str) -> float:
    """A stable point in [0, 1) for an id: the salted sha256 every hashed split cuts."""
    digest = hashlib.sha256(f"{salt}\0{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
