"""Edit budgets on virtual time: rates, bursts, retry-after pauses, fairness of shared pools."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from hub.core.budget import BudgetPools
from hub.core.ports import Rate
from tests.fakes.clock import FakeClock


async def test_own_rate_with_burst() -> None:
    clock = FakeClock()
    budget = BudgetPools(clock).budget(("chat", Rate(2, 1.0, burst=1)))

    async def take(n: int) -> list[float]:
        times = []
        for _ in range(n):
            await budget.acquire()
            times.append(clock.now())
        return times

    assert await clock.run(take(6)) == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]


async def test_pause_delays_the_next_unit_exactly() -> None:
    clock = FakeClock()
    budget = BudgetPools(clock).budget(("chat", Rate(1, 1.0)))

    async def scenario() -> float:
        await budget.acquire()
        clock.t = 0.3
        budget.pause(2.5)
        await budget.acquire()
        return clock.now()

    assert await clock.run(scenario()) == pytest.approx(2.8)


async def test_shared_pool_serves_chats_in_turn() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    chats = 5
    grants: list[tuple[float, int]] = []
    waits: list[float] = []

    async def chat(n: int) -> None:
        budget = pools.budget((f"chat:{n}", Rate(1, 1.0)), ("bot", Rate(2, 1.0)))
        for _ in range(8):
            asked = clock.now()
            await budget.acquire()
            grants.append((clock.now(), n))
            waits.append(clock.now() - asked)

    await clock.run(asyncio.gather(*(chat(n) for n in range(chats))))
    times = [t for t, _ in grants]
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(times))  # pool: 2/s
    for n in range(chats):
        own = [t for t, c in grants if c == n]
        assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(own))  # chat: 1/s
    # First come, first served: nobody waits much longer than one round of the others.
    assert max(waits) <= chats * 0.5 + 1e-9
    served = [0] * chats
    for _, n in grants:
        served[n] += 1
        assert max(served) - min(served) <= 1


def test_buckets_are_shared_by_key() -> None:
    pools = BudgetPools(FakeClock())
    a = pools.budget(("chat:1", Rate(1, 1.0)), ("bot", Rate(30, 1.0)))
    b = pools.budget(("chat:2", Rate(1, 1.0)), ("bot", Rate(30, 1.0)))
    assert a.pools[0] is b.pools[0] and a.own is not b.own
    assert a.describe() == "1/1s chat:1; 30/1s bot"
