"""`ConversationLocks` shared by every replica: one reply at a time per conversation, in order.

Each reply takes a ticket in the conversation's queue in Redis (`turns.lua`); the first ticket
holds the conversation, and its fence (a number that only grows) goes with the reply's writes.
Tickets are leases renewed by the link's heartbeat: a replica that dies lets go of its
conversations after the lease TTL. When a holder leaves, the script publishes the
conversation on `<ns>:turns` and the replicas with a reply waiting there look again; a
waiting reply also looks every `poll` seconds, in case a message was missed.

Stopping a reply another replica runs: the holder's ticket names its replica, and each replica
listens on its own channel `<ns>:stop:<replica>` for the conversations to stop.

If Redis cannot be reached, conversations are held in this process only (as without Redis)
until it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from hub.core.cancel_safe import run_to_completion
from hub.core.coordination.redis_link import RESET, CoordinationUnavailable, RedisLink, Script
from hub.core.ports.coordination import TurnLease
from hub.core.serial import ConversationSlots

log = logging.getLogger(__name__)

STOP_WAIT = 5.0  # seconds a stop waits for another replica's reply to let go


@dataclass(eq=False)
class _Ticket:
    key: str
    id: str
    on_stop: Callable[[], object]
    holding: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class RedisTurns:
    """`ConversationLocks` on Redis; build with `open` (it loads the script)."""

    def __init__(self, link: RedisLink, script: Script, *, poll: float = 1.0) -> None:
        self._link = link
        self._script = script
        self._poll = poll
        self._seq = 0
        self._tickets: dict[str, _Ticket] = {}  # id -> this replica's tickets
        self._holding: dict[str, _Ticket] = {}  # conversation -> the ticket holding it here
        self._wakes: dict[str, asyncio.Event] = {}  # conversation -> wakes replies waiting here
        self._fallback = ConversationSlots()
        self._channel = link.channel("turns")
        link.subscribe(self._channel, self._on_moved)
        link.subscribe(link.channel("stop", link.replica), self._on_stop)
        link.on_heartbeat(self._renew)

    @classmethod
    async def open(cls, link: RedisLink, *, poll: float = 1.0) -> RedisTurns:
        return cls(link, await link.load("turns.lua"), poll=poll)

    def __len__(self) -> int:
        return len({t.key for t in self._tickets.values()}) + len(self._fallback)

    def _keys(self, key: str) -> list[str]:
        area = f"turn:{key}"
        return [self._link.key(area, "queue"), self._link.key(area, "expiry")]

    async def _call(self, op: str, key: str, *args: Any) -> Any:
        keys = [*self._keys(key), self._link.key(f"turn:{key}", "fence")]
        argv = (op, "", self._link.ttl_ms, self._channel, key, *args)
        return await self._link.script(self._script, keys, argv)

    # --- ConversationLocks ---------------------------------------------------------------------

    @asynccontextmanager
    async def hold(
        self,
        key: str,
        *,
        on_stop: Callable[[], object],
        on_wait: Callable[[int], object] | None = None,
    ) -> AsyncIterator[TurnLease]:
        """Take a ticket, wait until it is first, hold the conversation for the block."""
        self._seq += 1
        ticket = _Ticket(key, f"{self._link.replica}:{self._seq}", on_stop)
        try:
            fence, rank = await self._enter(ticket)
        except CoordinationUnavailable:
            async with self._fallback.hold(key, on_stop=on_stop, on_wait=on_wait) as lease:
                yield lease
            return
        try:
            waited = rank - 1 if rank > 0 else -1
            if rank > 0:
                if on_wait is not None:
                    on_wait(waited)
                fence = await self._wait_first(ticket, fence)
            ticket.holding = True
            self._holding[key] = ticket
            yield TurnLease(key, fence, waited)
        finally:
            await run_to_completion(self._leave(ticket))

    async def _enter(self, ticket: _Ticket) -> tuple[int, int]:
        """Queue `ticket` (under a new id when it queued before); (fence, rank)."""
        self._tickets[ticket.id] = ticket
        try:
            fence, rank = await run_to_completion(self._call("enter", ticket.key, ticket.id))
        except CoordinationUnavailable:
            self._tickets.pop(ticket.id, None)
            raise
        except asyncio.CancelledError:  # the reply was stopped while queueing: never leave a
            await run_to_completion(self._leave(ticket))  # ticket behind
            raise
        return int(fence), int(rank)

    async def _wait_first(self, ticket: _Ticket, fence: int) -> int:
        """Wait until `ticket` holds its conversation; a ticket that expired meanwhile (Redis
        was out of reach longer than the lease) queues again. Returns the fence."""
        wake = self._wakes.setdefault(ticket.key, asyncio.Event())
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await wake.wait()
            wake.clear()
            try:
                rank = int(await self._call("status", ticket.key, ticket.id))
                if rank < 0:
                    self._tickets.pop(ticket.id, None)
                    self._seq += 1
                    ticket.id = f"{self._link.replica}:{self._seq}"
                    fence, rank = await self._enter(ticket)
            except CoordinationUnavailable:
                continue
            if rank == 0:
                return fence

    async def _leave(self, ticket: _Ticket) -> None:
        self._tickets.pop(ticket.id, None)
        if self._holding.get(ticket.key) is ticket:
            del self._holding[ticket.key]
        ticket.done.set()
        if not any(t.key == ticket.key for t in self._tickets.values()):
            self._wakes.pop(ticket.key, None)
        try:
            await self._call("leave", ticket.key, ticket.id)
        except CoordinationUnavailable:
            log.warning(
                "could not let go of a conversation; it is free when its lease expires",
                extra={"lease_ttl": self._link.lease_ttl},
            )

    async def stop(self, key: str) -> bool:
        """Stop the reply holding `key`, here or on the replica that runs it."""
        local = self._holding.get(key)
        if local is not None:
            local.on_stop()
            await local.done.wait()
            return True
        if await self._fallback.stop(key):
            return True
        try:
            holder = _text(await self._call("holder", key))
        except CoordinationUnavailable:
            return False
        replica = holder.rpartition(":")[0]
        if not holder or replica == self._link.replica:
            return False  # nothing holds it, or only a reply of ours that is still starting
        await self._link.publish(self._link.channel("stop", replica), key)
        return await self._gone(key, holder)

    async def _gone(self, key: str, holder: str) -> bool:
        """Wait (at most STOP_WAIT seconds) until `holder` no longer holds `key`."""
        wake = self._wakes.setdefault(key, asyncio.Event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_WAIT
        try:
            while loop.time() < deadline:
                try:
                    if _text(await self._call("holder", key)) != holder:
                        return True
                except CoordinationUnavailable:
                    return False
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(0.2, max(0.0, deadline - loop.time()))):
                        await wake.wait()
                wake.clear()
        finally:
            if not any(t.key == key for t in self._tickets.values()):
                self._wakes.pop(key, None)
        log.warning("a stopped reply on another replica did not end in time", extra={"key": key})
        return False

    # --- messages and heartbeat ----------------------------------------------------------------

    def _on_moved(self, key: str) -> None:
        if key == RESET:
            for every in self._wakes.values():
                every.set()
            return
        wake = self._wakes.get(key)
        if wake is not None:
            wake.set()

    def _on_stop(self, key: str) -> None:
        ticket = self._holding.get(key)
        if ticket is not None:
            log.info("reply stopped from another replica", extra={"key": key})
            ticket.on_stop()

    async def _renew(self) -> None:
        tickets = list(self._tickets.values())
        for ticket in tickets:
            missing = await self._call("renew", ticket.key, ticket.id)
            if missing and ticket.holding:
                log.warning(
                    "a conversation lease expired while its reply ran (Redis was unreachable "
                    "for longer than the lease); another reply may have started there",
                    extra={"key": ticket.key, "lease_ttl": self._link.lease_ttl},
                )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
