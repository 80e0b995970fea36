"""A duty only one replica may do at a time (holding Discord's gateway connection for a set of
shards, polling Telegram): done while this replica holds the duty's lease, handed over when the
lease moves.

`Duty(lease, begin, end)`: `start()` begins at once when the lease is held (so start-up errors
are start-up errors), and otherwise stands by; a background task begins when the lease comes
and ends when it goes. `stop()` ends the duty and gives the lease up, so another replica takes
it over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from hub.core.ports.coordination import LeaderLease

log = logging.getLogger(__name__)

RETRY = 5.0  # seconds before beginning again after `begin` failed while holding the lease


class StartableLease(LeaderLease, Protocol):
    """A `LeaderLease` not competing yet: `start()` begins."""

    async def start(self) -> None: ...


class Duty:
    """See the module docstring; `what` names the duty in logs and `/ready`."""

    def __init__(
        self,
        lease: StartableLease,
        begin: Callable[[], Awaitable[None]],
        end: Callable[[], Awaitable[None]],
        what: str,
    ) -> None:
        self._lease = lease
        self._begin = begin
        self._end = end
        self.what = what
        self.active = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._lease.start()
        if self._lease.held:
            await self._begin()
            self.active = True
        self._task = asyncio.create_task(self._follow(), name=f"duty {self.what}")

    async def _follow(self) -> None:
        while True:
            await self._lease.wait(True)
            if not self.active:
                try:
                    await self._begin()
                except Exception as exc:
                    log.warning(
                        "could not take over a duty; trying again",
                        extra={"duty": self.what, "error": str(exc)},
                    )
                    await asyncio.sleep(RETRY)
                    continue
                self.active = True
                log.info("duty taken over from another replica", extra={"duty": self.what})
            await self._lease.wait(False)
            if self.active:
                log.info(
                    "another replica has this duty now; standing by", extra={"duty": self.what}
                )
                self.active = False
                await self._end()

    def status(self) -> str:
        """For `/ready`: whether this replica does the duty, or who does."""
        if self.active:
            return self.what
        holder = self._lease.holder
        who = f"replica {holder}" if holder else "another replica"
        return f"standby: {who} holds {self.what}"

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.active:
            self.active = False
            await self._end()
        await self._lease.aclose()
