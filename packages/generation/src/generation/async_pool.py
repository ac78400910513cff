"""One event loop per API client, in a daemon thread: results stream back to the caller's thread
as each request finishes, and every call through the pool shares one concurrency bound."""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from generation.tracing import TRACING, tracing_enabled

T = TypeVar("T")
U = TypeVar("U")
# (client, item) -> result; per-item failures are returned as values, never raised
Call = Callable[[Any, T], Awaitable[U]]


class AsyncPool:
    """`each(call, items)` runs `call(client, item)` for every item, at most `concurrency` in
    flight across all callers, and yields (index, result) in the caller's thread as they finish.

    The caller's thread keeps what must stay there (the SQLite cache commits each result), and
    an exception raised by a call (a fatal one: a refused key) stops the rest of the batch.
    """

    def __init__(self, concurrency: int, make_client: Callable[[], Any], name: str) -> None:
        self.concurrency, self._make_client, self._name = concurrency, make_client, name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def each(self, call: Call[T, U], items: list[T]) -> Iterator[tuple[int, U]]:
        """(index, result) per item, in completion order."""
        if not items:
            return
        loop = self._start()
        results: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        # Tasks run in a copy of the caller's context (its open trace span) with tracing decided
        # here: MLflow's active run is thread-local and would read as absent on the loop thread.
        context = contextvars.copy_context()
        context.run(TRACING.set, tracing_enabled())
        spawned = asyncio.run_coroutine_threadsafe(self._spawn(call, items, context, results), loop)
        try:
            for _ in items:
                index, result = results.get()
                if isinstance(result, BaseException):
                    raise result
                yield index, result
        finally:  # an early exit (an error, ctrl-C, a consumer that stops) cancels what is left
            spawned.cancel()

    async def _spawn(
        self,
        call: Call[T, U],
        items: list[T],
        context: contextvars.Context,
        results: queue.SimpleQueue[tuple[int, Any]],
    ) -> None:
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(self._one(call, i, item, results), context=context.copy())
            for i, item in enumerate(items)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _one(
        self, call: Call[T, U], index: int, item: T, results: queue.SimpleQueue[tuple[int, Any]]
    ) -> None:
        async with self._gate:
            try:
                results.put((index, await call(self._client, item)))
            except Exception as exc:  # handed to the caller's thread, which raises it
                results.put((index, exc))

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                asyncio.run_coroutine_threadsafe(self._setup(), loop).result()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _setup(self) -> None:
        self._gate = asyncio.Semaphore(self.concurrency)
        self._client = self._make_client()

    def close(self) -> None:
        """Close the client and stop the loop thread (a later `each` starts a fresh one)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._client.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=30)
        loop.close()
