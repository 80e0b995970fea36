"""Changes every replica must act on at once (`ChangeFeed`): a user's role, a prompt command.

The twin (`local.LocalFeed`) hands a change to its own subscribers. On Redis a change is
published on `<ns>:feed:<topic>` with the publishing replica's id, and each replica hands the
changes of the others to its subscribers; after the subscription was lost, every subscriber
gets `""` (anything may have changed meanwhile: drop what is cached).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hub.core.coordination.local import Listener, call_listener, discard
from hub.core.coordination.redis_link import RESET, CoordinationUnavailable, RedisLink

log = logging.getLogger(__name__)


class RedisFeed:
    """`ChangeFeed` on Redis pub/sub; a replica's own changes do not come back to it."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._listeners: dict[str, list[Listener]] = {}

    def _channel(self, topic: str) -> str:
        return self._link.channel("feed", topic)

    async def publish(self, topic: str, payload: str) -> None:
        try:
            await self._link.publish(self._channel(topic), f"{self._link.replica} {payload}")
        except CoordinationUnavailable:
            # The others see it when their caches expire (or when their subscription comes
            # back, which drops everything cached).
            log.warning(
                "a change could not be announced to the other replicas", extra={"topic": topic}
            )

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        if topic not in self._listeners:
            self._listeners[topic] = []
            self._link.subscribe(
                self._channel(topic), lambda message: self._deliver(topic, message)
            )
        self._listeners[topic].append(listener)
        return lambda: discard(self._listeners.get(topic, []), listener)

    def _deliver(self, topic: str, message: str) -> None:
        if message == RESET:
            payload = RESET
        else:
            origin, _, payload = message.partition(" ")
            if origin == self._link.replica:
                return
        for listener in list(self._listeners.get(topic, [])):
            call_listener(listener, payload, topic)
