"""What both limiters (Redis and in-memory) offer beyond `RateLimiter`, and the shared maths.

One decision may combine GCRA rate checks, a daily token budget and a concurrency lease; it is
all or nothing. Time is kept in integer microseconds so the Lua script and the Python twin do
exactly the same arithmetic (Lua numbers are doubles: integers are exact below 2**53).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hub.core.ports import Decision, LimitCheck, Rate, RateLimiter

US = 1_000_000  # microseconds per second
DAY_US = 86_400 * US


class LimiterUnavailable(Exception):
    """The limiter's store (Redis) cannot be reached or refused to run the script."""


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """Refuse while `key` has used `limit` tokens or more in the current UTC day."""

    key: str
    limit: int


@dataclass(frozen=True, slots=True)
class LeaseCheck:
    """Take one of `max` concurrent slots of `key` for at most `ttl` seconds, as `lease_id`."""

    key: str
    max: int
    ttl: float
    lease_id: str


class Limiter(RateLimiter, Protocol):
    """A `RateLimiter` that also keeps concurrency leases and daily token budgets."""

    async def decide(
        self,
        checks: Sequence[LimitCheck],
        *,
        budget: BudgetCheck | None = None,
        lease: LeaseCheck | None = None,
    ) -> Decision:
        """Charge every rate check, check the budget and take the lease — or do none of it."""
        ...

    async def acquire_lease(self, key: str, max: int, ttl: float, lease_id: str) -> bool:
        """Take a concurrency slot; False when `max` leases are already held."""
        ...

    async def renew_lease(self, key: str, lease_id: str, ttl: float) -> bool:
        """Extend a held lease by `ttl` from now; False if it had already expired."""
        ...

    async def release_lease(self, key: str, lease_id: str) -> None:
        """Give the slot back (idempotent)."""
        ...

    async def leases(self, key: str) -> int:
        """How many unexpired leases `key` holds."""
        ...

    async def add_tokens(self, key: str, tokens: int) -> int:
        """Count `tokens` against today's (UTC) budget of `key`; returns today's total."""
        ...

    async def tokens_used(self, key: str) -> int:
        """Tokens `key` used today (UTC)."""
        ...


def emission_us(rate: Rate) -> int:
    """GCRA emission interval T in microseconds (at least 1)."""
    return max(1, round(rate.period * US / rate.limit))


def to_us(seconds: float) -> int:
    return round(seconds * US)


def ceil_ms(us: int) -> int:
    """A TTL in whole milliseconds that never ends before `us`."""
    return max(1, math.ceil(us / 1000))
