"""The conversation locks' contract (one reply at a time per conversation, in arrival order,
stoppable from anywhere), on the embedded twin and on Redis, across several replicas."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from hub.core.ports.coordination import ConversationLocks, TurnLease
from tests.contract.coordination_kit import Replicas
from tests.unit.router_doubles import eventually


class Reply:
    """A reply that holds a conversation until `finish` is set (or it is stopped)."""

    def __init__(self, locks: ConversationLocks, key: str, name: str, log: list[str]) -> None:
        self.name = name
        self.finish = asyncio.Event()
        self.waited: list[int] = []
        self.lease: TurnLease | None = None
        self.holding = asyncio.Event()
        self.task = asyncio.ensure_future(self._run(locks, key, log))

    async def _run(self, locks: ConversationLocks, key: str, log: list[str]) -> None:
        me = asyncio.current_task()
        assert me is not None
        async with locks.hold(key, on_stop=me.cancel, on_wait=self.waited.append) as lease:
            self.lease = lease
            log.append(f"{self.name}+")
            self.holding.set()
            try:
                await self.finish.wait()
            finally:
                log.append(f"{self.name}-")


async def test_replies_in_one_conversation_take_turns_in_arrival_order(
    replicas: Replicas,
) -> None:
    one, two, three = [await replicas.turns() for _ in range(3)]
    log: list[str] = []
    first = Reply(one, "tg:1", "A", log)
    await first.holding.wait()
    second = Reply(two, "tg:1", "B", log)
    await eventually(lambda: second.waited == [0])
    third = Reply(three, "tg:1", "C", log)
    await eventually(lambda: third.waited == [1])
    for reply in (first, second, third):
        reply.finish.set()
        await reply.task
    assert log == ["A+", "A-", "B+", "B-", "C+", "C-"]
    fences = [r.lease.fence for r in (first, second, third) if r.lease is not None]
    if replicas.on_redis:  # each holder's fence is larger than the one before
        assert len(fences) == 3 and fences == sorted(set(fences)) and fences[0] > 0
    else:  # one process: nothing to fence
        assert fences == [0, 0, 0]
    assert first.lease is not None and first.lease.waited == -1


async def test_other_conversations_do_not_wait(replicas: Replicas) -> None:
    one, two = await replicas.turns(), await replicas.turns()
    log: list[str] = []
    busy = Reply(one, "tg:1", "A", log)
    await busy.holding.wait()
    other = Reply(two, "tg:2", "B", log)
    await other.holding.wait()
    assert other.waited == []
    for reply in (other, busy):
        reply.finish.set()
        await reply.task


async def test_a_stop_reaches_the_replica_running_the_reply(replicas: Replicas) -> None:
    runner, other = await replicas.turns(), await replicas.turns()
    log: list[str] = []
    running = Reply(runner, "tg:1", "A", log)
    await running.holding.wait()
    queued = Reply(runner, "tg:1", "B", log)
    await eventually(lambda: queued.waited == [0])
    assert await other.stop("tg:1") is True
    assert running.task.cancelled() or running.task.done()
    with contextlib.suppress(asyncio.CancelledError):
        await running.task
    await queued.holding.wait()  # the next reply in the conversation goes on
    assert log[:3] == ["A+", "A-", "B+"]
    queued.finish.set()
    await queued.task
    assert await other.stop("tg:1") is False


async def test_stop_with_nothing_running_says_so(replicas: Replicas) -> None:
    locks = await replicas.turns()
    assert await locks.stop("tg:nobody") is False


async def test_a_reply_stopped_while_waiting_leaves_the_line(replicas: Replicas) -> None:
    one, two = await replicas.turns(), await replicas.turns()
    log: list[str] = []
    first = Reply(one, "tg:1", "A", log)
    await first.holding.wait()
    doomed = Reply(two, "tg:1", "B", log)
    await eventually(lambda: doomed.waited == [0])
    doomed.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await doomed.task
    last = Reply(one, "tg:1", "C", log)
    await eventually(lambda: last.waited == [0])
    first.finish.set()
    await first.task
    await last.holding.wait()
    last.finish.set()
    await last.task
    assert log == ["A+", "A-", "C+", "C-"]


async def hold_forever(locks: ConversationLocks, key: str, held: asyncio.Event) -> Any:
    async with locks.hold(key, on_stop=lambda: None):
        held.set()
        await asyncio.Event().wait()
