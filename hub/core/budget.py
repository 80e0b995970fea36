"""Outbound write budgets: token buckets per chat plus pools shared by many chats.

A platform limits how often a bot may write: Telegram about once a second per chat, 20 a minute
per group and about 30 a second per bot; Slack pools `chat.update` per workspace. A connector
keeps one `BudgetPools` for its lifetime and gives every sink a `ChatBudget` built from it, so
concurrent replies in the same chat, group or bot draw from the same buckets.

The clock is injectable so tests can run budgets on virtual time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Protocol

from hub.core.ports import Rate

_EPS = 1e-9
_PRUNE_AT = 4096


class Clock(Protocol):
    """Monotonic time in seconds and a matching sleep."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class Bucket:
    """GCRA: `rate.limit` units per `rate.period`, up to `1 + rate.burst` at once.

    Slots are handed out in order (`reserve`), so callers sharing a bucket are served first come,
    first served instead of racing for each unit as it frees up.
    """

    def __init__(self, name: str, rate: Rate, now: float) -> None:
        if rate.limit <= 0 or rate.period <= 0:
            raise ValueError(f"budget {name}: limit and period must be positive")
        self.name = name
        self.rate = rate
        self.interval = rate.period / rate.limit
        self.tolerance = self.interval * rate.burst
        self.tat = now  # theoretical arrival time of the next unit
        self.paused_until = -math.inf

    def earliest(self, now: float) -> float:
        """The first time (>= now) a unit may be taken."""
        return max(now, self.tat - self.tolerance, self.paused_until)

    def reserve(self, when: float) -> None:
        """Take the unit due at `when` (which must be >= `earliest`)."""
        self.tat = max(self.tat, when) + self.interval

    def pause(self, now: float, seconds: float) -> None:
        """Nothing may be taken before `now + seconds` (a platform's retry-after)."""
        self.paused_until = max(self.paused_until, now + max(0.0, seconds))

    def idle(self, now: float) -> bool:
        """Full and not paused: indistinguishable from a new bucket."""
        return self.tat <= now and now >= self.paused_until

    def describe(self) -> str:
        burst = f" (burst {self.rate.burst})" if self.rate.burst else ""
        return f"{self.rate.limit}/{self.rate.period:g}s {self.name}{burst}"


class ChatBudget:
    """The `EditBudget` of one chat: its own bucket first, then shared pools."""

    def __init__(self, own: Bucket, pools: Sequence[Bucket], clock: Clock) -> None:
        self.own = own
        self.pools = tuple(pools)
        self.clock = clock

    async def acquire(self) -> None:
        while True:
            now = self.clock.now()
            ready = self.own.earliest(now)
            if ready > now + _EPS:
                await self.clock.sleep(ready - now)  # the chat's own pace; pools untouched
                continue
            when = max(b.earliest(now) for b in (self.own, *self.pools))
            for bucket in (self.own, *self.pools):
                bucket.reserve(when)
            if when > now + _EPS:
                await self.clock.sleep(when - now)
            if self.own.paused_until <= self.clock.now() + _EPS:
                return
            # Paused by a retry-after while waiting for the pools: the slot is lost, wait again.

    def pause(self, seconds: float) -> None:
        self.own.pause(self.clock.now(), seconds)

    def describe(self) -> str:
        return "; ".join(b.describe() for b in (self.own, *self.pools))


class BudgetPools:
    """Buckets by key ("tg:chat:42", "tg:bot"), shared by every reply of one connector."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or LoopClock()
        self._buckets: dict[str, Bucket] = {}

    def bucket(self, key: str, rate: Rate) -> Bucket:
        found = self._buckets.get(key)
        if found is not None and found.rate == rate:
            return found
        if len(self._buckets) >= _PRUNE_AT:
            self._prune()
        made = Bucket(key, rate, self.clock.now())
        self._buckets[key] = made
        return made

    def budget(self, own: tuple[str, Rate], *pools: tuple[str, Rate]) -> ChatBudget:
        """A chat's budget: `own` is paused by retry-after; `pools` are shared limits."""
        return ChatBudget(
            self.bucket(*own), [self.bucket(key, rate) for key, rate in pools], self.clock
        )

    def _prune(self) -> None:
        now = self.clock.now()
        for key in [k for k, b in self._buckets.items() if b.idle(now)]:
            del self._buckets[key]
