"""The embedded twins of the coordination ports that need no more than a few lines: one
process, nothing shared (the slot scheduler's twin is `hub/core/routing/fair_queue.py`, the
conversation locks' `hub/core/serial.py`). No Redis import here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from hub.core.ports.coordination import StopEntry

log = logging.getLogger(__name__)

Listener = Callable[[str], object]


class LocalStops:
    """The embedded `StopRegistry`: a dict of the tokens of this process's replies."""

    def __init__(self) -> None:
        self._entries: dict[str, StopEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def issue(self, token: str, entry: StopEntry) -> None:
        self._entries[token] = entry

    async def revoke(self, token: str) -> None:
        self._entries.pop(token, None)

    async def lookup(self, token: str) -> StopEntry | None:
        return self._entries.get(token)


class LocalDeliveries:
    """The embedded `DeliveryLog`: keys claimed in this process, forgotten after their TTL
    (and the oldest first beyond `size`, so memory stays bounded)."""

    def __init__(self, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._clock = clock
        self._until: OrderedDict[str, float] = OrderedDict()  # key -> when it is forgotten

    async def first(self, key: str, ttl: float) -> bool:
        return self.claim(key, ttl)

    def claim(self, key: str, ttl: float) -> bool:
        """`first`, without waiting (the Redis log's fallback)."""
        now = self._clock()
        until = self._until.get(key)
        if until is not None and until > now:
            return False
        self._until[key] = now + ttl
        self._until.move_to_end(key)
        while len(self._until) > self._size:
            self._until.popitem(last=False)
        return True


class LocalFeed:
    """The embedded `ChangeFeed`."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    async def publish(self, topic: str, payload: str) -> None:
        for listener in list(self._listeners.get(topic, [])):
            call_listener(listener, payload, topic)

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        self._listeners.setdefault(topic, []).append(listener)
        return lambda: discard(self._listeners.get(topic, []), listener)


class LocalLease:
    """The embedded `LeaderLease`: the only process always holds it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._closed = asyncio.Event()

    @property
    def held(self) -> bool:
        return not self._closed.is_set()

    @property
    def holder(self) -> str:
        return "" if self._closed.is_set() else "this process"

    async def start(self) -> None:
        pass

    async def wait(self, held: bool) -> None:
        if not held:
            await self._closed.wait()

    async def aclose(self) -> None:
        self._closed.set()


def call_listener(listener: Listener, payload: str, topic: str) -> None:
    try:
        listener(payload)
    except Exception:
        log.exception("a change listener failed", extra={"topic": topic})


def discard(listeners: list[Listener], listener: Listener) -> None:
    if listener in listeners:
        listeners.remove(listener)
