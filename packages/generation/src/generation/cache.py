"""Crash-safe response cache: SQLite in WAL mode, one committed row per response as it arrives,
and a record of the requests that failed, so that a re-run asks only for what is missing."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from generation.errors import UnansweredRequests
from generation.interface import Failure, Generation, Generator, Request, request_key

FAILED = "failed"  # finish_reason of a request that failed within the backend's failure budget


class ResponseCache:
    """Maps request keys to responses; a row is durable as soon as `put` returns.

    Autocommit plus WAL means a kill -9 at any instant leaves every finished response on disk and
    no partial row. Failed requests sit in `failures` (key, reason, attempts) until answered.
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
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, backend TEXT, "
            "model TEXT, reason TEXT NOT NULL, attempts INTEGER, runs INTEGER, created REAL)"
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
        """Store one response (its own transaction); it is no longer a failure."""
        self._db.execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?)",
            (key, backend, model, generation.to_json(), time.time()),
        )
        self._db.execute("DELETE FROM failures WHERE key = ?", (key,))

    def put_failure(self, key: str, backend: str, model: str, failure: Failure) -> None:
        """Record why a request failed (`runs` counts the runs it failed in)."""
        self._db.execute(
            "INSERT INTO failures VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT(key) DO UPDATE SET "
            "reason = excluded.reason, attempts = excluded.attempts, runs = runs + 1, "
            "created = excluded.created",
            (key, backend, model, failure.reason, failure.attempts, time.time()),
        )

    def failures(self) -> dict[str, Failure]:
        """Every request recorded as failed and not answered since."""
        rows = self._db.execute("SELECT key, reason, attempts FROM failures ORDER BY key")
        return {key: Failure(reason, attempts) for key, reason, attempts in rows}

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Close the connection (checkpoints the WAL)."""
        self._db.close()


class CachedGenerator(Generator):
    """Wraps a backend: hits come from the cache, misses are generated and each stored as it
    arrives. A failed request is recorded and never drops the others; past `max_failures` failed
    requests in this run, `generate` raises `UnansweredRequests` naming them once its batch is
    done. Within the budget a failed request comes back as empty text, finish_reason "failed".
    """

    def __init__(self, inner: Generator, cache: ResponseCache, max_failures: int = 0) -> None:
        super().__init__(inner.model)
        self.inner, self.cache, self.max_failures = inner, cache, max_failures
        self.kind = inner.kind
        self.failed: dict[str, Failure] = {}  # this run's failures, by request key

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, Generation | Failure]]:
        """Cache hits first, then each fresh response (committed) or failure (recorded)."""
        keys = [request_key(self.inner.kind, self.inner.model, r) for r in requests]
        hits = self.cache.get_many(keys)
        # Identical requests (same key) are asked once and answered for every index.
        asked: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            if key not in hits:
                asked.setdefault(key, []).append(i)
        missing = list(asked)
        self.stats["cache_hits"] += len(requests) - sum(map(len, asked.values()))
        self.stats["cache_misses"] += len(missing)
        for i, key in enumerate(keys):
            if key in hits:
                yield i, hits[key]
        for j, result in self.inner.stream([requests[asked[k][0]] for k in missing]):
            key = missing[j]
            if isinstance(result, Failure):
                self.cache.put_failure(key, self.inner.kind, self.inner.model, result)
                self.failed[key] = result
                self.stats["failed"] += 1
            else:
                self.cache.put(key, self.inner.kind, self.inner.model, result)
            for i in asked[key]:
                yield i, result

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """One Generation per request, in order; see the class for failures."""
        results = dict(self.stream(requests))
        if len(self.failed) > self.max_failures:
            raise UnansweredRequests(self.failure_summary())
        return [
            Generation("", FAILED) if isinstance(r, Failure) else r
            for r in (results[i] for i in range(len(requests)))
        ]

    def failure_summary(self) -> str:
        """One line: how many failed, why, which keys, and what a re-run does."""
        reasons = Counter(f.reason for f in self.failed.values())
        why = "; ".join(f"{n} x {reason}" for reason, n in reasons.most_common(5))
        keys = ", ".join(k[:12] for k in list(self.failed)[:5])
        more = f" (+{len(self.failed) - 5} more)" if len(self.failed) > 5 else ""
        return (
            f"{self.kind} backend {self.model!r}: {len(self.failed)} request(s) failed after "
            f"their retries (budget {self.max_failures}): {why}; keys {keys}{more}; recorded in "
            f"{self.cache.path} (table failures). Answered requests are cached: re-run the "
            "stage to retry only these."
        )

    def close(self) -> None:
        """Close the wrapped generator and the cache."""
        self.inner.close()
        self.cache.close()
