"""A read timeout for streams that costs a float store per line instead of a timer.

`asyncio.timeout()` schedules and cancels a timer on every use: about 10 µs, which at thousands
of tokens per second across many streams is a fifth of the hub's CPU per token (measured by
benchmarks/backends.py). `ReadWatchdog` keeps one timer per stream that fires at most about once
per timeout period and re-arms itself from the latest deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class ReadTimeout(Exception):
    """No data arrived before the deadline given to `ReadWatchdog.read`."""


class ReadWatchdog:
    """Times awaits of one stream. Only time spent inside `read()` counts: while the consumer
    works on a line, the watchdog does not fire."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadline = 0.0
        self._task: asyncio.Task[object] | None = None  # set only while inside read()
        self._handle: asyncio.TimerHandle | None = None
        self._fired = False

    async def read(self, awaitable: Awaitable[T], deadline: float) -> T:
        """Await `awaitable`; raise `ReadTimeout` if it is still pending at `deadline`
        (loop time). A cancellation from elsewhere propagates unchanged."""
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        self._deadline, self._task = deadline, task
        if self._handle is None or self._handle.when() > deadline:
            self._rearm()
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self._fired:
                self._fired = False
                if task.uncancel() <= cancelling:
                    raise ReadTimeout from None
            raise
        finally:
            self._task = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _rearm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(self._deadline, self._check)

    def _check(self) -> None:
        self._handle = None
        if self._task is None:
            return  # not reading now; the next read() arms a new timer
        if self._loop.time() < self._deadline:
            self._rearm()  # data came since this timer was set; wait for the new deadline
            return
        self._fired = True
        self._task.cancel()
