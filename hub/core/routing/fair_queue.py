"""Backend slots and the queue in front of them, fair across users (round-robin by user): the
embedded twin of the `SlotScheduler` port (one process; `hub/core/coordination/redis_slots.py`
is the one shared by every replica).

A request takes a slot at once when one of its targets has room. Otherwise it waits in a
queue whose order is round-robin by user: the user served least recently goes first, so one
user's burst of requests cannot push everyone else back. Whenever capacity appears (a slot is
released, a backend comes back) the queue is dispatched in that order, so a newcomer can only
take a free slot that no waiting request could use.

Slots are counted by backend name, so routers sharing one `Scheduler` (the contract suite's
"replicas") share each backend's `max_concurrency`; each router's `BackendState.in_flight`
counts its own requests (health checks skip a backend with requests in flight).
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import Sequence

from hub.core.ports import BackendError
from hub.core.routing.state import Target


class Ticket:
    """One request's claim on a slot: waiting (with a position), granted, or lost.

    `lost` means every target went down while the request waited. `close()` gives up the
    claim whatever its state (leave the queue or release the slot); it is idempotent.
    """

    __slots__ = (
        "_closed",
        "_scheduler",
        "_wake",
        "lost",
        "position",
        "seq",
        "target",
        "targets",
        "user_id",
    )

    def __init__(
        self, scheduler: Scheduler, user_id: str, targets: Sequence[Target], seq: int
    ) -> None:
        self._scheduler = scheduler
        self._wake = asyncio.Event()
        self._closed = False
        self.user_id = user_id
        self.targets = list(targets)
        self.seq = seq
        self.position = -1
        self.target: Target | None = None
        self.lost = False

    async def changed(self) -> None:
        """Wait until the position changes, a slot is granted or the targets are lost."""
        await self._wake.wait()
        self._wake.clear()

    def notify(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        self.release()

    def release(self) -> None:
        """`close()` without waiting (nothing here needs to)."""
        if not self._closed:
            self._closed = True
            self._scheduler.close(self)


class FairQueue:
    """Waiting tickets per user, ordered round-robin with the least recently served user first.

    `memory` bounds how many users' last-served marks are kept; a forgotten user counts as
    never served, which only matters for users idle for a long while.
    """

    def __init__(self, memory: int = 4096) -> None:
        self._waiting: dict[str, deque[Ticket]] = {}
        self._served: OrderedDict[str, int] = OrderedDict()
        self._stamp = 0
        self._size = 0
        self._memory = memory

    def __len__(self) -> int:
        return self._size

    def add(self, ticket: Ticket) -> None:
        self._waiting.setdefault(ticket.user_id, deque()).append(ticket)
        self._size += 1

    def remove(self, ticket: Ticket) -> bool:
        tickets = self._waiting.get(ticket.user_id)
        if tickets is None or ticket not in tickets:
            return False
        tickets.remove(ticket)
        if not tickets:
            del self._waiting[ticket.user_id]
        self._size -= 1
        return True

    def mark_served(self, user_id: str) -> None:
        self._stamp += 1
        self._served[user_id] = self._stamp
        self._served.move_to_end(user_id)
        while len(self._served) > self._memory:
            oldest = next(iter(self._served))
            if oldest in self._waiting:
                break
            del self._served[oldest]

    def order(self) -> list[Ticket]:
        """Every waiting ticket in service order: each user's first, then each one's second…"""
        users = sorted(
            self._waiting,
            key=lambda u: (self._served.get(u, 0), self._waiting[u][0].seq),
        )
        queues = [self._waiting[u] for u in users]
        result: list[Ticket] = []
        depth = 0
        while len(result) < self._size:
            result.extend(q[depth] for q in queues if len(q) > depth)
            depth += 1
        return result


def queue_full(waiting: int) -> BackendError:
    """The refusal when `waiting` requests already fill the queue."""
    return BackendError(
        f"All models are busy right now ({waiting} requests waiting). "
        "Please try again in a minute.",
        kind="busy",
    )


class Scheduler:
    """Hands out backend slots: at once when free, otherwise through the fair queue.

    The embedded `SlotScheduler`; `queue_limit` bounds the requests waiting.
    """

    def __init__(self, queue_limit: int) -> None:
        self._queue = FairQueue()
        self._queue_limit = queue_limit
        self._seq = 0
        self._busy: Counter[str] = Counter()  # slots taken per backend name

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def enter(self, user_id: str, targets: Sequence[Target]) -> Ticket:
        """A ticket that already holds a slot, or waits for one; raises when the queue is full."""
        return self.enter_now(user_id, targets)

    def enter_now(self, user_id: str, targets: Sequence[Target]) -> Ticket:
        """`enter` without awaiting (nothing here needs to)."""
        self._seq += 1
        ticket = Ticket(self, user_id, targets, self._seq)
        target = self._pick(ticket.targets)
        if target is not None:
            self._grant(ticket, target)
            return ticket
        if len(self._queue) >= self._queue_limit:
            raise queue_full(len(self._queue))
        self._queue.add(ticket)
        self._renumber()
        return ticket

    def close(self, ticket: Ticket) -> None:
        if ticket.target is not None:
            ticket.target.state.in_flight -= 1
            self._busy[ticket.target.state.name] -= 1
            self.dispatch()
        elif self._queue.remove(ticket):
            self._renumber()

    def _pick(self, targets: Sequence[Target]) -> Target | None:
        """The best up target with a free slot (least loaded, then priority, then order)."""
        best: Target | None = None
        best_key: tuple[float, int, int] | None = None
        for target in targets:
            state = target.state
            busy = self._busy[state.name]
            if state.down or busy >= state.capacity:
                continue
            key = (busy / state.capacity, -state.config.priority, target.order)
            if best_key is None or key < best_key:
                best, best_key = target, key
        return best

    def dispatch(self) -> None:
        """Give free slots to waiting tickets in fair order; fail those with no target left."""
        for ticket in self._queue.order():
            if all(t.state.down for t in ticket.targets):
                self._queue.remove(ticket)
                ticket.lost = True
                ticket.notify()
                continue
            target = self._pick(ticket.targets)
            if target is not None:
                self._queue.remove(ticket)
                self._grant(ticket, target)
        self._renumber()

    def _grant(self, ticket: Ticket, target: Target) -> None:
        target.state.in_flight += 1
        self._busy[target.state.name] += 1
        ticket.target = target
        self._queue.mark_served(ticket.user_id)
        ticket.notify()

    def _renumber(self) -> None:
        for position, ticket in enumerate(self._queue.order()):
            if ticket.position != position:
                ticket.position = position
                ticket.notify()
