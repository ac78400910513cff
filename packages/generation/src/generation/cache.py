"""Crash-safe response cache: SQLite in WAL mode, one committed row per response."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from generation.interface import Generation, Generator, Request, request_key


class ResponseCache:
    """Maps request keys to responses; a row is durable as soon as `put` returns.

    Autocommit plus WAL means a kill -9 at any instant leaves every finished response on disk and
    no partial row, so a re-run regenerates only what is missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, backend TEXT, "
            "model TEXT, payload TEXT NOT NULL, created REAL)"
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        """The cached responses among `keys`."""
        found: dict[str, Generation] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, payload FROM responses WHERE key IN ({marks})", chunk
            )
            found.update({key: Generation.from_json(payload) for key, payload in rows})
        return found

    def put(self, key: str, backend: str, model: str, generation: Generation) -> None:
        """Store one response (its own transaction)."""
        self._db.execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?)",
            (key, backend, model, generation.to_json(), time.time()),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Close the connection (checkpoints the WAL)."""
        self._db.close()


class CachedGenerator(Generator):
    """Wraps a backend: hits come from the cache, misses are generated then stored one by one."""

    def __init__(self, inner: Generator, cache: ResponseCache) -> None:
        super().__init__(inner.model)
        self.inner, self.cache = inner, cache
        self.kind = inner.kind

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """Serve from cache where possible; only misses reach the wrapped generator."""
        keys = [request_key(self.inner.kind, self.inner.model, r) for r in requests]
        hits = self.cache.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in hits]
        self.stats["cache_hits"] += len(requests) - len(missing)
        self.stats["cache_misses"] += len(missing)
        results: dict[int, Generation] = {}
        if missing:
            fresh = self.inner.generate([requests[i] for i in missing])
            for i, generation in zip(missing, fresh, strict=True):
                self.cache.put(keys[i], self.inner.kind, self.inner.model, generation)
                results[i] = generation
        return [hits[k] if k in hits else results[i] for i, k in enumerate(keys)]

    def close(self) -> None:
        """Close the wrapped generator and the cache."""
        self.inner.close()
        self.cache.close()
