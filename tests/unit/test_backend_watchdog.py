"""ReadWatchdog: the per-stream read timeout behind the backends' first-token/chunk timeouts."""

from __future__ import annotations

import asyncio

import pytest

from hub.core.backends.watchdog import ReadTimeout, ReadWatchdog


async def test_times_out_a_slow_read() -> None:
    loop, dog = asyncio.get_running_loop(), ReadWatchdog()
    assert await dog.read(asyncio.sleep(0, "fast"), loop.time() + 5) == "fast"
    with pytest.raises(ReadTimeout):
        await dog.read(asyncio.sleep(5), loop.time() + 0.05)
    assert await dog.read(asyncio.sleep(0, "again"), loop.time() + 5) == "again"
    dog.close()


async def test_time_outside_reads_does_not_count() -> None:
    loop, dog = asyncio.get_running_loop(), ReadWatchdog()
    await dog.read(asyncio.sleep(0), loop.time() + 0.02)
    await asyncio.sleep(0.1)  # the consumer is slow; its timer fires while no read is pending
    assert await dog.read(asyncio.sleep(0.01, "ok"), loop.time() + 5) == "ok"
    dog.close()


async def test_deadline_moves_forward_with_each_read() -> None:
    loop, dog = asyncio.get_running_loop(), ReadWatchdog()
    for _ in range(5):  # each read is quick and its deadline later than the first timer's
        await dog.read(asyncio.sleep(0.02), loop.time() + 0.05)
    dog.close()


async def test_outside_cancellation_stays_a_cancellation() -> None:
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    async def reader() -> None:
        dog = ReadWatchdog()
        started.set()
        await dog.read(asyncio.sleep(5), loop.time() + 5)

    task = asyncio.create_task(reader())
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
