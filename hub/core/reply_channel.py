"""The events of one reply on their way from the task producing them to the edge showing them.

A lighter `asyncio.Queue` for exactly one producer and one reader, with two things a queue
lacks: `take_ready()` hands over every event produced so far without waiting, so an edge that
writes in batches (HTTP streaming) wakes once per batch, not once per token; and `put()` never
blocks (the end of a reply must always get through) while `room()` lets the producer wait
until the reader has taken events off a full channel. The generation awaits `room()` after each
token, so a slow reader slows the reading from the backend (and, through TCP, the backend)
instead of the channel buffering the whole reply in memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from hub.core.cancel_safe import run_to_completion
from hub.core.models import ReplyEvent

# Events a reply may have waiting for its reader before the producer pauses: far more than one
# batch of a busy HTTP stream, a few tens of KB of text at most.
DEFAULT_LIMIT = 256


class Emit(Protocol):
    """Puts one event (or None, the end marker) on a reply's channel (`ReplyChannel`)."""

    def __call__(self, event: ReplyEvent | None, /) -> None: ...

    async def room(self) -> None:
        """Wait until the reader has room for more (a slow reader slows the generation)."""


class ReplyChannel:
    """Events of one reply; `None` from `get()` means it ended. `aclose()` stops the producer."""

    __slots__ = ("_ended", "_events", "_limit", "_room", "_task", "_waiter")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._events: deque[ReplyEvent | None] = deque()
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._ended = False

    def attach(self, task: asyncio.Task[None]) -> None:
        """The task producing the events (cancelled by `aclose`)."""
        self._task = task

    def __call__(self, event: ReplyEvent | None) -> None:
        """The pipeline's `Emit`: the same as `put`."""
        self.put(event)

    def put(self, event: ReplyEvent | None) -> None:
        """Add an event; `None` marks the end. Never blocks: see `room()`."""
        self._events.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def room(self) -> None:
        """Return once the reader has left room for more events (at once if there is room)."""
        while len(self._events) >= self._limit and not self._ended:
            self._room = asyncio.get_running_loop().create_future()
            try:
                await self._room
            finally:
                self._room = None

    def _taken(self) -> None:
        room = self._room
        if room is not None and not room.done():
            room.set_result(None)

    async def get(self) -> ReplyEvent | None:
        """The next event, waiting for it; `None` once the reply has ended."""
        while not self._events:
            if self._ended:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        event = self._events.popleft()
        if event is None:
            self._ended = True
        self._taken()
        return event

    def take_ready(self) -> list[ReplyEvent]:
        """Every event already produced, without waiting (up to the end)."""
        taken: list[ReplyEvent] = []
        events = self._events
        while events:
            event = events.popleft()
            if event is None:
                self._ended = True
                break
            taken.append(event)
        self._taken()
        return taken

    @property
    def ended(self) -> bool:
        """True once the end marker has been read."""
        return self._ended

    async def aclose(self) -> None:
        """Cancel the producer if it still runs and wait until it has finished (and stored)."""
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        await run_to_completion(asyncio.wait({task}))
