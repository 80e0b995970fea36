"""Duties only one replica may do at a time (`LeaderLease`): polling Telegram's getUpdates (two
pollers would steal each other's updates), and later each Discord shard.

The twin always holds its lease (one process). On Redis the lease is one key
(`{<ns>:lead:<name>}`) holding the holder's replica id with a TTL: each replica tries to take it
(SET NX) every third of the TTL, and the holder renews it (compare and extend). When the holder
dies its key expires and another replica takes over within the TTL and a third. A holder that
cannot reach Redis for most of the TTL gives the duty up, since another replica may take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hub.core.coordination.redis_link import CoordinationUnavailable, RedisLink, Script

log = logging.getLogger(__name__)

LEASE_TTL = 5.0  # seconds: how long a dead holder keeps a duty

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease:
    """`LeaderLease` on Redis; `start()` begins competing for it."""

    def __init__(self, link: RedisLink, name: str, *, ttl: float = LEASE_TTL) -> None:
        self.name = name
        self._link = link
        self._key = link.key(f"lead:{name}")
        self._ttl = ttl
        self._held = False
        self._holder = ""
        self._changed = asyncio.Event()
        self._renewed_at = 0.0
        self._renew = Script(_RENEW)
        self._release = Script(_RELEASE)
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return self._held

    @property
    def holder(self) -> str:
        return self._holder

    async def start(self) -> None:
        if self._task is None:
            await self._step()  # know at once whether we hold it
            self._task = asyncio.create_task(self._run(), name=f"lease-{self.name}")

    async def wait(self, held: bool) -> None:
        while self._held != held:
            await self._changed.wait()
            self._changed.clear()

    async def _run(self) -> None:
        while not self._link.closed:
            await asyncio.sleep(self._ttl / 3)
            await self._step()

    async def _step(self) -> None:
        loop = asyncio.get_running_loop()
        me, ttl_ms = self._link.replica, round(self._ttl * 1000)
        try:
            if self._held or self._holder == me:
                kept = await self._link.script(self._renew, [self._key], [me, ttl_ms])
                if kept:
                    self._renewed_at = loop.time()
                    self._set(True, me)
                    return
            taken = await self._link.run(lambda c: c.set(self._key, me, nx=True, px=ttl_ms))
            if taken:
                self._renewed_at = loop.time()
                self._set(True, me)
                return
            holder = await self._link.run(lambda c: c.get(self._key))
            self._set(False, _text(holder))
        except CoordinationUnavailable:
            # Another replica may take the duty once our key expires: give it up before that.
            if self._held and loop.time() - self._renewed_at > self._ttl * 0.6:
                self._set(False, "")

    def _set(self, held: bool, holder: str) -> None:
        self._holder = holder
        if held != self._held:
            self._held = held
            log.info(
                "lease taken" if held else "lease lost",
                extra={"lease": self.name, "replica": self._link.replica},
            )
            self._changed.set()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._held:
            with contextlib.suppress(CoordinationUnavailable):
                await self._link.script(self._release, [self._key], [self._link.replica])
            self._set(False, "")


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
