"""Batching the calls of one event-loop iteration into one round trip.

Under a burst (50 requests arriving at once) every request would pay a Redis round trip and,
more costly on a busy hub, the client's per-call CPU, one after another on the event loop.
`Batcher.add(item)` returns a future; every item added before the flush task runs (the next
loop iteration) goes to Redis in one call, and each future gets its own result. A lone call
costs what it did without batching.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 256  # items per call at most, so one script never blocks Redis for long


class Batcher(Generic[Item, Result]):
    """Collects items and sends them with `send(items) -> results` (same order, same length)."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._send = send
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, item: Item) -> asyncio.Future[Result]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.append((item, future))
        if not self._scheduled:
            self._scheduled = True
            task = loop.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return future

    async def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_BATCH):
            chunk = pending[start : start + MAX_BATCH]
            try:
                results = await self._send([item for item, _ in chunk])
            except BaseException as exc:  # every caller gets the failure (or the shutdown)
                for _, future in pending[start:]:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), result in zip(chunk, results, strict=True):
                if not future.done():
                    future.set_result(result)
