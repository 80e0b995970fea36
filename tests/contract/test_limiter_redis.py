"""What only the Redis limiter has: server time, key expiry, NOSCRIPT, several hub processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from hub.core.limits.base import BudgetCheck, LeaseCheck, LimiterUnavailable
from hub.core.limits.redis import RedisRateLimiter
from hub.core.ports import LimitCheck, Rate
from tests.services.redis_server import RedisServer, _free_port


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    conn = aioredis.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[RedisRateLimiter]:
    lim = await RedisRateLimiter.connect(redis_url, namespace="hub-" + uuid.uuid4().hex[:8])
    yield lim
    await lim.aclose()


async def wait_until_empty(client: aioredis.Redis) -> list[bytes]:
    """Poll (for up to 10 s) until Redis expired every key; active expiry runs 10 times a second."""
    for _ in range(200):
        if not await client.dbsize():
            break
        await asyncio.sleep(0.05)
    keys: list[bytes] = await client.keys("*")
    return keys


async def test_retry_after_uses_server_time(limiter: RedisRateLimiter) -> None:
    check = LimitCheck("user:1", Rate(limit=3, period=30.0, burst=2, text="3/30s"))
    assert [(await limiter.acquire([check])).allowed for _ in range(3)] == [True] * 3
    refused = await limiter.acquire([check])
    assert not refused.allowed
    assert 9.0 < refused.retry_after <= 10.0  # one interval, minus what elapsed since
    assert 29.0 < refused.reset_after <= 30.0


async def test_keys_carry_the_hash_tag_and_expire(
    limiter: RedisRateLimiter, client: aioredis.Redis
) -> None:
    # Short enough to wait for, long enough that a busy machine still sees the keys first.
    fast = Rate(limit=1, period=2.0, burst=0, text="1/2s")
    assert (await limiter.acquire([LimitCheck("user:1", fast), LimitCheck("global", fast)])).allowed
    assert not (await limiter.acquire([LimitCheck("user:1", fast)])).allowed
    assert await limiter.acquire_lease("replies:user:1", 1, 2.0, "x")
    keys = sorted(k.decode() for k in await client.keys("*"))
    tag = keys[0].split("}")[0] + "}"
    assert tag.startswith("{hub-")
    assert keys == [f"{tag}:l:replies:user:1", f"{tag}:r:global", f"{tag}:r:user:1"]
    assert [0 < await client.pttl(k) <= 2000 for k in keys] == [True] * 3
    assert await wait_until_empty(client) == []
    # Nothing was kept about the subject: it starts afresh.
    assert (await limiter.acquire([LimitCheck("user:1", fast)])).allowed


async def test_released_last_lease_leaves_no_key(
    limiter: RedisRateLimiter, client: aioredis.Redis
) -> None:
    assert await limiter.acquire_lease("replies:user:1", 2, 600, "a")
    await limiter.release_lease("replies:user:1", "a")
    assert await client.dbsize() == 0


async def test_token_budget_key_lives_until_utc_midnight(
    limiter: RedisRateLimiter, client: aioredis.Redis
) -> None:
    assert await limiter.add_tokens("tokens:user:1", 120) == 120
    assert await limiter.add_tokens("tokens:user:1", 30) == 150
    assert await limiter.tokens_used("tokens:user:1") == 150
    seconds, micros = await client.time()
    to_midnight_ms = (86_400 - seconds % 86_400) * 1000 - micros // 1000
    [key] = await client.keys("*")
    # The script rounds the TTL up to whole milliseconds, so the key may outlive midnight by 1 ms.
    assert to_midnight_ms - 1000 < await client.pttl(key) <= to_midnight_ms + 1
    refused = await limiter.decide([], budget=BudgetCheck("tokens:user:1", 150))
    assert not refused.allowed
    assert abs(refused.retry_after - to_midnight_ms / 1000) < 1.0


async def test_script_is_reloaded_after_script_flush(
    limiter: RedisRateLimiter, client: aioredis.Redis
) -> None:
    check = LimitCheck("user:1", Rate(limit=2, period=3600.0, burst=1, text="2/hour"))
    assert (await limiter.acquire([check])).remaining == 1
    await client.script_flush()
    after = await limiter.acquire([check])  # NOSCRIPT, SCRIPT LOAD, EVALSHA again
    assert (after.allowed, after.remaining) == (True, 0)
    assert not (await limiter.acquire([check])).allowed


async def test_one_round_trip_per_decision(
    limiter: RedisRateLimiter, client: aioredis.Redis
) -> None:
    rate = Rate(limit=1000, period=60.0, burst=999, text="1000/minute")
    checks = [LimitCheck(k, rate) for k in ("user:1", "chat:1", "platform:t", "global")]
    await limiter.acquire(checks)  # loads the script and opens the connection
    await client.config_resetstat()
    for i in range(20):
        lease = LeaseCheck("replies:user:1", 100, 60, f"l{i}")
        budget = BudgetCheck("tokens:user:1", 10_000)
        assert (await limiter.decide(checks, budget=budget, lease=lease)).allowed
    stats = await client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 20
    assert "cmdstat_script|load" not in stats


async def test_two_hub_processes_enforce_one_combined_limit(redis_url: str) -> None:
    namespace = uuid.uuid4().hex
    one = await RedisRateLimiter.connect(redis_url, namespace=namespace)
    other = await RedisRateLimiter.connect(redis_url, namespace=namespace)
    check = LimitCheck("user:1", Rate(limit=5, period=3600.0, burst=4, text="5/hour"))
    try:
        decisions = await asyncio.gather(*(lim.acquire([check]) for lim in (one, other) * 10))
        assert sum(d.allowed for d in decisions) == 5
        leases = await asyncio.gather(
            *(
                lim.acquire_lease("replies:u", 3, 60, f"id{i}")
                for i, lim in enumerate((one, other) * 4)
            )
        )
        assert sum(leases) == 3
        assert await one.leases("replies:u") == await other.leases("replies:u") == 3
    finally:
        await one.aclose()
        await other.aclose()


async def test_hung_redis_fails_within_the_deadline_and_recovers(
    redis_server: RedisServer, redis_url: str
) -> None:
    lim = await RedisRateLimiter.connect(redis_url, namespace="hung", socket_timeout=0.3)
    check = LimitCheck("user:1", Rate(limit=5, period=60.0, burst=4))
    try:
        assert (await lim.acquire([check])).remaining == 4
        redis_server.pause()
        try:
            with pytest.raises(LimiterUnavailable, match=r"took over 0\.3 s"):
                await lim.acquire([check])
        finally:
            redis_server.resume()
        # The interrupted connection was dropped, so no stale reply is read as this answer;
        # the frozen server still ran the abandoned call when it woke (the charge stands).
        assert [(await lim.acquire([check])).remaining for _ in range(3)] == [2, 1, 0]
    finally:
        await lim.aclose()


async def test_redis_restart_needs_no_help(redis_server: RedisServer, redis_url: str) -> None:
    lim = await RedisRateLimiter.connect(redis_url, namespace="restart")
    check = LimitCheck("user:1", Rate(limit=5, period=60.0, burst=4))
    try:
        assert (await lim.acquire([check])).remaining == 4
        redis_server.stop()
        with pytest.raises(LimiterUnavailable):
            await lim.acquire([check])
        redis_server.start()  # empty, and without the script
        # The pooled connection is dead and the script unknown: one retry on a new connection
        # and one SCRIPT LOAD later the very next call succeeds.
        assert (await lim.acquire([check])).remaining == 4
        redis_server.stop()
        redis_server.start()  # a restart between two calls goes unnoticed
        assert (await lim.acquire([check])).remaining == 4
    finally:
        redis_server.start()
        await lim.aclose()


async def test_unreachable_redis_raises_limiter_unavailable() -> None:
    lim = await RedisRateLimiter.connect(f"redis://127.0.0.1:{_free_port()}/0")
    try:
        with pytest.raises(LimiterUnavailable):
            await lim.acquire([LimitCheck("user:1", Rate(1, 1.0))])
        with pytest.raises(LimiterUnavailable):
            await lim.ping()
    finally:
        await lim.aclose()
