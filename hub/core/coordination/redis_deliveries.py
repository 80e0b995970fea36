"""Platform deliveries taken on, in Redis (`DeliveryLog`), so that an event delivered twice
(Slack retries an event it thinks was missed, possibly to another replica or another Socket
Mode connection) is answered once across all replicas (the twin: `local.LocalDeliveries`).

Each key is one Redis key (`{<ns>:once:<key>}`, its own slot), set only if absent and expiring
after its TTL: the replica whose SET wins answers. While Redis cannot be reached each replica
decides for itself (a retry reaching another replica then may be answered twice, which beats
answering nobody).
"""

from __future__ import annotations

from hub.core.coordination.local import LocalDeliveries
from hub.core.coordination.redis_link import CoordinationUnavailable, RedisLink


class RedisDeliveries:
    """`DeliveryLog` on Redis, with this replica's own claims kept locally as a fallback."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._local = LocalDeliveries()

    async def first(self, key: str, ttl: float) -> bool:
        mine = self._local.claim(key, ttl)
        if not mine:
            return False  # this replica took it already: no need to ask
        name = self._link.key(f"once:{key}")
        ms = max(1, round(ttl * 1000))
        try:
            won = await self._link.run(lambda c: c.set(name, self._link.replica, nx=True, px=ms))
        except CoordinationUnavailable:
            return True  # logged by the link
        return bool(won)
