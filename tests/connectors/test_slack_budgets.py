"""The Slack budgets never exceed the limits the fake Slack enforces.

Many replies draw from the budgets on a virtual clock while the fake's own limiter judges each
write at the moment it is made: not one would be refused.
"""

from __future__ import annotations

import asyncio

from hub.connectors.slack.budgets import (
    APPEND,
    POST,
    PROGRESS,
    START,
    STATUS,
    STOP,
    UPDATE,
    ReplyBudget,
    reply_budget,
)
from hub.core.budget import BudgetPools, ChatBudget
from tests.fakes.clock import FakeClock
from tests.fakes.slack_state import Limiter, Rate, SlackLimits

WORKSPACE = SlackLimits().workspace
CHANNEL = SlackLimits().channel


async def refusals(
    clock: FakeClock, writers: list[tuple[ChatBudget, str, list[tuple[str, Rate]]]], n: int = 40
) -> int:
    """Each writer takes `n` units of a method; the fake's buckets judge every write."""
    limiter = Limiter()
    refused = 0

    async def write(budget: ChatBudget, method: str, buckets: list[tuple[str, Rate]]) -> None:
        nonlocal refused
        for _ in range(n):
            await budget.acquire(method)
            if limiter.check([((key,), rate) for key, rate in buckets], clock.now()) > 0:
                refused += 1

    await clock.run(asyncio.gather(*(write(b, m, k) for b, m, k in writers)))
    return refused


async def test_twenty_threads_in_one_workspace_stay_in_the_update_pool() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    writers = []
    for i in range(20):
        channel = f"C{i % 4}"  # five threads in each of four channels
        buckets = [(UPDATE, WORKSPACE[UPDATE]), (f"{UPDATE}:{channel}", CHANNEL[UPDATE])]
        method = PROGRESS if i % 2 else UPDATE  # progress edits and final ones share the tier
        writers.append((reply_budget(pools, "T1", channel, f"{i}.0"), method, buckets))
    assert await refusals(clock, writers) == 0
    assert clock.now() > 60.0  # 800 writes: the pool, not the channels, set the pace


async def test_threads_of_one_channel_keep_its_pace() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    writers = []
    for i in range(3):
        budget = reply_budget(pools, "T1", "C1", f"{i}.0")
        writers.append((budget, POST, [(POST, WORKSPACE[POST]), ("post:C1", CHANNEL[POST])]))
        for method in (UPDATE, PROGRESS):
            buckets = [(UPDATE, WORKSPACE[UPDATE]), ("up:C1", CHANNEL[UPDATE])]
            writers.append((budget, method, buckets))
    assert await refusals(clock, writers, n=20) == 0


async def test_stream_methods_stay_in_their_tiers() -> None:
    for method in (START, APPEND, STOP, STATUS):
        clock = FakeClock()
        pools = BudgetPools(clock)
        tier = WORKSPACE[method]
        writers = [
            (reply_budget(pools, "T1", f"C{i}", f"{i}.0"), method, [(method, tier)])
            for i in range(5)
        ]
        assert await refusals(clock, writers) == 0, method


async def test_a_whole_tier_of_starts_goes_at_once() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    budgets = [reply_budget(pools, "T1", "C1", f"{i}.0") for i in range(21)]
    assert all(b.take_now(START) for b in budgets[:20])  # 20 streams start together
    assert not budgets[20].take_now(START)  # the 21st would have to wait: it posts instead
    clock.t = 61.0
    assert budgets[20].take_now(START)


def no() -> bool:
    return False  # no stream is opening


async def test_final_edits_do_not_queue_behind_progress_edits() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    busy = [ReplyBudget(reply_budget(pools, "T1", f"C{i % 4}", f"{i}.0"), no) for i in range(20)]
    finished_at: list[float] = []

    async def progress(budget: ReplyBudget) -> None:
        for _ in range(10):  # 200 progress edits wait for their pace (about 6 minutes of it)
            await budget.acquire("edit")

    async def final() -> None:
        await clock.sleep(30.0)
        for channel in ("C1", "C9"):  # a busy channel and a quiet one
            started = clock.now()
            await ReplyBudget(reply_budget(pools, "T1", channel, "99.0"), no).acquire("finish")
            finished_at.append(clock.now() - started)

    async def scenario() -> None:
        writers = [asyncio.ensure_future(progress(b)) for b in busy]
        await final()
        for writer in writers:
            writer.cancel()

    await clock.run(scenario())
    assert max(finished_at) < 2.0  # final edits go within seconds, not minutes
