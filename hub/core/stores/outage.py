"""Knowing that the store is down, and what people are told meanwhile.

A store error's own message names the database and where it runs: it goes to the logs, never to
a person. People get one of the sentences below instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from hub.core.models import Failed
from hub.core.ports import StoreError

log = logging.getLogger(__name__)

STORE_DOWN = "The hub's database is not answering right now; try again in a minute."
BACKLOG_FULL = (
    "The hub's database is not answering, and too many messages are already waiting to be "
    "saved, so this one was not answered; try again in a few minutes."
)
STORE_RETRY_AFTER = 30.0  # seconds, for Retry-After: about how long a restart of a database takes


class BacklogFull(StoreError):
    """The store is down and the spool is full: the message is refused (and the person told),
    never taken and then dropped. The message is user-safe."""

    def __init__(self) -> None:
        super().__init__(BACKLOG_FULL)


def store_failed(error: StoreError) -> Failed:
    """What a person is told when the store failed their message (never the error's text)."""
    reason = BACKLOG_FULL if isinstance(error, BacklogFull) else STORE_DOWN
    return Failed(reason, code="store_unavailable", retry_after=STORE_RETRY_AFTER)


class StoreOutage:
    """Whether the store is known to be down.

    Set by a store call that failed, cleared by a check that answered (`ConversationLog`'s
    runner pings while it is set). While it is set, what can do without the store (users known
    from the cache, turns for the spool) skips it instead of waiting out its timeout each time.
    `trouble` is set along with it, and wakes whoever writes spooled turns back.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.down = False
        self.since = 0.0
        self.trouble = asyncio.Event()

    def failed(self, error: StoreError) -> None:
        if not self.down:
            self.down, self.since = True, self._clock()
            log.warning(
                "store not answering: known users are served from memory, turns are spooled",
                extra={"error": str(error)},
            )
        self.trouble.set()

    def recovered(self) -> None:
        if self.down:
            self.down = False
            log.info("store answering again", extra={"down_s": round(self._clock() - self.since)})
