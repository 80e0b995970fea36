"""Streaming a reply to an HTTP client: batched writes, flushed per batch, always closed.

A reader task pulls the reply's events as fast as they come; the response writes everything
read since its last write in one go, with consecutive text merged into one chunk. An idle stream
therefore still sends every token at once (time to first token is unchanged), while a busy hub
makes one send (and one JSON line or SSE event) per batch instead of one per token: it degrades
to larger chunks, never to a backlog.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from anyio import CancelScope
from litestar.response.streaming import ASGIStreamingResponse, Stream
from litestar.types import Receive, Scope, Send

from hub.api.replies import ContentEvent, Reply
from hub.core.models import Done, Failed, Text

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

Render = Callable[[list[ContentEvent]], bytes]


def merge_text(events: list[ContentEvent]) -> list[ContentEvent]:
    """Consecutive `Text` events joined into one (order kept, other events untouched)."""
    merged: list[ContentEvent] = []
    run: list[str] = []
    for event in events:
        if isinstance(event, Text):
            run.append(event.delta)
            continue
        if run:
            merged.append(Text("".join(run)))
            run = []
        merged.append(event)
    if run:
        merged.append(Text("".join(run)))
    return merged


async def _batches(reply: Reply, render: Render) -> AsyncIterator[bytes]:
    first = render(merge_text(reply.take_head()))  # written with the headers, no task hop
    if first:
        yield first
    if reply.ended:
        return
    pending: list[ContentEvent] = []
    ready = asyncio.Event()
    finished = False

    async def read() -> None:
        nonlocal finished
        try:
            async for event in reply:
                pending.append(event)
                ready.set()
                if isinstance(event, (Done, Failed)):
                    break
        finally:
            finished = True
            ready.set()

    reader = asyncio.create_task(read())
    try:
        while True:
            await ready.wait()
            ready.clear()
            if pending:
                batch = merge_text(pending)
                pending.clear()
                chunk = render(batch)
                if chunk:
                    yield chunk
            if finished:
                break
        await reader  # re-raise what ended the reader, if anything did
    finally:
        if not reader.done():
            reader.cancel()
        with CancelScope(shield=True):  # the response's scope may be cancelled (disconnect)
            await asyncio.wait({reader})


class _ClosingResponse:
    """Wraps the streaming ASGI response so the reply is closed however the response ends."""

    __slots__ = ("inner", "reply")

    def __init__(self, inner: ASGIStreamingResponse, reply: Reply) -> None:
        self.inner = inner
        self.reply = reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.inner(scope, receive, send)
        finally:
            await self.reply.aclose()


class ReplyStream(Stream):
    """The response for a streamed reply: `render` turns a batch of events into bytes."""

    __slots__ = ("reply",)

    def __init__(self, reply: Reply, render: Render, *, media_type: str) -> None:
        super().__init__(
            _batches(reply, render), media_type=media_type, headers=dict(STREAM_HEADERS)
        )
        self.reply = reply

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        inner = super().to_asgi_response(*args, **kwargs)
        assert isinstance(inner, ASGIStreamingResponse)
        return _ClosingResponse(inner, self.reply)
