"""ReplyChannel's bound: the producer waits for room, the end of a reply always gets through."""

from __future__ import annotations

import asyncio

from hub.core.models import Done, Text
from hub.core.reply_channel import ReplyChannel


async def _produce(channel: ReplyChannel, count: int, produced: list[int]) -> None:
    for i in range(count):
        channel(Text(str(i)))
        produced.append(i)
        await channel.room()
    channel(Done("all"))
    channel(None)


async def test_a_reader_that_does_not_read_pauses_the_producer_at_the_limit() -> None:
    channel = ReplyChannel(limit=8)
    produced: list[int] = []
    task = asyncio.create_task(_produce(channel, 100, produced))
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(produced) == 8  # stopped at the limit, not at 100
    batch = channel.take_ready()
    assert [e.delta for e in batch if isinstance(e, Text)] == [str(i) for i in range(8)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(produced) == 16  # one more channel-full after the batch was taken
    rest = []
    while (event := await channel.get()) is not None:
        rest.append(event)
    await task
    assert len(produced) == 100 and isinstance(rest[-1], Done)
    assert [e.delta for e in rest if isinstance(e, Text)] == [str(i) for i in range(8, 100)]


async def test_put_never_blocks_and_the_end_marker_passes_a_full_channel() -> None:
    channel = ReplyChannel(limit=2)
    for i in range(5):
        channel.put(Text(str(i)))
    channel.put(None)
    events = channel.take_ready()
    assert len(events) == 5 and channel.ended
    await asyncio.wait_for(channel.room(), 1)  # an ended channel never makes anyone wait


async def test_cancelling_a_paused_producer_stops_it() -> None:
    channel = ReplyChannel(limit=1)
    produced: list[int] = []
    task = asyncio.create_task(_produce(channel, 10, produced))
    channel.attach(task)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    await channel.aclose()
    assert task.cancelled() and len(produced) == 1
