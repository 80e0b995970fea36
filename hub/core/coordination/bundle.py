"""`Coordination`: everything one process shares with the other replicas, picked once.

Without Redis every piece is the embedded twin (one process). With Redis they share one
`RedisLink`; `start()` begins listening once every subscriber is wired (so no change published
after start-up is missed), `aclose()` ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.core.coordination.config import CoordinationConfig
from hub.core.coordination.duty import StartableLease
from hub.core.coordination.local import LocalDeliveries, LocalFeed, LocalLease, LocalStops
from hub.core.ports.coordination import (
    ChangeFeed,
    ConversationLocks,
    DeliveryLog,
    SlotScheduler,
    StopRegistry,
)
from hub.core.routing.fair_queue import Scheduler
from hub.core.routing.state import Target
from hub.core.serial import ConversationSlots

if TYPE_CHECKING:
    from hub.core.coordination.redis_link import RedisLink


@dataclass
class Coordination:
    """The shared pieces: `link` is None for the embedded twins."""

    slots: SlotScheduler[Target]
    turns: ConversationLocks
    stops: StopRegistry
    feed: ChangeFeed
    deliveries: DeliveryLog
    config: CoordinationConfig
    link: RedisLink | None = None
    description: str = "in this process"

    @property
    def shared(self) -> bool:
        """Whether replicas share it (Redis)."""
        return self.link is not None

    @property
    def replica(self) -> str:
        return self.link.replica if self.link is not None else "local"

    def lease(self, name: str) -> StartableLease:
        """A lease for a duty only one replica may do; `start()` it to compete."""
        if self.link is None:
            return LocalLease(name)
        from hub.core.coordination.redis_leases import RedisLease

        return RedisLease(self.link, name, ttl=self.config.leader_ttl)

    async def start(self) -> None:
        if self.link is not None:
            await self.link.start()

    async def ping(self) -> None:
        if self.link is not None:
            await self.link.ping()

    async def aclose(self) -> None:
        closing = getattr(self.slots, "aclose", None)
        if closing is not None:
            await closing()
        if self.link is not None:
            await self.link.aclose()


def embedded(config: CoordinationConfig, queue_limit: int) -> Coordination:
    """The twins: one process, nothing shared."""
    return Coordination(
        slots=Scheduler(queue_limit),
        turns=ConversationSlots(),
        stops=LocalStops(),
        feed=LocalFeed(),
        deliveries=LocalDeliveries(),
        config=config,
    )


async def on_redis(
    url: str, config: CoordinationConfig, queue_limit: int, *, description: str = "Redis"
) -> Coordination:
    """The Redis implementations over one link (no I/O until `start()` or first use)."""
    # redis-py is slow to import: only a hub with Redis pays for it.
    from hub.core.coordination.redis_deliveries import RedisDeliveries
    from hub.core.coordination.redis_feed import RedisFeed
    from hub.core.coordination.redis_link import RedisLink
    from hub.core.coordination.redis_slots import RedisSlots
    from hub.core.coordination.redis_stops import RedisStops
    from hub.core.coordination.redis_turns import RedisTurns

    link = RedisLink.connect(url, namespace=config.namespace, lease_ttl=config.lease_ttl)
    return Coordination(
        slots=await RedisSlots.open(link, queue_limit),
        turns=await RedisTurns.open(link),
        stops=RedisStops(link),
        feed=RedisFeed(link),
        deliveries=RedisDeliveries(link),
        config=config,
        link=link,
        description=description,
    )


__all__ = ["Coordination", "StartableLease", "embedded", "on_redis"]
