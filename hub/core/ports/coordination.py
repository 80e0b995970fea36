"""Coordination ports: what one hub process shares with the other replicas of the same hub.

Each port has an embedded twin (one process: today's in-memory behaviour) and a Redis
implementation (every replica on one Redis), and one contract suite runs against both
(`tests/contract/test_coordination_*.py`). `hub/core/coordination/` holds the
implementations; `hub/bootstrap.py` picks them (Redis when `HUB_REDIS_URL` is set).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from hub.core.models import ConversationKey

TargetT = TypeVar("TargetT")
TargetT_co = TypeVar("TargetT_co", covariant=True)


class SlotTicket(Protocol[TargetT_co]):
    """One request's claim on a backend slot: waiting (with a position), granted, or lost.

    `lost` means every target went down while the request waited. `close()` gives up the
    claim whatever its state (leaves the queue or releases the slot); it is idempotent.
    """

    @property
    def target(self) -> TargetT_co | None: ...

    @property
    def position(self) -> int:
        """0-based place in the fair queue while waiting (-1 before the first placement)."""
        ...

    @property
    def lost(self) -> bool: ...

    async def changed(self) -> None:
        """Wait until the position changes, a slot is granted or the targets are lost."""
        ...

    async def close(self) -> None: ...


class SlotScheduler(Protocol[TargetT]):
    """Backend slots (`max_concurrency` per backend) and the fair queue in front of them.

    A request takes a slot at once when one of its targets has room and nobody waiting could
    use it; otherwise it waits, round-robin by user with the least recently served user first.
    The Redis implementation counts slots and keeps the queue across every replica.
    """

    @property
    def waiting(self) -> int:
        """Requests of this process waiting for a slot right now."""
        ...

    async def enter(self, user_id: str, targets: Sequence[TargetT]) -> SlotTicket[TargetT]:
        """A ticket holding a slot, or waiting for one; raises `BackendError(kind="busy")`
        when the queue is full."""
        ...

    def dispatch(self) -> None:
        """Capacity may have changed (a backend went down or came back): re-place waiters."""
        ...


@dataclass(frozen=True, slots=True)
class TurnLease:
    """The right to answer in a conversation now.

    `fence` grows with every holder of the conversation (a fencing token: the store refuses a
    turn carrying a smaller one than it has seen); 0 when there is nobody to fence (one
    process). `waited` is how many replies were ahead when this one arrived (-1: it was free).
    """

    key: str
    fence: int
    waited: int = -1


class ConversationLocks(Protocol):
    """One reply at a time per conversation, in arrival order, wherever the reply runs."""

    def hold(
        self,
        key: str,
        *,
        on_stop: Callable[[], object],
        on_wait: Callable[[int], object] | None = None,
    ) -> AbstractAsyncContextManager[TurnLease]:
        """Wait for `key` to be free, then hold it. `on_wait(ahead)` runs first if the reply
        must wait (0 = next); `on_stop()` runs in this process when someone stops the reply
        while it holds the conversation."""
        ...

    async def stop(self, key: str) -> bool:
        """Stop the reply holding `key`, on whichever replica it runs; True if there was one.
        Returns once that reply let go of the conversation (or a few seconds passed)."""
        ...


@dataclass(frozen=True, slots=True)
class StopEntry:
    """What a reply's Stop control stops: the conversation, who asked, in which workspace."""

    key: ConversationKey
    asker: str  # the platform user id of the person who asked
    workspace: str = ""


class StopRegistry(Protocol):
    """Stop tokens of the replies in flight, readable by every replica: a Stop pressed on a
    message another replica streams must find its reply."""

    async def issue(self, token: str, entry: StopEntry) -> None: ...

    async def revoke(self, token: str) -> None: ...

    async def lookup(self, token: str) -> StopEntry | None: ...


class DeliveryLog(Protocol):
    """Platform deliveries already taken on, across replicas: a platform that delivers one
    event again (a retry after a slow acknowledgement, or to another of several connections)
    must still get one reply, whichever replica each delivery reaches."""

    async def first(self, key: str, ttl: float) -> bool:
        """True for the first claim of `key` within `ttl` seconds (answer it), False after."""
        ...


class ChangeFeed(Protocol):
    """Changes one replica makes that the others must act on at once (a user's role, a prompt
    command). A published payload reaches the subscribers of its topic on the other replicas
    (the embedded twin, with no other replica, hands it to its own subscribers); after a lost
    connection every subscriber gets `""`: anything may have changed meanwhile."""

    async def publish(self, topic: str, payload: str) -> None: ...

    def subscribe(self, topic: str, listener: Callable[[str], object]) -> Callable[[], None]:
        """Call `listener(payload)` for each change on `topic`; returns the unsubscribe.
        Subscribe while wiring, before the coordination starts: on Redis a later subscription
        takes effect within a second, and changes published meanwhile are missed."""
        ...


class LeaderLease(Protocol):
    """One holder among the replicas for a duty only one may do (polling Telegram, a Discord
    shard), taken over within seconds when its holder dies."""

    @property
    def held(self) -> bool:
        """Whether this replica holds it now."""
        ...

    @property
    def holder(self) -> str:
        """Which replica holds it, as last seen ("" when nobody or unknown)."""
        ...

    async def wait(self, held: bool) -> None:
        """Return once this replica holds the lease (`held`) or no longer holds it."""
        ...

    async def aclose(self) -> None:
        """Stop competing and give the lease up."""
        ...
