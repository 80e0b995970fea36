"""PolicyLimitGate: policies per role, the sentences users get, leases, outages of Redis."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from hub.bootstrap import build_limit_gate
from hub.core.limits.base import Limiter
from hub.core.limits.config import LimitsConfig
from hub.core.limits.gate import PolicyLimitGate, rate_limit_headers, refusal_event
from hub.core.limits.memory import MemoryRateLimiter
from hub.core.limits.redis import RedisRateLimiter
from hub.core.models import Failed, User
from hub.core.ports import Admission
from hub.settings import HubSettings
from tests.services.redis_server import RedisServer

# 2025-06-15 20:48:00 UTC: 3 h 12 min before midnight.
EVENING = 1_750_020_480.0
ALICE = User(id="alice", name="Alice")
BOB = User(id="bob", name="Bob")
ADMIN = User(id="root", name="Root", role="admin")


class FakeClock:
    def __init__(self, now: float = EVENING) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limits(**values: Any) -> LimitsConfig:
    return LimitsConfig.model_validate(values)


def memory_gate(clock: FakeClock, **values: Any) -> PolicyLimitGate:
    return PolicyLimitGate(limits(**values), MemoryRateLimiter(clock))


async def admit(gate: PolicyLimitGate, user: User = ALICE, **where: str) -> Admission:
    return await gate.admit(
        user, where.get("platform", "telegram"), where.get("chat", "c1"), where.get("model", "m")
    )


async def test_the_n_plus_first_message_gets_the_rate_and_the_wait() -> None:
    clock = FakeClock()
    gate = memory_gate(clock, per_user="20/minute")
    for _ in range(20):
        assert (await admit(gate)).allowed
    refused = await admit(gate)
    assert refused.message == "Rate limit reached (20 per minute). Try again in 3 s."
    assert (refused.code, refused.scope, refused.limit, refused.remaining) == (
        "rate_limited",
        "user",
        20,
        0,
    )
    assert (await admit(gate, BOB)).allowed  # per user: Bob is not affected


async def test_wait_is_rounded_up_to_whole_seconds() -> None:
    clock = FakeClock()
    gate = memory_gate(clock, per_user="2/minute")
    await admit(gate)
    await admit(gate)
    clock.advance(6.6)
    refused = await admit(gate)
    assert refused.retry_after == pytest.approx(23.4)
    assert refused.message == "Rate limit reached (2 per minute). Try again in 24 s."
    clock.advance(0.4)
    assert (await admit(gate)).message.endswith("Try again in 23 s.")


async def test_the_refusing_scope_is_the_one_shown() -> None:
    gate = memory_gate(
        FakeClock(), per_user="20/minute", per_chat={"rate": "10/30s", "burst": 1}, per_model={}
    )
    assert (await admit(gate)).allowed
    refused = await admit(gate, BOB)  # same chat, other user
    assert refused.scope == "chat"
    assert refused.message == "Rate limit reached (10 per 30 s). Try again in 3 s."
    assert (await admit(gate, BOB, chat="c2")).allowed


async def test_platform_global_and_model_scopes() -> None:
    gate = memory_gate(
        FakeClock(),
        per_platform="2/minute",
        per_model={"llama3": "1/hour"},
        **{"global": "3/minute"},
    )
    assert (await admit(gate, model="llama3:latest")).allowed
    refused = await admit(gate, BOB, model="llama3")
    assert (refused.scope, refused.message) == (
        "model",
        "Rate limit reached (1 per hour). Try again in 1 h.",
    )
    assert (await admit(gate, BOB, model="qwen")).allowed
    assert (await admit(gate, BOB, model="qwen")).scope == "platform"
    assert (await admit(gate, platform="slack")).allowed
    assert (await admit(gate, platform="discord")).scope == "global"


async def test_admins_are_unlimited_and_roles_override() -> None:
    clock = FakeClock()
    gate = memory_gate(
        clock,
        per_user="1/minute",
        concurrent_per_user=1,
        roles={"pending": {"per_user": "unlimited", "tokens_per_day": 10}},
    )
    assert all([(await admit(gate, ADMIN)).allowed for _ in range(50)])
    pending = User(id="p", name="P", role="pending")
    first = await admit(gate, pending)
    second = await admit(gate, pending)
    assert first.allowed
    assert second.scope == "concurrency"  # per_user lifted, concurrency still applies
    await gate.release(pending, first)
    await gate.record_usage(pending, "m", 6, 4)
    assert (await admit(gate, pending)).scope == "tokens"


async def test_limited_admins_when_configured() -> None:
    gate = memory_gate(FakeClock(), per_user="1/minute", roles={"admin": {}})
    assert (await admit(gate, ADMIN)).allowed
    assert not (await admit(gate, ADMIN)).allowed


async def test_daily_token_budget_message_and_reset_at_midnight() -> None:
    clock = FakeClock()
    gate = memory_gate(clock, tokens_per_day=50_000)
    assert (await admit(gate)).allowed
    await gate.record_usage(ALICE, "m", prompt_tokens=20_000, completion_tokens=10_000)
    assert (await admit(gate)).allowed  # 30,000 used: still under
    await gate.record_usage(ALICE, "m", prompt_tokens=15_000, completion_tokens=6_000)
    refused = await admit(gate)
    assert refused.message == (
        "Daily token budget used up (50,000 tokens per day). Try again in 3 h 12 min."
    )
    assert (refused.scope, refused.retry_after, refused.limit) == ("tokens", 11_520.0, 0)
    assert rate_limit_headers(refused) == {"Retry-After": "11520"}
    clock.advance(11_520)
    assert (await admit(gate)).allowed


async def test_no_budget_configured_counts_nothing() -> None:
    limiter = MemoryRateLimiter(FakeClock())
    gate = PolicyLimitGate(limits(), limiter)
    await gate.record_usage(ALICE, "m", 100, 100)
    assert limiter.size() == 0


def test_rate_limit_headers() -> None:
    refused = Admission(allowed=False, retry_after=22.2, limit=20, remaining=0, reset_after=59.5)
    assert rate_limit_headers(refused) == {
        "Retry-After": "23",
        "RateLimit-Limit": "20",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
    }
    allowed = Admission(allowed=True, limit=20, remaining=19, reset_after=3.0)
    assert rate_limit_headers(allowed) == {
        "RateLimit-Limit": "20",
        "RateLimit-Remaining": "19",
        "RateLimit-Reset": "3",
    }
    assert rate_limit_headers(Admission(allowed=True)) == {}


async def test_refusal_becomes_one_failed_event_with_the_same_headers() -> None:
    gate = memory_gate(FakeClock(), per_user="1/minute")
    await admit(gate)
    refused = await admit(gate)
    event = refusal_event(refused, model="m")
    assert (event.reason, event.code, event.model) == (refused.message, "rate_limited", "m")
    assert rate_limit_headers(event) == rate_limit_headers(refused)
    assert rate_limit_headers(event)["Retry-After"] == "60"


def test_rate_limit_headers_from_the_failed_event() -> None:
    failed = Failed(
        reason="Rate limit reached (20 per minute). Try again in 3 s.",
        code="rate_limited",
        retry_after=2.5,
        limit=20,
        remaining=0,
        reset_after=60.0,
    )
    assert rate_limit_headers(failed) == {
        "Retry-After": "3",
        "RateLimit-Limit": "20",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
    }
    assert rate_limit_headers(Failed(reason="down", code="unavailable")) == {}


# --- concurrency leases, on both limiters ---------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[Limiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    url = request.getfixturevalue("redis_url")
    redis_limiter = await RedisRateLimiter.connect(url, namespace=uuid.uuid4().hex)
    yield redis_limiter
    await redis_limiter.aclose()


async def reply(gate: PolicyLimitGate, body: Callable[[], Awaitable[None]]) -> Admission:
    """What the pipeline does: admit, run the reply, release whatever happens."""
    admission = await admit(gate)
    assert admission.allowed, admission.message
    try:
        await body()
    finally:
        await gate.release(ALICE, admission)
    return admission


async def test_lease_refuses_a_second_reply_and_is_released_on_success(limiter: Limiter) -> None:
    gate = PolicyLimitGate(limits(concurrent_per_user=1), limiter)

    async def body() -> None:
        refused = await admit(gate)
        assert refused.message == (
            "You already have 1 reply running; wait for it to finish or send /stop."
        )
        assert (refused.code, refused.scope, refused.retry_after) == (
            "rate_limited",
            "concurrency",
            1.0,
        )
        assert (await admit(gate, BOB)).allowed

    admission = await reply(gate, body)
    assert admission.lease_id
    assert (await admit(gate)).allowed


async def test_lease_is_released_on_failure(limiter: Limiter) -> None:
    gate = PolicyLimitGate(limits(concurrent_per_user=2), limiter)

    async def body() -> None:
        assert (await admit(gate)).allowed  # the second slot, never released here
        assert (await admit(gate)).message.startswith("You already have 2 replies running")
        raise RuntimeError("backend broke")

    with pytest.raises(RuntimeError):
        await reply(gate, body)
    assert (await admit(gate)).allowed
    assert not (await admit(gate)).allowed


async def test_lease_is_released_on_cancellation(limiter: Limiter) -> None:
    gate = PolicyLimitGate(limits(concurrent_per_user=1), limiter)
    started = asyncio.Event()

    async def body() -> None:
        started.set()
        await asyncio.Event().wait()  # a reply that streams until /stop

    task = asyncio.create_task(reply(gate, body))
    await started.wait()
    assert not (await admit(gate)).allowed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await admit(gate)).allowed


async def test_a_crashed_hub_leaves_no_user_locked_out() -> None:
    clock = FakeClock()
    shared = MemoryRateLimiter(clock)
    crashed = PolicyLimitGate(limits(concurrent_per_user=1, lease_ttl=120), shared)
    assert (await admit(crashed)).allowed  # and never released
    restarted = PolicyLimitGate(limits(concurrent_per_user=1, lease_ttl=120), shared)
    assert not (await admit(restarted)).allowed
    clock.advance(120)
    assert (await admit(restarted)).allowed


# --- Redis outages ----------------------------------------------------------------------------


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hub.core.limits.gate" and r.levelno >= 40]


async def test_fail_open_serves_from_memory_and_logs_once(
    redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.core.limits.gate")
    limiter = await RedisRateLimiter.connect(redis_url, namespace=uuid.uuid4().hex)
    config = limits(per_user="3/minute", concurrent_per_user=5, tokens_per_day=1000)
    gate = PolicyLimitGate(config, limiter, recheck_after=0.0)
    try:
        held = await admit(gate)
        assert held.allowed and not held.lease_id.startswith("mem:")
        redis_server.stop()
        outage = [await admit(gate) for _ in range(4)]
        # The in-memory fallback enforces the same policy on its own count.
        assert [a.allowed for a in outage] == [True, True, True, False]
        assert outage[0].lease_id.startswith("mem:")
        assert gate.degraded
        await gate.release(ALICE, held)  # Redis down: the lease expires by its TTL instead
        await gate.release(ALICE, outage[0])
        await gate.record_usage(ALICE, "m", 5, 5)
        assert len(errors(caplog)) == 1
        assert "in-memory" in errors(caplog)[0].getMessage()

        redis_server.start()  # same port, empty: the script cache is gone too (NOSCRIPT)
        after = await admit(gate)
        assert after.allowed and not after.lease_id.startswith("mem:")
        assert after.remaining == 2  # counted in Redis again, from scratch
        assert not gate.degraded
        assert any("back after" in r.getMessage() for r in caplog.records)
        assert len(errors(caplog)) == 1
    finally:
        redis_server.start()
        await limiter.aclose()


async def test_fail_closed_refuses_while_redis_is_down(
    redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = await RedisRateLimiter.connect(redis_url, namespace=uuid.uuid4().hex)
    gate = PolicyLimitGate(
        limits(per_user="3/minute", on_redis_error="fail_closed"), limiter, recheck_after=0.0
    )
    try:
        assert (await admit(gate)).allowed
        redis_server.stop()
        refused = [await admit(gate) for _ in range(3)]
        assert {(a.allowed, a.code, a.scope) for a in refused} == {
            (False, "limiter_unavailable", "limiter")
        }
        assert refused[0].message == (
            "Rate limiting is temporarily unavailable; please try again shortly."
        )
        assert len(errors(caplog)) == 1
        assert "refusing" in errors(caplog)[0].getMessage()
        await gate.record_usage(ALICE, "m", 1, 1)  # must not raise
        redis_server.start()
        assert (await admit(gate)).allowed
    finally:
        redis_server.start()
        await limiter.aclose()


async def test_outage_rechecks_redis_only_after_the_interval(
    redis_server: RedisServer, redis_url: str
) -> None:
    ticks = FakeClock(0.0)
    limiter = await RedisRateLimiter.connect(redis_url, namespace=uuid.uuid4().hex)
    gate = PolicyLimitGate(
        limits(per_user="100/minute"), limiter, recheck_after=5.0, monotonic=ticks
    )
    try:
        redis_server.stop()
        assert (await admit(gate)).allowed
        redis_server.start()
        assert (await admit(gate)).allowed
        assert gate.degraded  # not retried yet: no Redis round trip per message in an outage
        ticks.advance(5.0)
        assert (await admit(gate)).remaining == 99
        assert not gate.degraded
    finally:
        redis_server.start()
        await limiter.aclose()


async def test_build_limit_gate_picks_the_limiter(redis_url: str) -> None:
    gate, limiter = await build_limit_gate(HubSettings(limits=limits(per_user="1/minute")))
    assert isinstance(limiter, MemoryRateLimiter)
    assert (await admit(gate)).allowed
    assert not (await admit(gate)).allowed
    settings = HubSettings(redis_url=SecretStr(redis_url), limits=limits(per_user="1/minute"))
    gate, limiter = await build_limit_gate(settings)
    try:
        assert isinstance(limiter, RedisRateLimiter)
        await limiter.ping()
        assert (await admit(gate)).allowed
        assert not (await admit(gate)).allowed
    finally:
        await limiter.aclose()


async def test_the_old_setting_name_is_warned_about_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = HubSettings(_env_file=None, limits={"failure_mode": "fail_closed"})  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="hub.core.limits.gate"):
        _gate, limiter = await build_limit_gate(settings)
    await limiter.aclose()
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "setting renamed, update your config: limits.failure_mode → limits.on_redis_error"
    ]
