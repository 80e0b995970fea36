"""What only the Redis coordination has: replicas that die, leases that expire, Redis that is
not there, and the key layout on a cluster."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.contract.coordination_kit import Replicas
from tests.contract.test_coordination_slots import enqueue, hold, routers, served
from tests.contract.test_coordination_turns import hold_forever
from tests.services.redis_server import _free_port
from tests.unit.router_doubles import Plan, ScriptedBackend, collect, ctx, request, user


@pytest.fixture
async def short_leases(redis_url: str) -> AsyncIterator[Replicas]:
    """Replicas on Redis whose leases expire after one second."""
    kit = Replicas("redis", redis_url, lease_ttl=1.0)
    yield kit
    await kit.aclose()


async def test_a_dead_replicas_slot_is_freed_when_its_lease_expires(
    short_leases: Replicas,
) -> None:
    gpu = ScriptedBackend("gpu", gate=asyncio.Event())
    doomed, survivor = await routers(short_leases, gpu, 2, max_concurrency=1)
    orphan = await hold(doomed, gpu, "X")
    waiting = await enqueue(survivor, "A", "A1")
    await short_leases.links[0].aclose()  # the replica dies: no heartbeat, no release
    gpu.default = Plan()
    gpu.gate = None
    events = await waiting  # served once the dead replica's lease expired
    assert "".join(getattr(e, "text", "") for e in events) == "Hello"
    assert served(gpu) == ["X-hold", "A1"]
    orphan.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await orphan


async def test_without_redis_each_replica_counts_its_own_slots() -> None:
    kit = Replicas("redis", f"redis://127.0.0.1:{_free_port()}/0")
    try:
        gpu = ScriptedBackend("gpu", default=Plan(delay=0.01))
        (router,) = await routers(kit, gpu, 1, max_concurrency=2)
        tasks = [
            asyncio.ensure_future(collect(router.stream(ctx(user(f"u{i}")), request())))
            for i in range(6)
        ]
        await asyncio.gather(*tasks)
        assert len(gpu.calls) == 6
        assert gpu.peak == 2
    finally:
        await kit.aclose()


async def test_a_dead_replicas_conversation_is_taken_over_after_its_lease(
    short_leases: Replicas,
) -> None:
    doomed, survivor = await short_leases.turns(), await short_leases.turns()
    held = asyncio.Event()
    orphan = asyncio.ensure_future(hold_forever(doomed, "tg:1", held))
    await held.wait()
    await short_leases.links[0].aclose()  # dies holding the conversation
    waited: list[int] = []
    async with survivor.hold("tg:1", on_stop=lambda: None, on_wait=waited.append) as lease:
        assert waited == [0] and lease.waited == 0
    orphan.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await orphan
