"""The Slack sink's and stream's budgets never exceed the limits the fake Slack enforces.

Many replies draw from the budgets on a virtual clock while the fake's own limiter judges each
write at the moment it is made: not one would be refused.
"""

from __future__ import annotations

import asyncio

from hub.connectors.slack.sink import thread_budget
from hub.connectors.slack.stream import stream_budgets
from hub.core.budget import BudgetPools, ChatBudget
from tests.fakes.clock import FakeClock
from tests.fakes.slack_state import Limiter, Rate, SlackLimits

WORKSPACE = SlackLimits().workspace
CHANNEL = SlackLimits().channel


async def refusals(
    clock: FakeClock, writers: list[tuple[ChatBudget, list[tuple[str, Rate]]]]
) -> int:
    """Each writer takes 40 units of its budget; the fake's buckets judge every write."""
    limiter = Limiter()
    refused = 0

    async def write(budget: ChatBudget, buckets: list[tuple[str, Rate]]) -> None:
        nonlocal refused
        for _ in range(40):
            await budget.acquire()
            if limiter.check([((key,), rate) for key, rate in buckets], clock.now()) > 0:
                refused += 1

    await clock.run(asyncio.gather(*(write(b, k) for b, k in writers)))
    return refused


async def test_twenty_threads_in_one_workspace_stay_in_the_update_pool() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    writers = []
    for i in range(20):
        channel = f"C{i % 4}"  # five threads in each of four channels
        buckets = [
            ("chat.update", WORKSPACE["chat.update"]),
            (f"chat.update:{channel}", CHANNEL["chat.update"]),
        ]
        writers.append((thread_budget(pools, "T1", channel), buckets))
    assert await refusals(clock, writers) == 0
    assert clock.now() > 60.0  # 800 writes: the pool, not the channels, set the pace


async def test_threads_of_one_channel_keep_its_pace() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    buckets = [
        ("chat.update", WORKSPACE["chat.update"]),
        ("chat.update:C1", CHANNEL["chat.update"]),
        ("chat.postMessage:C1", CHANNEL["chat.postMessage"]),
    ]
    writers = [(thread_budget(pools, "T1", "C1"), buckets) for _ in range(3)]
    assert await refusals(clock, writers) == 0


async def test_stream_methods_stay_in_their_tiers() -> None:
    for method in ("startStream", "appendStream", "stopStream"):
        clock = FakeClock()
        budgets = stream_budgets(BudgetPools(clock), "T1")
        budget = getattr(budgets, method.removesuffix("Stream"))
        tier = WORKSPACE[f"chat.{method}"]
        writers = [(budget, [(method, tier)]) for _ in range(5)]
        assert await refusals(clock, writers) == 0, method
