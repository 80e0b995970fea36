"""Outbound write budgets: token buckets per chat plus pools shared by many chats.

A platform limits how often a bot may write: Telegram about once a second per chat, 20 a minute
per group and about 30 a second per bot; Slack pools each method per workspace ("Tier 3: 50+
per minute, bursts allowed"); Discord reports its buckets in `X-RateLimit-*` headers. Two kinds
of bucket express them: `Bucket` (GCRA: a steady pace with a burst) and `WindowBucket` (at most
N in any window, all at once if need be). A connector keeps one `BudgetPools` for
its lifetime and gives every sink a `ChatBudget` built from it, so concurrent replies in the
same chat, channel, workspace or bot draw from the same buckets, and a platform's pause of one
scope (a Slack workspace 429, a Discord global 429) holds every reply sharing it.

The clock is injectable so tests can run budgets on virtual time.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hub.core.ports import LearnedLimit, Rate, Scope

log = logging.getLogger(__name__)

_EPS = 1e-9
_PRUNE_AT = 4096
_COARSER = {"finish": "edit"}  # the same platform call (editMessageText, chat.update…)


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


class WindowBucket:
    """At most `rate.limit` units in any `rate.period` seconds, all at once if need be.

    Slack's tiers are this ("Tier 2: 20+ per minute, bursts allowed", counted over any minute):
    a GCRA bucket that lets 20 go at once refills too soon and breaks the window, and one that
    keeps the window lets only a trickle go at once. `rate.burst` is not used.

    Units are handed out in order, as by `Bucket`: a unit is never due before one handed out
    earlier, so the times kept are sorted and the window is checked against one of them.
    """

    def __init__(self, name: str, rate: Rate, now: float) -> None:
        if rate.limit <= 0 or rate.period <= 0:
            raise ValueError(f"budget {name}: limit and period must be positive")
        self.name = name
        self.rate = rate
        self.times: deque[float] = deque(maxlen=rate.limit)  # the last `limit` units handed out
        self.paused_until = -math.inf

    def earliest(self, now: float) -> float:
        due = max(now, self.paused_until)
        if self.times:
            due = max(due, self.times[-1])
        if len(self.times) == self.rate.limit:
            due = max(due, self.times[0] + self.rate.period)
        return due

    def reserve(self, when: float) -> None:
        self.times.append(when)

    def pause(self, now: float, seconds: float) -> None:
        self.paused_until = max(self.paused_until, now + max(0.0, seconds))

    def idle(self, now: float) -> bool:
        recent = bool(self.times) and self.times[-1] + self.rate.period > now
        return not recent and now >= self.paused_until

    def describe(self) -> str:
        return f"{self.rate.limit} in any {self.rate.period:g}s {self.name}"


AnyBucket = Bucket | WindowBucket


@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket of a chat's budget: `key` names it, and every budget naming it shares it.

    `scope` says what a platform's pause of that scope covers ("chat", "channel", "workspace",
    "bot"), so a workspace-wide 429 pauses the workspace bucket every chat of it draws from.
    `methods` limits the bucket to some kinds of write ("send", "edit", "finish", "stream",
    "stream_end", or a platform's own method names when its sink maps kinds to them); empty =
    all, so Slack's `chat.postMessage` and `chat.update` can each have their own pool. A bucket
    naming "edit" also covers "finish" (the same call on every platform). `window`: a
    `WindowBucket` (at most `rate.limit` in any `rate.period`) instead of GCRA.
    """

    key: str
    rate: Rate
    scope: Scope = "chat"
    methods: frozenset[str] = frozenset()
    window: bool = False

    def covers(self, method: str | None) -> bool:
        if method is None or not self.methods or method in self.methods:
            return True
        # A final edit is the same platform call as an edit: a bucket for edits covers it
        # unless a budget names "finish" apart. (A stream's end is another call: not so.)
        return _COARSER.get(method, "") in self.methods


LimitSpec = Limit | tuple[str, Rate]


