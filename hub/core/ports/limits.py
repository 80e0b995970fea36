"""The rate-limit ports: the atomic limiter and the gate the pipeline asks per message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hub.core.models import User


@dataclass(frozen=True, slots=True)
class Rate:
    """`limit` events per `period` seconds, with `burst` extra allowed at once (GCRA)."""

    limit: int
    period: float
    burst: int = 0
    text: str = ""  # as configured, for messages: "20/minute"


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One scope to charge: `key` names the subject ("user:42"), `cost` how much to take."""

    key: str
    rate: Rate
    cost: int = 1


@dataclass(frozen=True, slots=True)
class Decision:
    """Result of charging several scopes at once (all or nothing).

    When refused, `scope` names the check that refused (its key) and `retry_after` is in seconds.
    When allowed, `limit`/`remaining`/`reset_after` describe the tightest rate check, and
    `lease_id` is the concurrency lease taken (if one was asked for).
    """

    allowed: bool
    retry_after: float = 0.0
    limit: int = 0
    remaining: int = 0
    reset_after: float = 0.0
    scope: str = ""
    lease_id: str = ""


class RateLimiter(Protocol):
    """Atomic multi-scope limiter (Redis Lua, or the in-memory twin)."""

    async def acquire(self, checks: Sequence[LimitCheck]) -> Decision:
        """Charge every check, or none if any would be refused."""
        ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Admission:
    """The limiter's verdict for one message. When refused, `message` is the user-facing text."""

    allowed: bool
    message: str = ""
    retry_after: float = 0.0
    limit: int = 0
    remaining: int = 0
    reset_after: float = 0.0
    lease_id: str = ""  # concurrency lease to release when the reply ends
    # When refused: "rate_limited" (HTTP 429) or "limiter_unavailable" (Redis down and
    # `limits.on_redis_error: fail_closed`: HTTP 503).
    code: str = ""
    # Which policy refused: user, chat, platform, global, model, tokens, concurrency, limiter.
    scope: str = ""


class LimitGate(Protocol):
    """Applies the configured policies (per user, chat, platform, model, tokens, concurrency)."""

    async def admit(
        self,
        user: User,
        platform: str,
        chat_id: str,
        model: str,
        workspace: str = "",
        *,
        wait: bool = False,
    ) -> Admission:
        """Charge the policies for one message; `workspace` (a Slack team, a Discord guild)
        adds the per-workspace policy. With `wait` (service clients), a message refused only
        because the user's replies fill their concurrency slots waits a bounded time for one
        to end (`limits.concurrent_wait`) before it is refused."""
        ...

    async def release(self, user: User, admission: Admission) -> None:
        """End the concurrency lease taken by `admit` (success, failure or cancellation)."""
        ...

    async def admit_embedding(self, user: User, model: str) -> Admission:
        """Charge an embedding request: the daily token budget and the model's rate, not the
        message rates or the concurrency slots."""
        ...

    async def record_usage(
        self, user: User, model: str, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Count real token usage after a reply (checked by the next `admit`)."""
        ...


@dataclass(frozen=True, slots=True)
class Allowance:
    """What the limits allow one user, for `/usage`: None = no limit of that kind."""

    unlimited: bool = False
    tokens_per_day: int | None = None
    per_user: str | None = None  # "20 per minute"
    concurrent: int | None = None


@runtime_checkable
class DescribesLimits(Protocol):
    """A `LimitGate` that can say what it allows a user (`/usage`)."""

    def allowance(self, user: User) -> Allowance: ...
