"""A virtual clock for budget and render tests: time moves only when every task is waiting.

`FakeClock.run(coro)` drives `coro`: it lets the loop settle, then jumps to the earliest pending
`sleep` deadline and wakes that sleeper. Time never passes on its own, so tests can assert
exact times ("the edit after a 2 s retry-after came at t + 2.0") without wall-clock flakiness.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class FakeClock:
    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self.t + max(0.0, seconds), self._seq, fut))
        self._seq += 1
        await fut

    async def _settle(self, rounds: int) -> None:
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def run(self, awaitable: Awaitable[T], *, settle: int = 30) -> T:
        task = asyncio.ensure_future(awaitable)
        stuck = 0
        while not task.done():
            await self._settle(settle)
            if task.done():
                break
            while self._heap and self._heap[0][2].done():
                heapq.heappop(self._heap)
            if not self._heap:
                stuck += 1
                if stuck > 100:
                    task.cancel()
                    raise RuntimeError("deadlock: nothing sleeps on the fake clock")
                continue
            stuck = 0
            deadline = self._heap[0][0]
            self.t = max(self.t, deadline)
            while self._heap and self._heap[0][0] <= deadline:
                _, _, fut = heapq.heappop(self._heap)
                if not fut.done():
                    fut.set_result(None)
        return task.result()
