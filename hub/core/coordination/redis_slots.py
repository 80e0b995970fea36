"""The `SlotScheduler` shared by every replica: backend slots and the fair queue in Redis.

Every step is one call of `slots.lua` (atomic): a request takes a slot or a place in the queue
(`enter`), gives it back (`close`), or asks where its tickets stand (`status`). Slots and
waiting tickets are leases: this replica renews its own with the link's heartbeat, and those of
a replica that died expire after the lease TTL, freeing their slots for the others.

When the queue changes the script publishes on `<ns>:slots` the tickets it granted; each
replica then picks up its grants and refreshes the positions of its waiting tickets (one
`status` call). While a ticket waits, it also asks every `poll` seconds, in case a message was
missed. Requests cost a round trip to enter and one to leave; streamed chunks cost nothing.

If Redis cannot be reached, requests are served through the embedded scheduler instead (slots
counted per replica, as without Redis), and Redis is used again as soon as it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from hub.core.coordination.batching import Batcher
from hub.core.coordination.redis_link import CoordinationUnavailable, RedisLink, Script
from hub.core.ports import SlotTicket
from hub.core.routing.fair_queue import Scheduler, queue_full
from hub.core.routing.state import Target

log = logging.getLogger(__name__)

KEY_NAMES = ("wait", "tickets", "alive", "grants", "served", "seq", "busy")
GRANTED, WAITING, FULL, GONE = 1, 0, -1, -2


class RedisTicket:
    """A request's claim on a slot, as this replica knows it (see `SlotTicket`)."""

    __slots__ = (
        "_closed",
        "_owner",
        "_wake",
        "candidates",
        "id",
        "lost",
        "position",
        "target",
        "targets",
        "user_id",
    )

    def __init__(
        self, owner: RedisSlots, ticket_id: str, user_id: str, candidates: Sequence[Target]
    ) -> None:
        self._owner = owner
        self._wake = asyncio.Event()
        self._closed = False
        self.id = ticket_id
        self.user_id = user_id
        self.candidates = list(candidates)  # every target the router named
        self.targets = [t for t in self.candidates if not t.state.down]  # as Redis knows them
        self.position = -1
        self.target: Target | None = None
        self.lost = False

    async def changed(self) -> None:
        await self._wake.wait()
        self._wake.clear()

    def notify(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._owner.close(self)


class RedisSlots:
    """`SlotScheduler` on Redis; build with `open` (it loads the script)."""

    def __init__(
        self, link: RedisLink, script: Script, queue_limit: int, *, poll: float = 1.0
    ) -> None:
        self._link = link
        self._script = script
        self._limit = queue_limit
        self._poll = poll
        self._keys = [link.key("slots", name) for name in KEY_NAMES]
        self._channel = link.channel("slots")
        self._waiting: dict[str, RedisTicket] = {}
        self._granted: dict[str, RedisTicket] = {}
        self._seq = 0
        self._fallback = Scheduler(queue_limit)
        self._refreshing: asyncio.Task[None] | None = None
        self._again = False
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Calls of one loop iteration go to Redis together: one script call per burst.
        self._entering: Batcher[tuple[str, str, str], tuple[int, int]] = Batcher(self._enter_batch)
        self._closing: Batcher[str, None] = Batcher(self._close_batch)
        link.subscribe(self._channel, self._on_wake)
        link.on_heartbeat(self._renew)

    @classmethod
    async def open(cls, link: RedisLink, queue_limit: int, *, poll: float = 1.0) -> RedisSlots:
        return cls(link, await link.load("slots.lua"), queue_limit, poll=poll)

    @property
    def waiting(self) -> int:
        return len(self._waiting) + self._fallback.waiting

    async def _call(self, op: str, *args: Any) -> Any:
        argv = (op, "", self._link.ttl_ms, self._channel, *args)
        return await self._link.script(self._script, self._keys, argv)

    # --- SlotScheduler ---------------------------------------------------------------------

    async def enter(self, user_id: str, targets: Sequence[Target]) -> SlotTicket[Target]:
        """A ticket holding a slot or waiting for one; raises when the queue is full.

        Requests arriving together (a burst) enter in one script call."""
        self._seq += 1
        ticket = RedisTicket(self, f"{self._link.replica}:{self._seq}", user_id, targets)
        if not ticket.targets:  # the router never asks with every target down; be safe
            ticket.targets = list(ticket.candidates)
        entered = self._entering.add((ticket.id, user_id, _spec(ticket)))
        try:
            kind, value = await asyncio.shield(entered)
        except CoordinationUnavailable:
            return self._fallback.enter_now(user_id, targets)
        except asyncio.CancelledError:  # the reader left while entering: leave again
            entered.add_done_callback(lambda done: self._abandon(ticket, done))
            raise
        if kind == FULL:
            raise queue_full(int(value))
        if kind == GRANTED:
            self._grant(ticket, int(value))
        else:
            ticket.position = int(value)
            self._waiting[ticket.id] = ticket
            self._watch()
        return ticket

    def _abandon(self, ticket: RedisTicket, entered: asyncio.Future[Any]) -> None:
        if not entered.cancelled() and entered.exception() is None:
            self._spawn(self._leave([ticket.id]))

    async def _enter_batch(self, items: list[tuple[str, str, str]]) -> list[tuple[int, int]]:
        flat = [part for item in items for part in item]
        answer = await self._call("enter", self._limit, *flat)
        return [(int(answer[2 * i]), int(answer[2 * i + 1])) for i in range(len(items))]

    async def close(self, ticket: RedisTicket) -> None:
        self._waiting.pop(ticket.id, None)
        if self._granted.pop(ticket.id, None) is not None and ticket.target is not None:
            ticket.target.state.in_flight -= 1
        try:
            await self._closing.add(ticket.id)
        except CoordinationUnavailable:
            log.warning(
                "could not give a backend slot back; it is freed when its lease expires",
                extra={"lease_ttl": self._link.lease_ttl},
            )

    async def _leave(self, ticket_ids: list[str]) -> None:
        with contextlib.suppress(CoordinationUnavailable):
            await self._call("close", *ticket_ids)

    async def _close_batch(self, ticket_ids: list[str]) -> list[None]:
        await self._call("close", *ticket_ids)
        return [None] * len(ticket_ids)

    def dispatch(self) -> None:
        """A backend went down or came back: re-place this replica's waiting tickets."""
        self._fallback.dispatch()
        if self._waiting:
            self._spawn(self._replan())

    # --- keeping in step with Redis ------------------------------------------------------------

    def _grant(self, ticket: RedisTicket, index: int) -> None:
        target = ticket.targets[index - 1]
        target.state.in_flight += 1
        ticket.target = target
        self._granted[ticket.id] = ticket
        ticket.notify()

    def _on_wake(self, payload: str) -> None:
        for grant in filter(None, payload.split(",")):
            ticket_id, _, index = grant.rpartition("=")
            ticket = self._waiting.pop(ticket_id, None)
            if ticket is not None:
                self._grant(ticket, int(index))
        if self._waiting:
            self._refresh()

    def _refresh(self) -> None:
        """Ask where this replica's waiting tickets stand (one call; bursts coalesce)."""
        if self._refreshing is not None and not self._refreshing.done():
            self._again = True
            return
        self._refreshing = self._spawn(self._statuses())

    async def _statuses(self) -> None:
        while True:
            self._again = False
            ids = list(self._waiting)
            if not ids:
                return
            try:
                answer = await self._call("status", *ids)
            except CoordinationUnavailable:
                return  # the poller asks again
            for i, ticket_id in enumerate(ids):
                self._apply(ticket_id, int(answer[2 * i]), int(answer[2 * i + 1]))
            if not self._again:
                return

    def _apply(self, ticket_id: str, kind: int, value: int) -> None:
        ticket = self._waiting.get(ticket_id)
        if ticket is None:
            return  # closed meanwhile
        if kind == GRANTED:
            del self._waiting[ticket_id]
            self._grant(ticket, value)
        elif kind == WAITING:
            if ticket.position != value:
                ticket.position = value
                ticket.notify()
        else:  # expired while this replica could not renew it: the router enters again
            del self._waiting[ticket_id]
            ticket.lost = True
            ticket.notify()

    def _watch(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = self._spawn(self._poll_while_waiting())

    async def _poll_while_waiting(self) -> None:
        while self._waiting:
            await asyncio.sleep(self._poll)
            self._refresh()

    async def _renew(self) -> None:
        ids = [*self._waiting, *self._granted]
        if not ids:
            return
        missing = await self._call("renew", *ids)
        for raw in missing:
            ticket_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            if ticket_id in self._waiting:
                self._apply(ticket_id, GONE, 0)
            elif ticket_id in self._granted:
                log.warning(
                    "a backend slot lease expired while its reply ran (Redis was unreachable "
                    "for longer than the lease); the slot may be handed out twice meanwhile",
                    extra={"lease_ttl": self._link.lease_ttl},
                )

    async def _replan(self) -> None:
        for ticket in list(self._waiting.values()):
            up = [t for t in ticket.candidates if not t.state.down]
            if not up:
                self._waiting.pop(ticket.id, None)
                ticket.lost = True  # the router plans the request again
                ticket.notify()
                continue
            if up != ticket.targets:
                ticket.targets = up
                with contextlib.suppress(CoordinationUnavailable):
                    await self._call("retarget", ticket.id, _spec(ticket))
        with contextlib.suppress(CoordinationUnavailable):
            await self._call("dispatch")

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Stop the background work (the link's close ends the subscription)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _spec(ticket: RedisTicket) -> str:
    return json.dumps(
        [[t.state.name, t.state.capacity, t.state.config.priority, t.order] for t in ticket.targets]
    )
