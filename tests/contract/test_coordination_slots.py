"""The slot scheduler's contract, on the embedded twin and on Redis, across several replicas.

Each replica is a `Router` of its own (its own view of the backends' health) over one
`ScriptedBackend` (the model server they share), with the replica's slot scheduler from
`replicas`: one shared twin in memory, or one Redis link per replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import pytest

from hub.core.models import Queued
from hub.core.ports import BackendError
from hub.core.router import Router
from tests.contract.coordination_kit import Replicas
from tests.unit.router_doubles import (
    Plan,
    ScriptedBackend,
    collect,
    ctx,
    eventually,
    make_router,
    request,
    spawn,
    user,
)


async def routers(
    replicas: Replicas, backend: ScriptedBackend, count: int, **settings: Any
) -> list[Router]:
    limit = settings.pop("queue_limit", 100)
    made = []
    for _ in range(count):
        slots = await replicas.slots(limit)
        router = make_router([backend], slots=slots, queue_limit=limit, **settings)
        await router.probe_now()
        made.append(router)
    return made


async def hold(router: Router, backend: ScriptedBackend, who: str) -> asyncio.Task[Any]:
    before = len(backend.calls)
    task = spawn(collect(router.stream(ctx(user(who)), request(text=f"{who}-hold"))))
    await eventually(lambda: len(backend.calls) > before)
    return task


async def enqueue(router: Router, who: str, text: str) -> asyncio.Task[Any]:
    before = router.queued
    task = spawn(collect(router.stream(ctx(user(who)), request(text=text))))
    await eventually(lambda: router.queued == before + 1)
    return task


def served(backend: ScriptedBackend) -> list[str]:
    return [c.messages[-1].content for c in backend.calls]


def positions(events: list[Any]) -> list[int]:
    return [e.position for e in events if isinstance(e, Queued)]


async def test_max_concurrency_holds_across_replicas(replicas: Replicas) -> None:
    gpu = ScriptedBackend("gpu", default=Plan(delay=0.01))
    three = await routers(replicas, gpu, 3, max_concurrency=2)
    tasks = [
        spawn(collect(three[i % 3].stream(ctx(user(f"u{i}")), request(text=str(i)))))
        for i in range(20)
    ]
    results = await asyncio.gather(*tasks)
    assert all("".join(getattr(e, "text", "") for e in r) == "Hello" for r in results)
    assert len(gpu.calls) == 20
    assert gpu.peak == 2


async def test_people_are_served_in_turn_across_replicas(replicas: Replicas) -> None:
    gpu = ScriptedBackend("gpu", gate=asyncio.Event())
    one, two = await routers(replicas, gpu, 2, max_concurrency=1)
    tasks = [await hold(one, gpu, "X")]
    tasks += [await enqueue(one, "A", f"A{i}") for i in range(1, 5)]
    tasks.append(await enqueue(two, "B", "B1"))
    tasks.append(await enqueue(two, "C", "C1"))
    assert gpu.gate is not None
    gpu.gate.set()
    await asyncio.gather(*tasks)
    assert served(gpu) == ["X-hold", "A1", "B1", "C1", "A2", "A3", "A4"]


async def test_positions_are_shown_and_only_go_down(replicas: Replicas) -> None:
    gpu = ScriptedBackend("gpu", gate=asyncio.Event(), default=Plan(delay=0.02))
    one, two = await routers(replicas, gpu, 2, max_concurrency=1)
    holder = await hold(one, gpu, "X")
    waiting = [
        await enqueue(one, "A", "A"),
        await enqueue(two, "B", "B"),
        await enqueue(one, "C", "C"),
    ]
    assert gpu.gate is not None
    gpu.gate.set()
    await holder
    shown = [positions(await task) for task in waiting]
    for first, seen in enumerate(shown):
        assert seen[0] == first and seen[-1] == 0
        assert all(a > b for a, b in itertools.pairwise(seen))


async def test_the_queue_limit_counts_every_replica(replicas: Replicas) -> None:
    gpu = ScriptedBackend("gpu", gate=asyncio.Event())
    one, two = await routers(replicas, gpu, 2, max_concurrency=1, queue_limit=2)
    tasks = [await hold(one, gpu, "X"), await enqueue(one, "A", "A1")]
    tasks.append(await enqueue(two, "B", "B1"))
    with pytest.raises(BackendError) as refused:
        await collect(two.stream(ctx(user("C")), request()))
    assert refused.value.kind == "busy"
    assert "2 requests waiting" in refused.value.reason
    assert gpu.gate is not None
    gpu.gate.set()
    await asyncio.gather(*tasks)
    assert served(gpu) == ["X-hold", "A1", "B1"]


async def test_a_request_that_leaves_the_queue_moves_the_others_up(replicas: Replicas) -> None:
    gpu = ScriptedBackend("gpu", gate=asyncio.Event())
    one, two = await routers(replicas, gpu, 2, max_concurrency=1)
    holder = await hold(one, gpu, "X")
    doomed = await enqueue(one, "A", "A1")
    seen: list[Any] = []

    async def watch() -> None:
        async for event in two.stream(ctx(user("B")), request(text="B1")):
            seen.append(event)

    later = spawn(watch())
    await eventually(lambda: positions(seen) == [1])
    doomed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await doomed
    await eventually(lambda: positions(seen) == [1, 0])  # moved up while the slot is still held
    assert gpu.gate is not None
    gpu.gate.set()
    await holder
    await later
    assert served(gpu) == ["X-hold", "B1"]


async def test_a_waiting_request_fails_when_its_backend_goes_down(replicas: Replicas) -> None:
    gpu = ScriptedBackend("gpu", gate=asyncio.Event())
    (router,) = await routers(replicas, gpu, 1, max_concurrency=1, failure_threshold=1)
    gpu.plans = [Plan(fail_before=BackendError("connection refused", kind="connect"))]
    holder = await hold(router, gpu, "X")
    waiting = await enqueue(router, "A", "A1")
    assert gpu.gate is not None
    gpu.gate.set()
    with pytest.raises(BackendError) as err:
        await waiting
    assert "is unavailable (connection refused)" in err.value.reason
    assert router.queued == 0
    with pytest.raises(BackendError):
        await holder
