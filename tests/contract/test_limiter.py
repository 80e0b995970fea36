"""Contract suite for the limiters: the Redis one and its in-memory twin behave identically.

Both run on a fake clock here (the Redis limiter takes the injected time instead of `TIME`), so
boundaries and retry times are asserted exactly on both. `test_limiter_redis.py` covers what
only Redis has: server time, key expiry, NOSCRIPT, several hub processes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core.limits.base import BudgetCheck, LeaseCheck, Limiter
from hub.core.limits.memory import MemoryRateLimiter
from hub.core.limits.redis import RedisRateLimiter
from hub.core.ports import LimitCheck, Rate
from tests.services.redis_server import RedisServer

# 2025-06-15 23:00:00 UTC: one hour before a day boundary.
EVENING = 1_750_028_400.0


class FakeClock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, now: float = EVENING) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


MakeLimiter = Callable[[FakeClock], Awaitable[Limiter]]


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    """A factory of limiters of one kind on a given clock; Redis ones share one namespace.
    On `redis-cluster` a script whose keys span two hash slots fails (CROSSSLOT)."""
    made: list[Limiter] = []
    namespace = uuid.uuid4().hex
    url = ""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url = request.getfixturevalue("redis_url")
        assert server.running
    elif request.param == "redis-cluster":
        url = request.getfixturevalue("redis_cluster_server").url

    async def make(clock: FakeClock) -> Limiter:
        limiter: Limiter
        if url:
            limiter = await RedisRateLimiter.connect(url, namespace=namespace, clock=clock)
        else:
            limiter = MemoryRateLimiter(clock)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


def per_minute(n: int, burst: int | None = None) -> Rate:
    return Rate(limit=n, period=60.0, burst=n - 1 if burst is None else burst, text=f"{n}/minute")


async def test_nth_plus_one_is_refused_with_exact_retry(make_limiter: MakeLimiter) -> None:
    clock = FakeClock()
    limiter = await make_limiter(clock)
    check = LimitCheck("user:1", per_minute(5))
    remaining = []
    for _ in range(5):
        decision = await limiter.acquire([check])
        assert decision.allowed
        remaining.append(decision.remaining)
    assert remaining == [4, 3, 2, 1, 0]
    refused = await limiter.acquire([check])
    assert not refused.allowed
    assert refused.retry_after == 12.0  # one emission interval: 60 s / 5
    assert (refused.scope, refused.limit, refused.remaining) == ("user:1", 5, 0)
    assert refused.reset_after == 60.0
    clock.advance(11.999)
    again = await limiter.acquire([check])
    assert not again.allowed
    assert again.retry_after == pytest.approx(0.001)
    clock.advance(0.001)
    assert (await limiter.acquire([check])).allowed
    assert not (await limiter.acquire([check])).allowed


async def test_burst_is_what_may_come_at_once(make_limiter: MakeLimiter) -> None:
    clock = FakeClock()
    limiter = await make_limiter(clock)
    check = LimitCheck("chat:9", per_minute(10, burst=2))  # 3 at once, then one every 6 s
    results = [(await limiter.acquire([check])).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    clock.advance(6)
    assert (await limiter.acquire([check])).allowed
    assert not (await limiter.acquire([check])).allowed
    clock.advance(18)  # fully replenished: three again, not more
    results = [(await limiter.acquire([check])).allowed for _ in range(4)]
    assert results == [True, True, True, False]


async def test_cost_charges_several_units(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(FakeClock())
    assert (await limiter.acquire([LimitCheck("k", per_minute(10), cost=7)])).remaining == 3
    refused = await limiter.acquire([LimitCheck("k", per_minute(10), cost=4)])
    assert not refused.allowed
    assert refused.retry_after == 6.0
    assert refused.remaining == 3
    assert (await limiter.acquire([LimitCheck("k", per_minute(10), cost=3)])).allowed


async def test_decision_is_all_or_nothing(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(FakeClock())
    glob = LimitCheck("global", per_minute(3))
    assert (await limiter.acquire([LimitCheck("user:a", per_minute(1)), glob])).allowed
    refused = await limiter.acquire([LimitCheck("user:a", per_minute(1)), glob])
    assert not refused.allowed
    assert refused.scope == "user:a"
    # The refused decision charged nothing: the global scope still has two left.
    assert (await limiter.acquire([LimitCheck("user:b", per_minute(5)), glob])).remaining == 1
    assert (await limiter.acquire([LimitCheck("user:c", per_minute(5)), glob])).remaining == 0
    refused = await limiter.acquire([LimitCheck("user:d", per_minute(5)), glob])
    assert (refused.allowed, refused.scope) == (False, "global")


async def test_longest_wait_names_the_scope_and_tightest_reports_remaining(
    make_limiter: MakeLimiter,
) -> None:
    limiter = await make_limiter(FakeClock())
    user = LimitCheck("user:1", per_minute(2))  # next in 30 s
    chat = LimitCheck("chat:1", Rate(1, 3600.0, 0, "1/hour"))  # next in an hour
    allowed = await limiter.acquire([user, chat])
    assert (allowed.scope, allowed.limit, allowed.remaining) == ("chat:1", 1, 0)
    await limiter.acquire([user])
    refused = await limiter.acquire([user, chat])
    assert (refused.scope, refused.retry_after, refused.limit) == ("chat:1", 3600.0, 1)


async def test_same_key_twice_in_one_decision(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(FakeClock())
    check = LimitCheck("user:1", per_minute(3))
    assert (await limiter.acquire([check, check])).remaining == 1
    refused = await limiter.acquire([check, check])
    assert not refused.allowed
    assert (await limiter.acquire([check])).remaining == 0


async def test_token_budget_across_the_day_boundary(make_limiter: MakeLimiter) -> None:
    clock = FakeClock()  # 23:00 UTC
    limiter = await make_limiter(clock)
    budget = BudgetCheck("tokens:user:1", 1000)
    assert await limiter.add_tokens("tokens:user:1", 600) == 600
    assert (await limiter.decide([], budget=budget)).allowed
    assert await limiter.add_tokens("tokens:user:1", 500) == 1100
    refused = await limiter.decide([LimitCheck("user:1", per_minute(5))], budget=budget)
    assert not refused.allowed
    assert (refused.scope, refused.retry_after, refused.limit) == ("tokens:user:1", 3600.0, 1000)
    # The refusal charged the rate check nothing.
    assert (await limiter.acquire([LimitCheck("user:1", per_minute(5))])).remaining == 4
    clock.advance(3599.5)
    assert not (await limiter.decide([], budget=budget)).allowed
    clock.advance(0.5)  # 00:00:00 UTC
    assert await limiter.tokens_used("tokens:user:1") == 0
    assert (await limiter.decide([], budget=budget)).allowed
    assert await limiter.add_tokens("tokens:user:1", 10) == 10


async def test_lease_limits_concurrency_and_is_released(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(FakeClock())
    first = await limiter.decide([], lease=LeaseCheck("lease:user:1", 1, 600, "a"))
    assert (first.allowed, first.lease_id) == (True, "a")
    second = await limiter.decide([], lease=LeaseCheck("lease:user:1", 1, 600, "b"))
    assert (second.allowed, second.lease_id, second.scope) == (False, "", "lease:user:1")
    assert second.retry_after == 600.0  # at worst, when the held lease expires
    assert await limiter.leases("lease:user:1") == 1
    await limiter.release_lease("lease:user:1", "a")
    await limiter.release_lease("lease:user:1", "a")  # idempotent
    assert await limiter.leases("lease:user:1") == 0
    assert await limiter.acquire_lease("lease:user:1", 1, 600, "b")


async def test_refused_lease_charges_no_rate_and_refused_rate_takes_no_lease(
    make_limiter: MakeLimiter,
) -> None:
    limiter = await make_limiter(FakeClock())
    rate = LimitCheck("user:1", per_minute(2))
    assert await limiter.acquire_lease("lease:user:1", 1, 600, "a")
    refused = await limiter.decide([rate], lease=LeaseCheck("lease:user:1", 1, 600, "b"))
    assert not refused.allowed
    assert (await limiter.acquire([rate])).remaining == 1
    assert (await limiter.acquire([rate])).remaining == 0
    await limiter.release_lease("lease:user:1", "a")
    refused = await limiter.decide([rate], lease=LeaseCheck("lease:user:1", 1, 600, "c"))
    assert (refused.allowed, refused.scope) == (False, "user:1")
    assert await limiter.leases("lease:user:1") == 0


async def test_lease_of_a_crashed_holder_expires(make_limiter: MakeLimiter) -> None:
    clock = FakeClock()
    limiter = await make_limiter(clock)
    assert await limiter.acquire_lease("lease:user:1", 2, 30, "a")
    clock.advance(10)
    assert await limiter.acquire_lease("lease:user:1", 2, 30, "b")
    assert not await limiter.acquire_lease("lease:user:1", 2, 30, "c")
    clock.advance(20)  # "a" was never released (the hub crashed); its TTL ends now
    assert await limiter.leases("lease:user:1") == 1
    assert await limiter.acquire_lease("lease:user:1", 2, 30, "c")


async def test_renewed_lease_outlives_its_first_ttl(make_limiter: MakeLimiter) -> None:
    clock = FakeClock()
    limiter = await make_limiter(clock)
    assert await limiter.acquire_lease("lease:user:1", 1, 30, "a")
    clock.advance(20)
    assert await limiter.renew_lease("lease:user:1", "a", 30)
    clock.advance(20)
    assert not await limiter.acquire_lease("lease:user:1", 1, 30, "b")
    clock.advance(10)
    assert not await limiter.renew_lease("lease:user:1", "a", 30)  # expired: cannot come back
    assert await limiter.acquire_lease("lease:user:1", 1, 30, "b")


async def test_limiters_on_one_store_share_limits(make_limiter: MakeLimiter) -> None:
    clock = FakeClock()
    one = await make_limiter(clock)
    other = await make_limiter(clock)
    check = LimitCheck("user:1", per_minute(4))
    results = [(await lim.acquire([check])).allowed for lim in (one, other) * 3]
    if isinstance(one, MemoryRateLimiter):
        # Two processes without Redis: each has its own limits (that is why Redis exists).
        assert results == [True] * 6
    else:
        assert results == [True, True, True, True, False, False]


async def test_memory_forgets_expired_subjects() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock, sweep_every=1.0)
    for i in range(100):
        await limiter.acquire([LimitCheck(f"user:{i}", per_minute(5))])
        await limiter.acquire_lease(f"lease:{i}", 1, 30, "x")
    await limiter.add_tokens("tokens:user:1", 5)
    assert limiter.size() == 201
    clock.advance(30)  # leases and the rate TATs (12 s) are over; the budget lasts the day
    await limiter.acquire([])
    assert limiter.size() == 1
    clock.advance(3600)  # past midnight
    await limiter.acquire([])
    assert limiter.size() == 0


# --- memory and Redis agree ---------------------------------------------------------------
#
# The Redis limiter runs on the same fake clock (the script's injected `now`), so both see the
# same times and must give identical decisions, to the microsecond. Redis still expires keys
# in real time, so every TTL written here is at least a second of real time (emission
# intervals >= 2 s, leases >= 5 s, the clock kept far from midnight before a day jump), far
# longer than one example takes.

RATES = [
    Rate(limit=3, period=6.0, burst=2, text="3/6s"),
    Rate(limit=2, period=60.0, burst=0, text="2/minute"),
    Rate(limit=5, period=10.0, burst=1, text="5/10s"),
]
NOON = 1_750_075_200.0  # 2025-06-16 12:00:00 UTC

rate_checks = st.builds(
    LimitCheck,
    key=st.sampled_from(["user:a", "user:b", "global"]),
    rate=st.sampled_from(RATES),
    cost=st.integers(1, 3),
)
decisions = st.tuples(
    st.just("decide"),
    st.lists(rate_checks, max_size=3),
    st.booleans(),
    st.one_of(st.none(), st.tuples(st.integers(1, 2), st.integers(5, 30))),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.integers(0, 20_000)),
        decisions,
        decisions,  # twice: decisions are what the test is about
        st.tuples(st.just("add"), st.integers(1, 400)),
        st.tuples(st.just("release"), st.integers(0, 9)),
        st.tuples(st.just("midnight"), st.integers(0, 100)),
    ),
    max_size=40,
)


async def run(limiter: Limiter, clock: FakeClock, ops: list[tuple[Any, ...]]) -> list[object]:
    """Apply `ops`; return everything observable, in order."""
    seen: list[object] = []
    leases: list[str] = []
    budget = BudgetCheck("tokens:a", 1000)
    for op in ops:
        if op[0] == "wait":
            clock.advance(op[1] / 1000)
        elif op[0] == "midnight":
            clock.advance(86_400 - clock.now % 86_400 + op[1])
        elif op[0] == "decide":
            lease = None
            if op[3] is not None:
                lease = LeaseCheck("replies:a", op[3][0], op[3][1], f"l{len(leases)}")
                leases.append(lease.lease_id)
            seen.append(await limiter.decide(op[1], budget=budget if op[2] else None, lease=lease))
        elif op[0] == "add":
            seen.append(await limiter.add_tokens("tokens:a", op[1]))
        elif leases:
            await limiter.release_lease("replies:a", leases[op[1] % len(leases)])
            seen.append(await limiter.leases("replies:a"))
    return seen


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
async def test_memory_and_redis_agree(
    redis_server: RedisServer, ops: list[tuple[Any, ...]]
) -> None:
    if not redis_server.running:
        redis_server.start()
    memory_clock, redis_clock = FakeClock(NOON), FakeClock(NOON)
    redis_limiter = await RedisRateLimiter.connect(
        redis_server.url, namespace=uuid.uuid4().hex, clock=redis_clock
    )
    try:
        expected = await run(MemoryRateLimiter(memory_clock), memory_clock, ops)
        assert await run(redis_limiter, redis_clock, ops) == expected
    finally:
        await redis_limiter.aclose()
