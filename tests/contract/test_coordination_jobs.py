"""The job queue's contract, on the embedded queue and on a Redis Stream, across replicas:
arrival order, positions, each job to one worker, and (Redis) a silent worker's job taken
over."""

from __future__ import annotations

import asyncio

from hub.core.ports import Delivery, JobQueue
from tests.contract.coordination_kit import Replicas


async def take(queue: JobQueue) -> Delivery:
    for _ in range(50):
        delivery = await queue.take()
        if delivery is not None:
            return delivery
    raise AssertionError("no job came")


async def test_jobs_wait_in_arrival_order_with_positions(replicas: Replicas) -> None:
    one, two = await replicas.job_queue(), await replicas.job_queue()
    assert [await one.enqueue("a"), await two.enqueue("b"), await one.enqueue("c")] == [0, 1, 2]
    assert await two.position("c") == 2 and await one.waiting() == 3
    first = await take(two)
    assert first.job_id == "a" and not first.claimed
    assert await one.position("a") is None and await one.position("c") == 1
    await two.done(first)
    assert [(await take(one)).job_id, (await take(two)).job_id] == ["b", "c"]
    assert await one.waiting() == 0


async def test_a_job_taken_out_of_line_leaves_the_others_moving_up(replicas: Replicas) -> None:
    queue = await replicas.job_queue()
    for job in ("a", "b", "c"):
        await queue.enqueue(job)
    await queue.remove("b")
    assert await queue.position("b") is None
    assert await queue.position("c") == 1 and await queue.waiting() == 2


async def test_each_job_goes_to_one_worker(replicas: Replicas) -> None:
    queues = [await replicas.job_queue() for _ in range(3)]
    for i in range(12):
        await queues[0].enqueue(f"j{i}")
    taken = await asyncio.gather(*(take(queues[i % 3]) for i in range(12)))
    assert sorted(d.job_id for d in taken) == sorted(f"j{i}" for i in range(12))


async def test_a_silent_workers_job_is_taken_over(redis_url: str) -> None:
    kit = Replicas("redis", redis_url)
    try:
        dead = await kit.job_queue(claim_after=1.0)
        alive = await kit.job_queue(claim_after=1.0)
        kept = await kit.job_queue(claim_after=1.0)
        await dead.enqueue("orphan")
        await kept.enqueue("busy")
        lost, held = await take(dead), await take(kept)  # `dead` never renews or acks
        assert (lost.job_id, held.job_id) == ("orphan", "busy")
        for _ in range(4):
            await kept.renew(held)  # `kept` says it is alive
            await asyncio.sleep(0.5)
        claimed = await take(alive)
        assert claimed.job_id == "orphan" and claimed.claimed
        await alive.done(claimed)
        await kept.done(held)
        assert await alive.take() is None  # nothing left pending
    finally:
        await kit.aclose()
