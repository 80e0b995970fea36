"""Router queueing: fair across users, positions announced and decreasing, bounded."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from hub.core.models import Queued, Started
from hub.core.ports import BackendError
from hub.core.router import Router
from tests.unit.router_doubles import (
    Plan,
    ScriptedBackend,
    collect,
    ctx,
    make_router,
    request,
    spawn,
    until,
    user,
)


async def _hold_slot(router: Router, backend: ScriptedBackend, who: str) -> asyncio.Task[Any]:
    task = spawn(collect(router.stream(ctx(user(who)), request(text=f"{who}-hold"))))
    await until(lambda: len(backend.calls) >= 1)
    return task


async def _enqueue(router: Router, who: str, text: str) -> asyncio.Task[Any]:
    before = router.queued
    task = spawn(collect(router.stream(ctx(user(who)), request(text=text))))
    await until(lambda: router.queued == before + 1)
    return task


def _served(backend: ScriptedBackend) -> list[str]:
    return [c.messages[-1].content for c in backend.calls]


async def test_user_with_one_request_is_served_second_not_sixth() -> None:
    gate = asyncio.Event()
    gpu = ScriptedBackend("gpu", gate=gate)
    router = make_router([gpu], max_concurrency=1)
    await router.probe_now()
    first = spawn(collect(router.stream(ctx(user("A")), request(text="A1"))))
    await until(lambda: len(gpu.calls) == 1)
    tasks = [first] + [await _enqueue(router, "A", f"A{i}") for i in range(2, 6)]
    tasks.append(await _enqueue(router, "B", "B1"))
    gate.set()
    await asyncio.gather(*tasks)
    assert _served(gpu) == ["A1", "B1", "A2", "A3", "A4", "A5"]


async def test_round_robin_across_three_users() -> None:
    gate = asyncio.Event()
    gpu = ScriptedBackend("gpu", gate=gate)
    router = make_router([gpu], max_concurrency=1)
    await router.probe_now()
    tasks = [await _hold_slot(router, gpu, "X")]
    for name, count in [("A", 3), ("B", 2), ("C", 1)]:
        tasks += [await _enqueue(router, name, f"{name}{i}") for i in range(1, count + 1)]
    gate.set()
    await asyncio.gather(*tasks)
    assert _served(gpu) == ["X-hold", "A1", "B1", "C1", "A2", "B2", "A3"]


async def test_queue_positions_are_announced_and_decrease() -> None:
    gate = asyncio.Event()
    gpu = ScriptedBackend("gpu", gate=gate)
    router = make_router([gpu], max_concurrency=1)
    await router.probe_now()
    holder = await _hold_slot(router, gpu, "X")
    waiting = [await _enqueue(router, who, who) for who in ("A", "B", "C")]
    gate.set()
    results = [await holder] + [await t for t in waiting]
    positions = [[e.position for e in r if isinstance(e, Queued)] for r in results]
    assert positions == [[], [0], [1, 0], [2, 1, 0]]
    for events in results[1:]:
        queued_at = max(i for i, e in enumerate(events) if isinstance(e, Queued))
        assert isinstance(events[queued_at + 1], Started)  # Started only after the wait


async def test_queue_overflow_gives_the_busy_message() -> None:
    gate = asyncio.Event()
    gpu = ScriptedBackend("gpu", gate=gate)
    router = make_router([gpu], max_concurrency=1, queue_limit=2)
    await router.probe_now()
    tasks = [await _hold_slot(router, gpu, "X")]
    tasks += [await _enqueue(router, "A", "A1"), await _enqueue(router, "B", "B1")]
    with pytest.raises(BackendError) as err:
        await collect(router.stream(ctx(user("C")), request()))
    assert err.value.kind == "busy"
    assert err.value.reason == (
        "All models are busy right now (2 requests waiting). Please try again in a minute."
    )
    gate.set()
    await asyncio.gather(*tasks)
    assert _served(gpu) == ["X-hold", "A1", "B1"]


async def test_cancelling_a_waiting_request_leaves_the_queue() -> None:
    gate = asyncio.Event()
    gpu = ScriptedBackend("gpu", gate=gate)
    router = make_router([gpu], max_concurrency=1)
    await router.probe_now()
    holder = await _hold_slot(router, gpu, "X")
    seen: list[Any] = []

    async def wait_then_cancelled() -> None:
        async with contextlib.aclosing(router.stream(ctx(user("A")), request(text="A1"))) as s:
            async for event in s:
                seen.append(event)

    doomed = spawn(wait_then_cancelled())
    await until(lambda: router.queued == 1)
    later = await _enqueue(router, "B", "B1")
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert router.queued == 1
    gate.set()
    await holder
    events = await later
    assert [e.position for e in events if isinstance(e, Queued)] == [1, 0]
    assert _served(gpu) == ["X-hold", "B1"]
    assert seen == [Queued(position=0)]


async def test_waiting_requests_use_whichever_backend_frees_first() -> None:
    gate = asyncio.Event()
    a, b = ScriptedBackend("a", gate=gate), ScriptedBackend("b")
    router = make_router([a, b], max_concurrency=1)
    await router.probe_now()
    hold_a = await _hold_slot(router, a, "X")
    b.gate = asyncio.Event()
    hold_b = spawn(collect(router.stream(ctx(user("Y")), request(text="Y"))))
    await until(lambda: len(b.calls) == 1)
    waiting = await _enqueue(router, "A", "A1")
    b.gate.set()
    await hold_b
    events = await waiting
    assert Started(model="llama3:latest", backend="b") in events
    gate.set()
    await hold_a


async def test_waiting_request_fails_when_its_backends_go_down() -> None:
    gate = asyncio.Event()
    gpu = ScriptedBackend("gpu", gate=gate)
    router = make_router([gpu], max_concurrency=1, failure_threshold=1)
    await router.probe_now()
    # The request being served finds the server gone: that puts it down (a busy backend is
    # judged by its requests, not probed).
    gpu.plans = [Plan(fail_before=BackendError("connection refused", kind="connect"))]
    holder = await _hold_slot(router, gpu, "X")
    waiting = await _enqueue(router, "A", "A1")
    gate.set()
    with pytest.raises(BackendError) as err:
        await waiting
    assert "Backend 'gpu' is unavailable (connection refused)" in err.value.reason
    assert router.queued == 0
    with pytest.raises(BackendError):
        await holder
