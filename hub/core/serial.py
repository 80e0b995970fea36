"""One reply at a time per conversation: the embedded twin of `ConversationLocks` (one process;
`hub/core/coordination/redis_turns.py` is the one every replica shares).

Each conversation with a reply running or waiting has a slot: a lock, the number of replies
holding or waiting for it, and how to stop the reply that holds it. A slot is removed as soon
as nobody holds or waits for it, so the registry only ever holds the conversations that are
busy right now.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from hub.core.ports.coordination import TurnLease


@dataclass(slots=True)
class _Holder:
    on_stop: Callable[[], object]
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    holder: _Holder | None = None


class ConversationSlots:
    """Per-conversation locks that vanish when idle (`ConversationLocks`)."""

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

    def holds(self, key: str) -> bool:
        """Whether a reply holds `key` in this process."""
        slot = self._slots.get(key)
        return slot is not None and slot.holder is not None

    @asynccontextmanager
    async def hold(
        self,
        key: str,
        *,
        on_stop: Callable[[], object],
        on_wait: Callable[[int], object] | None = None,
    ) -> AsyncIterator[TurnLease]:
        """Wait for the conversation to be free, then hold it until the block ends."""
        waited = self.ahead(key)
        if waited >= 0 and on_wait is not None:
            on_wait(waited)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.users += 1
        try:
            async with slot.lock:
                holder = slot.holder = _Holder(on_stop)
                try:
                    # Fence 0: one process holds every lease itself, there is nobody to fence.
                    yield TurnLease(key, 0, waited)
                finally:
                    slot.holder = None
                    holder.done.set()
        finally:
            slot.users -= 1
            if slot.users == 0 and self._slots.get(key) is slot:
                del self._slots[key]

    async def stop(self, key: str) -> bool:
        """Stop the reply holding `key`; returns once it let go (it stored its turn)."""
        slot = self._slots.get(key)
        holder = slot.holder if slot is not None else None
        if holder is None:
            return False
        holder.on_stop()
        await holder.done.wait()
        return True
