"""Replicas of one hub for the coordination contract suite.

`Replicas` builds the coordination pieces of several "replicas" of one hub: on the embedded twin
they share one in-process object (one process is the only way to share it); on Redis each
replica gets its own `RedisLink` (own connections, own replica id) on one server. The same
tests then hold for both. The `redis-cluster` kind runs on a cluster-enabled server, where a
command whose keys span two hash slots fails (CROSSSLOT), as on a real Redis Cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from hub.core.coordination.bundle import StartableLease
from hub.core.coordination.local import LocalDeliveries, LocalFeed, LocalLease, LocalStops
from hub.core.coordination.redis_deliveries import RedisDeliveries
from hub.core.coordination.redis_feed import RedisFeed
from hub.core.coordination.redis_leases import RedisLease
from hub.core.coordination.redis_link import RedisLink
from hub.core.coordination.redis_slots import RedisSlots
from hub.core.coordination.redis_stops import RedisStops
from hub.core.coordination.redis_turns import RedisTurns
from hub.core.jobs.local_queue import LocalJobQueue
from hub.core.jobs.redis_queue import RedisJobQueue
from hub.core.ports import JobQueue, SlotScheduler
from hub.core.ports.coordination import (
    ChangeFeed,
    ConversationLocks,
    DeliveryLog,
    StopRegistry,
)
from hub.core.routing.fair_queue import Scheduler
from hub.core.routing.state import Target
from hub.core.serial import ConversationSlots

KINDS = ["memory", "redis", "redis-cluster"]


class Replicas:
    """Builds one kind of coordination for several replicas; `aclose()` ends them all."""

    def __init__(self, kind: str, url: str | None, *, lease_ttl: float = 15.0) -> None:
        self.kind = kind
        self.url = url
        self.lease_ttl = lease_ttl
        self.namespace = "t" + uuid.uuid4().hex[:10]  # tests never see each other's keys
        self.links: list[RedisLink] = []
        self._closers: list[Any] = []
        self._shared: dict[str, Any] = {}

    @property
    def on_redis(self) -> bool:
        return self.url is not None

    def link(self, **settings: Any) -> RedisLink:
        assert self.url is not None
        settings.setdefault("lease_ttl", self.lease_ttl)
        link = RedisLink.connect(self.url, namespace=self.namespace, **settings)
        self.links.append(link)
        return link

    async def slots(self, queue_limit: int = 100, **link: Any) -> SlotScheduler[Target]:
        """One replica's slot scheduler."""
        if not self.on_redis:
            shared = self._shared.setdefault(f"slots:{queue_limit}", Scheduler(queue_limit))
            assert isinstance(shared, Scheduler)
            return shared
        redis_link = self.link(**link)
        slots = await RedisSlots.open(redis_link, queue_limit, poll=0.2)
        self._closers.append(slots.aclose)
        await redis_link.start()
        return slots

    async def turns(self, **link: Any) -> ConversationLocks:
        """One replica's conversation locks."""
        if not self.on_redis:
            shared = self._shared.setdefault("turns", ConversationSlots())
            assert isinstance(shared, ConversationSlots)
            return shared
        redis_link = self.link(**link)
        turns = await RedisTurns.open(redis_link, poll=0.2)
        await redis_link.start()
        return turns

    async def stops(self) -> StopRegistry:
        """One replica's Stop token registry."""
        if not self.on_redis:
            shared = self._shared.setdefault("stops", LocalStops())
            assert isinstance(shared, LocalStops)
            return shared
        redis_link = self.link()
        await redis_link.start()
        return RedisStops(redis_link)

    async def deliveries(self) -> DeliveryLog:
        """One replica's log of platform deliveries taken on."""
        if not self.on_redis:
            shared = self._shared.setdefault("deliveries", LocalDeliveries())
            assert isinstance(shared, LocalDeliveries)
            return shared
        redis_link = self.link()
        await redis_link.start()
        return RedisDeliveries(redis_link)

    async def feed(
        self,
        subscribe: dict[str, list[str]] | None = None,
        wire: Callable[[ChangeFeed], object] | None = None,
    ) -> ChangeFeed:
        """One replica's change feed; `subscribe` maps topics to lists that collect payloads,
        and `wire(feed)` subscribes whatever follows the feed (`FrontedStores.follow`), both
        before the replica starts listening, as the hub's start-up does."""
        feed: ChangeFeed
        if not self.on_redis:
            feed = self._shared.setdefault("feed", LocalFeed())
        else:
            redis_link = self.link()
            feed = RedisFeed(redis_link)
        for topic, seen in (subscribe or {}).items():
            feed.subscribe(topic, seen.append)
        if wire is not None:
            wire(feed)
        if self.on_redis:
            await redis_link.start()
        return feed

    async def lease(self, name: str, ttl: float = 1.0) -> StartableLease:
        """One replica's lease for the duty `name` (started)."""
        lease: StartableLease
        if not self.on_redis:
            lease = LocalLease(name)
        else:
            redis_link = self.link()
            await redis_link.start()
            lease = RedisLease(redis_link, name, ttl=ttl)
        self._closers.append(lease.aclose)
        await lease.start()
        return lease

    async def job_queue(self, claim_after: float = 30.0) -> JobQueue:
        """One replica's job queue."""
        if not self.on_redis:
            shared = self._shared.setdefault("jobs", LocalJobQueue(wait=0.05))
            assert isinstance(shared, LocalJobQueue)
            return shared
        redis_link = self.link()
        await redis_link.start()
        return await RedisJobQueue.open(redis_link, claim_after)

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            await close()
        for link in self.links:
            await link.aclose()
