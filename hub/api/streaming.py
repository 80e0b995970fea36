"""Streaming a reply to an HTTP client: batched writes, flushed per batch, always closed.

The response waits for the reply's next event and then writes everything produced since its
last write in one go, with consecutive text merged into one chunk. An idle stream therefore
still sends every token at once (time to first token is unchanged), while a busy hub makes one
send (and one JSON line or SSE event) per batch instead of one per token: it degrades to larger
chunks, never to a backlog.

It is plain asyncio rather than Litestar's task-group streaming: one writer, plus one task that
waits for the client to disconnect and then cancels the writer, which closes the reply and so
the upstream request. This runs for every streamed token, so each await counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar.response.streaming import ASGIStreamingResponse, Stream
from litestar.types import HTTPResponseBodyEvent, Receive, Scope, Send

from hub.api.replies import ContentEvent, Reply
from hub.core.models import Text

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

Render = Callable[[list[ContentEvent]], bytes]


def merge_text(events: list[ContentEvent]) -> list[ContentEvent]:
    """Consecutive `Text` events joined into one (order kept, other events untouched)."""
    if len(events) < 2:
        return events
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


async def _write(reply: Reply, render: Render, send: Send) -> None:
    while not reply.ended:
        chunk = render(merge_text(await reply.next_batch()))
        if chunk:
            event: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": chunk,
                "more_body": True,
            }
            await send(event)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _cancel_on_disconnect(receive: Receive, writer: asyncio.Task[Any]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    writer.cancel()


class _ReplyResponse:
    """The ASGI response of a streamed reply: Litestar's headers, the body from `_write`."""

    __slots__ = ("inner", "render", "reply")

    def __init__(self, inner: ASGIStreamingResponse, reply: Reply, render: Render) -> None:
        self.inner = inner
        self.reply = reply
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.inner.start_response(send)
            if self.inner.is_head_response:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await self._send_body(receive, send)
            await self.inner.after_response()
        finally:
            await self.reply.aclose()

    async def _send_body(self, receive: Receive, send: Send) -> None:
        head = self.render(merge_text(self.reply.take_head()))
        if head:  # the first token goes out before anything else is set up
            await send({"type": "http.response.body", "body": head, "more_body": True})
        writer = asyncio.current_task()
        assert writer is not None
        watcher = asyncio.get_running_loop().create_task(_cancel_on_disconnect(receive, writer))
        try:
            await _write(self.reply, self.render, send)
        except asyncio.CancelledError:
            if not watcher.done():
                raise  # cancelled from outside (shutdown), not by the client leaving
            writer.uncancel()
        finally:
            watcher.cancel()


async def _no_iterator() -> AsyncIterator[bytes]:
    return
    yield b""  # makes this an async generator


class ReplyStream(Stream):
    """The response for a streamed reply: `render` turns a batch of events into bytes."""

    __slots__ = ("encode", "reply")

    def __init__(self, reply: Reply, render: Render, *, media_type: str) -> None:
        super().__init__(_no_iterator(), media_type=media_type, headers=dict(STREAM_HEADERS))
        self.reply = reply
        self.encode = render  # not `render`: Response.render is another thing

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        inner = super().to_asgi_response(*args, **kwargs)
        assert isinstance(inner, ASGIStreamingResponse)
        return _ReplyResponse(inner, self.reply, self.encode)