class ChatBudget:
    """The `EditBudget` of one chat: its own (chat-scope) buckets first, then shared pools."""

    def __init__(self, limits: Sequence[tuple[Limit, AnyBucket]], clock: Clock) -> None:
        self.limits = tuple(limits)
        self.clock = clock

    @property
    def own(self) -> AnyBucket:
        """The first chat-scope bucket (the chat's own pace)."""
        return next(b for limit, b in self.limits if limit.scope == "chat")

    @property
    def pools(self) -> tuple[AnyBucket, ...]:
        """Buckets shared beyond the chat."""
        return tuple(b for limit, b in self.limits if limit.scope != "chat")

    def _buckets(self, method: str | None) -> tuple[list[AnyBucket], list[AnyBucket]]:
        own: list[AnyBucket] = []
        shared: list[AnyBucket] = []
        for limit, bucket in self.limits:
            if limit.covers(method):
                (own if limit.scope == "chat" else shared).append(bucket)
        return own, shared

    async def acquire(self, method: str = "edit") -> None:
        """Wait for a unit of `method` from every bucket covering it (the chat's own first).
        Cancelled while waiting, the chat's own buckets get their unit back."""
        own, shared = self._buckets(method)
        every = own + shared
        if not every:
            return
        while True:
            now = self.clock.now()
            ready = max((b.earliest(now) for b in own), default=now)
            if ready > now + _EPS:
                await self.clock.sleep(ready - now)  # the chat's own pace; pools untouched
                continue
            when = max(b.earliest(now) for b in every)
            kept = [(b, b.tat) for b in own if isinstance(b, Bucket)]
            for bucket in every:
                bucket.reserve(when)
            if when > now + _EPS:
                try:
                    await self.clock.sleep(when - now)
                except asyncio.CancelledError:
                    _give_back(kept, when)
                    raise
            later = self.clock.now() + _EPS
            if all(b.paused_until <= later for b in every):
                return
            # Paused by a retry-after while waiting: the slot is lost, wait again.

    def due(self, method: str) -> float:
        """When a unit of `method` could be taken (now, or later), without taking it: for writes
        that should not hold a place in the queues while something else holds them back."""
        now = self.clock.now()
        own, shared = self._buckets(method)
        return max((b.earliest(now) for b in own + shared), default=now)

    def take_now(self, method: str) -> bool:
        """Take a unit of `method` if every bucket covering it has room right now; never waits.

        For writes that are worth making only at once (a Slack stream start, a status line):
        False means "not now", and nothing was taken.
        """
        own, shared = self._buckets(method)
        every = own + shared
        now = self.clock.now()
        if any(b.earliest(now) > now + _EPS for b in every):
            return False
        for bucket in every:
            bucket.reserve(now)
        return True

    def pause(self, seconds: float, scope: Scope = "chat", method: str | None = None) -> None:
        now = self.clock.now()
        targets = [b for limit, b in self.limits if limit.scope == scope and limit.covers(method)]
        if not targets:
            # The platform paused a scope this budget has no bucket for: at least this chat waits.
            log.warning(
                "pause for a scope without a bucket; pausing the chat",
                extra={"scope": scope, "budget": self.describe()},
            )
            targets = [self.own]
        for bucket in targets:
            bucket.pause(now, seconds)

    def learn(self, seen: LearnedLimit) -> None:
        """Slow down to what the platform reported: spread the remaining writes until the reset."""
        if seen.reset_after <= 0:
            return
        wait = seen.reset_after if seen.remaining <= 0 else seen.reset_after / (seen.remaining + 1)
        now = self.clock.now()
        for limit, bucket in self.limits:
            if limit.scope == seen.scope and limit.covers(seen.method):
                bucket.pause(now, wait)

    def describe(self) -> str:
        return "; ".join(b.describe() for _, b in self.limits)


class BudgetPools:
    """Buckets by key ("tg:chat:42", "tg:bot"), shared by every reply of one connector."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or LoopClock()
        self._buckets: dict[str, AnyBucket] = {}

    def bucket(self, key: str, rate: Rate, *, window: bool = False) -> AnyBucket:
        """The bucket `key` (made on first use, or again when its rate or kind changed)."""
        kind = WindowBucket if window else Bucket
        found = self._buckets.get(key)
        if found is not None and found.rate == rate and type(found) is kind:
            return found
        if len(self._buckets) >= _PRUNE_AT:
            self._prune()
        made = kind(key, rate, self.clock.now())
        self._buckets[key] = made
        return made

    def budget(self, own: LimitSpec, *pools: LimitSpec) -> ChatBudget:
        """A chat's budget. `own` is the chat's own pace (scope "chat"); a `(key, rate)` pool
        is shared bot-wide; pass `Limit`s to name other scopes or per-method buckets."""
        specs = [_limit(own, "chat"), *(_limit(p, "bot") for p in pools)]
        return ChatBudget(
            [(s, self.bucket(s.key, s.rate, window=s.window)) for s in specs], self.clock
        )

    def _prune(self) -> None:
        now = self.clock.now()
        for key in [k for k, b in self._buckets.items() if b.idle(now)]:
            del self._buckets[key]


def _give_back(kept: list[tuple[Bucket, float]], when: float) -> None:
    """A wait for a unit was given up: the chat's own buckets get it back when nobody took a
    unit after it (a shared pool keeps it: others may already be queued behind it)."""
    for bucket, tat in kept:
        if bucket.tat == max(tat, when) + bucket.interval:
            bucket.tat = tat


def _limit(spec: LimitSpec, scope: Scope) -> Limit:
    return spec if isinstance(spec, Limit) else Limit(spec[0], spec[1], scope)
