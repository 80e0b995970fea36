"""The contract of Stop tokens, the change feed and duty leases, on the embedded twin and on
Redis, across replicas."""

from __future__ import annotations

import asyncio

from hub.core.models import ConversationKey
from hub.core.ports.coordination import StopEntry
from tests.contract.coordination_kit import Replicas
from tests.unit.router_doubles import eventually

KEY = ConversationKey("telegram", "100", "", "7")


async def test_a_stop_token_issued_on_one_replica_is_found_on_another(
    replicas: Replicas,
) -> None:
    issuing, pressing = await replicas.stops(), await replicas.stops()
    entry = StopEntry(KEY, asker="7", workspace="team:1")
    await issuing.issue("stop:abcdefghijkl", entry)
    assert await pressing.lookup("stop:abcdefghijkl") == entry
    assert await pressing.lookup("stop:unknown00000") is None
    await issuing.revoke("stop:abcdefghijkl")
    assert await pressing.lookup("stop:abcdefghijkl") is None


async def test_a_delivery_is_taken_on_by_one_replica_only(replicas: Replicas) -> None:
    logs = [await replicas.deliveries() for _ in range(3)]
    key = "slack:T1:C1:1700000000.000100"
    claims = await asyncio.gather(*(log.first(key, 60) for log in logs * 2))
    assert claims.count(True) == 1  # six deliveries of one event over three replicas
    assert await logs[1].first("slack:T1:C1:1700000000.000200", 60)  # another event
    assert not await logs[0].first(key, 60)


async def test_a_delivery_can_be_taken_on_again_after_its_ttl(replicas: Replicas) -> None:
    one, two = await replicas.deliveries(), await replicas.deliveries()
    assert await one.first("k", 0.05)
    assert not await two.first("k", 0.05)
    await asyncio.sleep(0.2)  # both the local memory and the Redis key expired
    assert await two.first("k", 0.05)


async def test_a_change_reaches_the_other_replicas(replicas: Replicas) -> None:
    seen: list[str] = []
    publisher = await replicas.feed()
    await replicas.feed({"users": seen})
    await publisher.publish("users", "u 42")
    await publisher.publish("prompts", "changed")  # another topic: not for this listener
    await eventually(lambda: seen == ["u 42"])
    await asyncio.sleep(0.05)
    assert seen == ["u 42"]


async def test_one_replica_holds_a_duty(replicas: Replicas) -> None:
    leases = [await replicas.lease("telegram:poll:1") for _ in range(3)]
    if not replicas.on_redis:
        assert all(lease.held for lease in leases)  # each process is the only one
        return
    assert sum(lease.held for lease in leases) == 1
    holder = next(lease for lease in leases if lease.held)
    others = [lease for lease in leases if lease is not holder]
    assert all(lease.holder == holder.holder for lease in others)
    await holder.aclose()  # gives it up: another replica takes over
    await eventually(lambda: sum(lease.held for lease in others) == 1)


async def test_a_duty_moves_on_when_its_holder_dies(redis_url: str) -> None:
    kit = Replicas("redis", redis_url)
    try:
        first = await kit.lease("telegram:poll:1", ttl=1.0)
        second = await kit.lease("telegram:poll:1", ttl=1.0)
        assert first.held and not second.held
        assert second.holder == kit.links[0].replica
        await kit.links[0].aclose()  # dies: no renewal, no release
        await asyncio.wait_for(second.wait(True), 10)
        assert second.held
    finally:
        await kit.aclose()
