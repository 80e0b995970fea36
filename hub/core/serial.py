"""One reply at a time per conversation.

Each conversation with a reply running or waiting has a slot: a lock, the number of replies
holding or waiting for it, and the task of the reply that holds it (so `/stop` can cancel it).
A slot is removed as soon as nobody holds or waits for it, so the registry only ever holds the
conversations that are busy right now.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    running: asyncio.Task[Any] | None = None


class ConversationSlots:
    """Per-conversation locks that vanish when idle."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def ahead(self, key: str) -> int:
        """How many replies wait before a newcomer would start (0 = next; -1 = free now)."""
        slot = self._slots.get(key)
        if slot is None or not slot.lock.locked():
            return -1
        return slot.users - 1

    def running(self, key: str) -> asyncio.Task[Any] | None:
        """The task of the reply streaming in `key`, if any."""
        slot = self._slots.get(key)
        return slot.running if slot is not None else None

    @asynccontextmanager
    async def hold(self, key: str, task: asyncio.Task[Any]) -> AsyncIterator[None]:
        """Wait for the conversation to be free, then mark `task` as its running reply."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.users += 1
        try:
            async with slot.lock:
                slot.running = task
                try:
                    yield
                finally:
                    slot.running = None
        finally:
            slot.users -= 1
            if slot.users == 0 and self._slots.get(key) is slot:
                del self._slots[key]
