"""Edit budgets on virtual time: rates, bursts, retry-after pauses, fairness of shared pools."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from hub.core.budget import BudgetPools, ChatBudget, Limit
from hub.core.ports import LearnedLimit, Rate
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


def test_pools_default_to_bot_scope_and_limits_name_theirs() -> None:
    pools = BudgetPools(FakeClock())
    budget = pools.budget(
        ("chat:1", Rate(1, 1.0)),
        ("bot", Rate(30, 1.0)),
        Limit("ws:T1", Rate(50, 60.0), scope="workspace"),
    )
    assert [limit.scope for limit, _ in budget.limits] == ["chat", "bot", "workspace"]


async def test_a_workspace_pause_holds_every_chat_of_that_workspace_only() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    fast = Rate(10, 1.0, burst=9)

    def chat(name: str, workspace: str) -> ChatBudget:
        return pools.budget((name, fast), Limit(workspace, fast, scope="workspace"))

    a, sibling, elsewhere = chat("a", "T1"), chat("b", "T1"), chat("c", "T2")

    async def scenario() -> dict[str, float]:
        await a.acquire()
        a.pause(3.0, scope="workspace")  # Slack: this workspace is rate limited
        times: dict[str, float] = {}

        async def take(name: str, budget: ChatBudget) -> None:
            await budget.acquire()
            times[name] = clock.now()

        await asyncio.gather(take("a", a), take("b", sibling), take("c", elsewhere))
        return times

    times = await clock.run(scenario())
    assert times["a"] == pytest.approx(3.0)
    assert times["b"] == pytest.approx(3.0)  # a sibling chat waits for the same pause
    assert times["c"] == pytest.approx(0.0)  # another workspace is not held


async def test_methods_have_their_own_buckets_and_pauses() -> None:
    clock = FakeClock()
    budget = BudgetPools(clock).budget(
        Limit("ch:post", Rate(1, 1.0), methods=frozenset({"send"})),
        Limit("ws:update", Rate(1, 2.0), scope="workspace", methods=frozenset({"edit"})),
    )

    async def scenario() -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for method in ("send", "edit", "send", "edit"):
            await budget.acquire(method)  # type: ignore[arg-type]
            out.append((method, clock.now()))
        budget.pause(5.0, scope="workspace", method="edit")
        await budget.acquire("send")
        out.append(("send", clock.now()))
        await budget.acquire("edit")
        out.append(("edit", clock.now()))
        return out

    assert await clock.run(scenario()) == [
        ("send", 0.0),
        ("edit", 0.0),
        ("send", 1.0),
        ("edit", 2.0),
        ("send", 2.0),  # not held by the paused update bucket
        ("edit", 7.0),
    ]


async def test_learned_limits_spread_the_remaining_writes() -> None:
    clock = FakeClock()
    budget = BudgetPools(clock).budget(("channel:1", Rate(10, 1.0, burst=9)))

    async def scenario() -> list[float]:
        times = []
        await budget.acquire()
        budget.learn(LearnedLimit(remaining=1, reset_after=4.0))
        await budget.acquire()
        times.append(clock.now())
        budget.learn(LearnedLimit(remaining=0, reset_after=3.0))
        await budget.acquire()
        times.append(clock.now())
        return times

    assert await clock.run(scenario()) == pytest.approx([2.0, 5.0])


# --- sliding windows (Slack's tiers: N per minute, bursts allowed) -----------------------------


async def test_a_window_lets_the_whole_tier_go_at_once_then_waits_for_the_window() -> None:
    clock = FakeClock()
    budget = BudgetPools(clock).budget(Limit("ws:start", Rate(20, 60.0), window=True))

    async def take(n: int) -> list[float]:
        times = []
        for _ in range(n):
            await budget.acquire("stream")
            times.append(clock.now())
            clock.t += 0.5  # callers come every half second
        return times

    times = await clock.run(take(45))
    assert times[:20] == pytest.approx([0.5 * i for i in range(20)])  # no waiting at all
    assert times[20] == pytest.approx(60.0)  # the 21st: one window after the first
    assert times[40] == pytest.approx(120.0)
    # Whatever the pattern, no 60 s window ever holds more than 20.
    assert all(b - a >= 60.0 - 1e-9 for a, b in zip(times, times[20:], strict=False))


async def test_a_window_with_a_pace_spreads_the_tier() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    budget = pools.budget(
        Limit("ws:append", Rate(100, 60.0), "workspace", window=True),
        Limit("ws:append:pace", Rate(80, 60.0, burst=19), "workspace"),
    )

    async def take(n: int) -> list[float]:
        times = []
        for _ in range(n):
            await budget.acquire("stream")
            times.append(clock.now())
        return times

    times = await clock.run(take(200))
    assert times[:20] == [0.0] * 20  # the burst
    assert times[20] == pytest.approx(0.75)  # then the pace, not the window's cliff
    windows = [sum(1 for t in times if start <= t < start + 60.0) for start in times]
    assert max(windows) <= 100


def test_take_now_takes_only_when_every_bucket_has_room() -> None:
    clock = FakeClock()
    budget = BudgetPools(clock).budget(
        Limit("thread", Rate(1, 1.0), methods=frozenset({"open"})),
        Limit("ws:start", Rate(2, 60.0), "workspace", frozenset({"start"}), window=True),
    )
    assert budget.take_now("start") and budget.take_now("start")  # the thread pace not charged
    assert not budget.take_now("start")  # the window is full: nothing taken, no waiting
    clock.t = 59.9
    assert not budget.take_now("start")
    clock.t = 60.0
    assert budget.take_now("start")
    budget.pause(5.0, scope="workspace")
    clock.t = 200.0
    assert budget.take_now("open") and not budget.take_now("open")
    assert budget.take_now("start")


async def test_a_window_pause_holds_it_exactly() -> None:
    clock = FakeClock()
    budget = BudgetPools(clock).budget(Limit("ws", Rate(50, 60.0), "workspace", window=True))

    async def scenario() -> float:
        await budget.acquire()
        clock.t = 1.0
        budget.pause(2.5, scope="workspace")
        await budget.acquire()
        return clock.now()

    assert await clock.run(scenario()) == pytest.approx(3.5)


def test_a_key_changing_kind_gets_a_new_bucket() -> None:
    pools = BudgetPools(FakeClock())
    gcra = pools.bucket("k", Rate(5, 60.0))
    window = pools.bucket("k", Rate(5, 60.0), window=True)
    assert gcra is not window and pools.bucket("k", Rate(5, 60.0), window=True) is window
    assert window.describe() == "5 in any 60s k"


async def test_a_wait_given_up_leaves_the_chat_s_own_pace_as_it_was() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    budget = pools.budget(
        Limit("thread", Rate(1, 1.0)), Limit("pool", Rate(1, 10.0), "workspace", frozenset({"a"}))
    )

    async def scenario() -> list[float]:
        await budget.acquire("a")  # t = 0: the pool's only unit for 10 s
        clock.t = 2.0
        waiting = asyncio.ensure_future(budget.acquire("a"))  # would go at t = 10
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await budget.acquire("b")  # not behind the given-up unit of the thread's pace
        times = [clock.now()]
        await budget.acquire("a")  # the pool kept its reservation: after t = 10
        times.append(clock.now())
        return times

    assert await clock.run(scenario()) == pytest.approx([2.0, 20.0])


def test_due_says_when_without_taking() -> None:
    clock = FakeClock()
    budget = BudgetPools(clock).budget(("chat", Rate(1, 1.0)), Limit("ws", Rate(1, 5.0), "bot"))
    assert budget.due("edit") == 0.0 and budget.take_now("edit")
    assert budget.due("edit") == pytest.approx(5.0)
    assert budget.due("edit") == pytest.approx(5.0)  # asking took nothing
