"""Running one chat reply for an HTTP route: decide the status first, then stream.

A reply's status must be known before the first byte: rate limits, unknown models and backends
that are down become a proper error response. `start_reply` therefore pulls events from
`ChatService.reply` until the first piece of content (or the end) arrives, and only then hands
the route a `Reply` to stream. Closing the `Reply` closes the ChatService iterator, which closes
the upstream request, so a client that disconnects stops the generation.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from anyio import create_task_group
from litestar import Request

from hub.api.errors import ApiError, error_from_failed
from hub.api.request_log import note_done, note_model
from hub.core.models import (
    Done,
    Extra,
    Failed,
    IncomingMessage,
    Notice,
    Queued,
    ReplyEvent,
    Started,
    Text,
)
from hub.core.reply_channel import ReplyChannel

log = logging.getLogger(__name__)

ContentEvent = Text | Extra | Done | Failed


class ChatReplier(Protocol):
    """What the HTTP edge needs from `ChatService`."""

    def start(self, msg: IncomingMessage) -> ReplyChannel: ...


class Reply:
    """A started reply: the first content event, then the rest, as content events only.

    Hub notices given before any model started (the output of a command such as `/help`) are
    returned as text, since an HTTP client has no other place to show them; notices once a model
    is answering (e.g. "older turns were dropped") are logged and left out of the reply.
    """

    def __init__(self, channel: ReplyChannel | None, head: list[ContentEvent]) -> None:
        self._channel = channel
        self._head = head
        self._sent_text = False
        self._ended = False

    def take_head(self) -> list[ContentEvent]:
        """The events already read (at least the first content), once; iteration skips them."""
        head, self._head = self._head, []
        return [self._note(event) for event in head]

    @property
    def ended(self) -> bool:
        """Whether a terminal event (Done/Failed) has been handed out."""
        return self._ended

    async def __aiter__(self) -> AsyncIterator[ContentEvent]:
        while not self._ended:
            for event in await self.next_batch():
                yield event

    async def next_batch(self) -> list[ContentEvent]:
        """The head, or else every event produced since the last call (waiting for one).

        May be empty (only notices arrived); the last batch ends with Done or Failed.
        """
        if self._head:
            return self.take_head()
        channel = self._channel
        if self._ended or channel is None:
            return self._end([]) if not self._ended else []
        first = await channel.get()
        raw = [] if first is None else [first, *channel.take_ready()]
        out: list[ContentEvent] = []
        for event in raw:
            self._convert(event, out)
            if self._ended:
                return out
        return self._end(out) if channel.ended else out

    def _convert(self, event: ReplyEvent, out: list[ContentEvent]) -> None:
        if isinstance(event, (Text, Extra, Failed)):
            out.append(self._note(event))
        elif isinstance(event, Done):
            if not self._sent_text and event.text:
                out.append(self._note(Text(event.text)))
            out.append(self._note(event))
        elif isinstance(event, Notice):
            log.info("notice not shown to HTTP client", extra={"notice": event.text})

    def _end(self, out: list[ContentEvent]) -> list[ContentEvent]:
        """The channel ended without a terminal event."""
        out.append(self._note(Failed("The reply ended before it was complete. Try again.")))
        return out

    def _note(self, event: ContentEvent) -> ContentEvent:
        if isinstance(event, Text) and event.delta:
            self._sent_text = True
        elif isinstance(event, (Done, Failed)):
            self._ended = True
            if isinstance(event, Done):
                note_done(event)  # model and tokens for the request log
        return event

    async def aclose(self) -> None:
        """Stop the reply (and so the upstream request) if it still runs.

        A cancelled caller still waits until the reply has stopped and stored what it had.
        """
        if self._channel is None:
            return
        try:
            await self._channel.aclose()
        except Exception:
            log.exception("closing a reply failed")


async def start_reply(chat: ChatReplier, msg: IncomingMessage) -> Reply:
    """Run `msg` up to its first content; raise `ApiError` if it fails before that."""
    note_model(msg.model)
    channel = chat.start(msg)
    notices: list[ContentEvent] = []
    started = False
    try:
        while (event := await channel.get()) is not None:
            if isinstance(event, Queued):
                continue
            if isinstance(event, Started):
                started = True
                notices.clear()
            elif isinstance(event, Notice):
                if not started:
                    notices.append(Text(event.text))
            elif isinstance(event, Failed):
                note_model(event.model)
                raise error_from_failed(event)
            else:
                if isinstance(event, Done) and notices and event.text:
                    notices.clear()  # the command's text is the Done text already
                return Reply(channel, [*notices, event])
    except BaseException:
        await Reply(channel, []).aclose()
        raise
    if notices:  # the hub answered by itself (e.g. a prompt command missing its input)
        text = "".join(n.delta for n in notices if isinstance(n, Text))
        return Reply(None, [*notices, Done(text)])
    raise ApiError(502, "The reply ended before it started. Try again.")


class Gathered:
    """A whole reply, for non-streaming responses."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.extras: list[Mapping[str, Any]] = []
        self.done: Done | None = None
        self.failed: Failed | None = None

    @property
    def content(self) -> str:
        return "".join(self.text)


async def gather_reply(request: Request[Any, Any, Any], reply: Reply) -> Gathered:
    """Read a reply to its end; a client that disconnects meanwhile cancels it."""
    out = Gathered()

    async def read() -> None:
        async for event in reply:
            if isinstance(event, Text):
                out.text.append(event.delta)
            elif isinstance(event, Extra):
                out.extras.append(event.data)
            elif isinstance(event, Done):
                out.done = event
            else:
                out.failed = event
        tg.cancel_scope.cancel()  # stop the disconnect watcher

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        log.info("client disconnected before the reply finished", extra={"path": request.url.path})
        tg.cancel_scope.cancel()

    try:
        async with create_task_group() as tg:
            tg.start_soon(read)
            tg.start_soon(watch)
    finally:
        await reply.aclose()
    if out.done is None and out.failed is None:
        out.failed = Failed("The client disconnected.", code="cancelled")
    return out
