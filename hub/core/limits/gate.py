"""PolicyLimitGate: the configured policies applied to one message, in one limiter call.

For each message it builds the rate checks of the user's role (user, chat, platform, global,
model), the daily token budget and the concurrency lease, and asks the limiter once: all are
charged or none. Refusals become one sentence from `LimitMessages`.

When Redis is unreachable, `limits.on_redis_error` decides: `fail_open` serves with the
in-memory twin, `fail_closed` refuses (HTTP 503 with `Retry-After`, a sentence in chats).
Either way the outage is logged once, Redis is tried again every `recheck_after` seconds and
its recovery is logged too.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from hub.core.limits.base import BudgetCheck, LeaseCheck, Limiter, LimiterUnavailable
from hub.core.limits.config import EffectivePolicy, LimitsConfig, Policy
from hub.core.limits.memory import MemoryRateLimiter
from hub.core.limits.messages import LimitMessages
from hub.core.limits.waiting import ReleaseSignals
from hub.core.models import Failed, User
from hub.core.ports import Admission, Allowance, Decision, LimitCheck

log = logging.getLogger(__name__)
T = TypeVar("T")

FALLBACK_PREFIX = "mem:"  # marks leases taken from the in-memory fallback during an outage
# A running reply has no known end; HTTP clients get a short poll interval rather than the
# lease TTL (minutes), which is only the worst case after a crash.
CONCURRENCY_RETRY = 1.0
# Failed.code of a message refused because Redis is down and `on_redis_error` is fail_closed.
LIMITER_DOWN = "limiter_unavailable"


@dataclass
class _Plan:
    """The checks of one decision and what each key means, to explain a refusal."""

    checks: list[LimitCheck] = field(default_factory=list)
    budget: BudgetCheck | None = None
    lease: LeaseCheck | None = None
    scopes: dict[str, tuple[str, Policy | None]] = field(default_factory=dict)

    def add(self, scope: str, key: str, policy: Policy | None) -> None:
        if policy is not None:
            self.checks.append(LimitCheck(key, policy.to_rate()))
            self.scopes[key] = (scope, policy)


class PolicyLimitGate:
    """`LimitGate` over a `Limiter` (Redis or memory), with an in-memory fallback."""

    def __init__(
        self,
        config: LimitsConfig,
        limiter: Limiter,
        *,
        fallback: Limiter | None = None,
        messages: LimitMessages | None = None,
        recheck_after: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._limiter = limiter
        self._fallback = fallback if fallback is not None else MemoryRateLimiter()
        self._messages = messages or LimitMessages()
        self._recheck_after = recheck_after
        self._monotonic = monotonic
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._policies: dict[str, EffectivePolicy] = {}  # per role; the config never changes
        self._releases = ReleaseSignals()
        for name in config.deprecated_names():
            log.warning(f"setting renamed, update your config: {name}", extra={"setting": name})

    def _policy(self, role: str) -> EffectivePolicy:
        policy = self._policies.get(role)
        if policy is None:
            policy = self._policies[role] = self._config.for_role(role)
        return policy

    @property
    def degraded(self) -> bool:
        """True while the primary limiter is unreachable (for /ready and metrics)."""
        return self._down_since is not None

    def allowance(self, user: User) -> Allowance:
        """What `user`'s role allows, for `/usage`."""
        policy = self._policy(user.role)
        if policy.unlimited:
            return Allowance(unlimited=True)
        return Allowance(
            tokens_per_day=policy.tokens_per_day,
            per_user=policy.per_user.describe() if policy.per_user else None,
            concurrent=policy.concurrent_per_user,
        )

    # --- LimitGate -----------------------------------------------------------------------------

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
        """Charge every policy of `user`'s role for one message, or refuse with a sentence.

        With `wait`, a message refused only because the user's replies fill their concurrency
        slots waits up to `concurrent_wait` seconds for one to end (woken at once by a release
        in this process, asking again every second for one in another) before it is refused.
        """
        policy = self._policy(user.role)
        if policy.unlimited:
            return Admission(allowed=True)

        def plan() -> _Plan:
            planned = self._plan(policy, user, platform, chat_id, model)
            if workspace:
                key = f"workspace:{platform}:{workspace}"
                planned.add("workspace", key, policy.per_workspace)
            return planned

        admission = await self._decide(plan())
        patience = self._config.concurrent_wait if wait else 0.0
        if admission.allowed or admission.scope != "concurrency" or patience <= 0:
            return admission
        deadline = self._monotonic() + patience
        key = _lease_key(user)
        while (left := deadline - self._monotonic()) > 0:
            await self._releases.wait(key, min(left, CONCURRENCY_RETRY))
            admission = await self._decide(plan())  # a refusal charges nothing: ask again
            if admission.allowed or admission.scope != "concurrency":
                return admission
        return admission

    async def admit_embedding(self, user: User, model: str) -> Admission:
        """Embeddings are charged to the daily token budget and to the model's own rate
        (`per_model`), not to the message rates or the reply slots: a document of a hundred
        chunks is one upload, not a hundred messages."""
        policy = self._policy(user.role)
        if policy.unlimited:
            return Admission(allowed=True)
        plan = _Plan()
        name = _model_name(policy.per_model, model)
        if name is not None:
            plan.add("model", f"model:{name}", policy.per_model[name])
        if policy.tokens_per_day is not None:
            plan.budget = BudgetCheck(_budget_key(user), policy.tokens_per_day)
            plan.scopes[plan.budget.key] = ("tokens", None)
        return await self._decide(plan)

    async def _decide(self, plan: _Plan) -> Admission:
        """Ask the limiter about `plan` once: all charged, or a refusal with its sentence."""
        if not plan.checks and plan.budget is None and plan.lease is None:
            return Admission(allowed=True)
        outcome = await self._on_store(
            lambda lim: lim.decide(plan.checks, budget=plan.budget, lease=plan.lease)
        )
        if outcome is None:
            return Admission(
                allowed=False,
                message=self._messages.unavailable,
                retry_after=self._recheck_after,
                code=LIMITER_DOWN,
                scope="limiter",
            )
        decision, fallback = outcome
        if decision.allowed:
            lease_id = decision.lease_id
            if lease_id and fallback:
                lease_id = FALLBACK_PREFIX + lease_id
            return Admission(
                allowed=True,
                limit=decision.limit,
                remaining=decision.remaining,
                reset_after=decision.reset_after,
                lease_id=lease_id,
            )
        return self._refusal(plan, decision)

    async def release(self, user: User, admission: Admission) -> None:
        """End the lease of `admission`; on a Redis failure its TTL ends it instead."""
        if not admission.lease_id:
            return
        key = _lease_key(user)
        self._releases.notify(key)
        if admission.lease_id.startswith(FALLBACK_PREFIX):
            await self._fallback.release_lease(key, admission.lease_id[len(FALLBACK_PREFIX) :])
            return
        try:
            await self._limiter.release_lease(key, admission.lease_id)
        except LimiterUnavailable as exc:
            log.warning(
                "could not release a concurrency lease; it expires by itself",
                extra={"user_id": user.id, "lease_ttl": self._config.lease_ttl, "error": str(exc)},
            )

    async def renew(self, user: User, admission: Admission) -> bool:
        """Extend the lease of a reply that runs longer than `lease_ttl` (False if it expired)."""
        if not admission.lease_id:
            return False
        key, ttl = _lease_key(user), self._config.lease_ttl
        if admission.lease_id.startswith(FALLBACK_PREFIX):
            lease_id = admission.lease_id[len(FALLBACK_PREFIX) :]
            return await self._fallback.renew_lease(key, lease_id, ttl)
        try:
            return await self._limiter.renew_lease(key, admission.lease_id, ttl)
        except LimiterUnavailable:
            return False

    async def record_usage(
        self, user: User, model: str, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Count real tokens against today's budget; never raises (usage is best effort)."""
        tokens = prompt_tokens + completion_tokens
        policy = self._policy(user.role)
        if tokens <= 0 or policy.unlimited or policy.tokens_per_day is None:
            return
        key = _budget_key(user)
        if await self._on_store(lambda lim: lim.add_tokens(key, tokens)) is None:
            log.warning(
                "token usage not counted: the limiter is unavailable",
                extra={"user_id": user.id, "model": model, "tokens": tokens},
            )

    # --- policies -> checks --------------------------------------------------------------------

    def _plan(
        self, policy: EffectivePolicy, user: User, platform: str, chat_id: str, model: str
    ) -> _Plan:
        plan = _Plan()
        plan.add("user", f"user:{user.id}", policy.per_user)
        plan.add("chat", f"chat:{platform}:{chat_id}", policy.per_chat)
        plan.add("platform", f"platform:{platform}", policy.per_platform)
        plan.add("global", "global", policy.global_)
        name = _model_name(policy.per_model, model)
        if name is not None:
            plan.add("model", f"model:{name}", policy.per_model[name])
        if policy.tokens_per_day is not None:
            plan.budget = BudgetCheck(_budget_key(user), policy.tokens_per_day)
            plan.scopes[plan.budget.key] = ("tokens", None)
        if policy.concurrent_per_user is not None:
            lease_id = uuid.uuid4().hex
            ttl = self._config.lease_ttl
            plan.lease = LeaseCheck(_lease_key(user), policy.concurrent_per_user, ttl, lease_id)
            plan.scopes[plan.lease.key] = ("concurrency", None)
        return plan

    def _refusal(self, plan: _Plan, decision: Decision) -> Admission:
        scope, policy = plan.scopes.get(decision.scope, ("user", None))
        retry_after = decision.retry_after
        if scope == "tokens":
            message = self._messages.budget_used(decision.limit, retry_after)
        elif scope == "concurrency":
            message = self._messages.running(decision.limit)
            retry_after = min(retry_after, CONCURRENCY_RETRY)
        else:
            count, unit = (policy.count, policy.unit) if policy else (decision.limit, "period")
            message = self._messages.rate_limited(count, unit, retry_after)
        # RateLimit-* headers describe request quotas, so only rate scopes fill them.
        quota = policy is not None
        return Admission(
            allowed=False,
            message=message,
            retry_after=retry_after,
            limit=decision.limit if quota else 0,
            remaining=decision.remaining if quota else 0,
            reset_after=decision.reset_after if quota else 0.0,
            code="rate_limited",
            scope=scope,
        )

    # --- outage handling -----------------------------------------------------------------------

    async def _on_store(self, op: Callable[[Limiter], Awaitable[T]]) -> tuple[T, bool] | None:
        """Run `op` on the primary limiter, or on the fallback during an outage (fail_open).

        Returns (result, used_fallback), or None when the primary is down and we fail closed.
        """
        if self._down_since is None or self._monotonic() >= self._retry_at:
            try:
                result = await op(self._limiter)
            except LimiterUnavailable as exc:
                self._mark_down(exc)
            else:
                self._mark_up()
                return result, False
        if self._config.on_redis_error == "fail_closed":
            return None
        return await op(self._fallback), True

    def _mark_down(self, exc: LimiterUnavailable) -> None:
        now = self._monotonic()
        self._retry_at = now + self._recheck_after
        if self._down_since is not None:
            return
        self._down_since = now
        action = (
            "refusing messages"
            if self._config.on_redis_error == "fail_closed"
            else "serving with per-process in-memory limits"
        )
        log.error(
            "rate limiter store is unreachable; %s until it is back",
            action,
            extra={"on_redis_error": self._config.on_redis_error, "error": str(exc)},
        )

    def _mark_up(self) -> None:
        if self._down_since is None:
            return
        outage = self._monotonic() - self._down_since
        self._down_since = None
        log.warning(
            "rate limiter store is back after %.1f s",
            outage,
            extra={"outage_seconds": round(outage, 1)},
        )


def _lease_key(user: User) -> str:
    return f"replies:user:{user.id}"


def _budget_key(user: User) -> str:
    return f"tokens:user:{user.id}"


def _model_name(per_model: dict[str, Policy], model: str) -> str | None:
    """The configured name for `model`: `llama3` and `llama3:latest` are one Ollama model."""
    for name in (model, model.removesuffix(":latest"), f"{model}:latest"):
        if name in per_model:
            return name
    return None


def refusal_event(admission: Admission, model: str | None = None) -> Failed:
    """The reply event for a refused admission: the user's sentence plus what HTTP needs."""
    return Failed(
        reason=admission.message,
        code=admission.code or "rate_limited",
        retry_after=admission.retry_after,
        model=model,
        limit=admission.limit,
        remaining=admission.remaining,
        reset_after=admission.reset_after,
    )


def rate_limit_headers(verdict: Admission | Failed) -> dict[str, str]:
    """HTTP headers for an admission, or for the `Failed` event a refused one became.

    `Retry-After` when refused (whole seconds, rounded up); `RateLimit-Limit`, `-Remaining` and
    `-Reset` when a rate scope is known, in the three-field form of
    draft-ietf-httpapi-ratelimit-headers (draft 06).
    """
    headers: dict[str, str] = {}
    refused = not verdict.allowed if isinstance(verdict, Admission) else True
    if refused and verdict.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(verdict.retry_after - 1e-9)))
    if verdict.limit > 0:
        headers["RateLimit-Limit"] = str(verdict.limit)
        headers["RateLimit-Remaining"] = str(verdict.remaining)
        headers["RateLimit-Reset"] = str(max(0, math.ceil(verdict.reset_after - 1e-9)))
    return headers
