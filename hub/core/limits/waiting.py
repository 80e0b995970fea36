"""Waking requests that wait for a concurrency slot when a reply of the same person ends."""

from __future__ import annotations

import asyncio
import contextlib


class _Waiting:
    __slots__ = ("count", "event")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.count = 0


class ReleaseSignals:
    """One event per lease key that has waiters: `notify` wakes every waiter of that key.

    Only releases in this process are seen; waiters therefore also stop waiting after a
    timeout and ask the limiter again, which covers releases by other processes.
    """

    def __init__(self) -> None:
        self._keys: dict[str, _Waiting] = {}

    async def wait(self, key: str, within: float) -> None:
        """Until `key` is released here or `within` seconds have passed."""
        waiting = self._keys.get(key)
        if waiting is None:
            waiting = self._keys[key] = _Waiting()
        waiting.count += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await waiting.event.wait()
        finally:
            waiting.count -= 1
            if not waiting.count and self._keys.get(key) is waiting:
                del self._keys[key]

    def notify(self, key: str) -> None:
        waiting = self._keys.pop(key, None)
        if waiting is not None:
            waiting.event.set()
