"""The embedded `JobQueue`: one process, in memory. Not durable by itself: at start the job
service queues again the jobs the store has as queued or running (`durable` is False)."""

from __future__ import annotations

import asyncio
import contextlib

from hub.core.ports.jobs import Delivery


class LocalJobQueue:
    """Waiting job ids in arrival order."""

    durable = False

    def __init__(self, wait: float = 1.0) -> None:
        self._waiting: dict[str, None] = {}  # insertion-ordered
        self._changed = asyncio.Event()
        self._wait = wait

    async def enqueue(self, job_id: str) -> int:
        self._waiting[job_id] = None
        self._changed.set()
        return len(self._waiting) - 1

    async def position(self, job_id: str) -> int | None:
        for index, waiting in enumerate(self._waiting):
            if waiting == job_id:
                return index
        return None

    async def waiting(self) -> int:
        return len(self._waiting)

    async def remove(self, job_id: str) -> None:
        self._waiting.pop(job_id, None)

    async def take(self) -> Delivery | None:
        if not self._waiting:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wait):
                    await self._changed.wait()
        if not self._waiting:
            return None
        job_id = next(iter(self._waiting))
        del self._waiting[job_id]
        return Delivery(job_id)

    async def renew(self, delivery: Delivery) -> None:
        pass

    async def done(self, delivery: Delivery) -> None:
        pass

    async def aclose(self) -> None:
        pass
