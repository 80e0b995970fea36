"""A reply's message shown through a Slack chat stream: the sink port's `NativeStream`.

- `status` (the queue position, before any text): the thread's assistant status line. Where
  Slack offers no status, `SinkStreamUnavailable`: the renderer shows the position in a posted
  message and grows the reply with edits.
- `append`: the first text starts the stream, when Slack's `chat.startStream` tier has room
  right now (a start that had to wait for the tier would show nothing for up to a minute; a
  posted message shows the text at once); later text is appended, paced by the renderer
  through the sink's `ReplyBudget`.
- `finish`: the message's final Markdown; `chat.stopStream` carries what is still missing. A
  stream that never started (only a status was shown) is posted as a message instead.

Slack closing the stream (expiry), the person stopping it in Slack, or its message deleted:
`SinkStreamUnavailable` with the message left behind (None when deleted), and the renderer goes
on with `chat.update` (or a new message). A stop by the person also cancels the reply.
Streams show Markdown as Slack renders it, so mentions are defused in the text (`stream.py`).
A stream cannot carry the Stop button (Slack's own stop control is on it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hub.connectors.slack.budgets import START, ReplyBudget
from hub.connectors.slack.stream import ChatStream, StreamExpired, StreamStopped, StreamUnavailable
from hub.core.ports import SinkMessageGone, SinkStreamUnavailable, SinkText

T = TypeVar("T")


@dataclass
class StreamSupport:
    """Shared by a connector's sinks: streams on or off, and where Slack refused them."""

    enabled: bool = True
    refused_everywhere: bool = False
    refused: set[str] = field(default_factory=set)  # channels

    def allows(self, channel: str) -> bool:
        return self.enabled and not self.refused_everywhere and channel not in self.refused

    def refuse(self, channel: str, *, everywhere: bool) -> None:
        if everywhere:
            self.refused_everywhere = True
        else:
            self.refused.add(channel)


class StreamOwner(Protocol):
    """What a stream needs of the sink it belongs to."""

    @property
    def budget(self) -> ReplyBudget: ...

    def format(self, markdown: str, *, partial: bool = False) -> str: ...

    def plain(self, markdown: str) -> str: ...

    async def send(self, text: SinkText, *, reply_to: Any = None, final: bool = False) -> Any: ...

    async def show_status(self, text: str) -> bool: ...


class SlackStream:
    """One message of a reply, streamed natively (see the module docstring)."""

    append_only = True
    keepalive = 0.0

    def __init__(
        self,
        owner: StreamOwner,
        chat: ChatStream,
        support: StreamSupport,
        *,
        on_stopped: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.owner, self.chat, self.support = owner, chat, support
        self.on_stopped = on_stopped
        self.given = ""  # the Markdown the renderer has appended

    @property
    def opening(self) -> bool:
        """No stream message exists yet."""
        return self.chat.ts is None

    async def status(self, text: str) -> None:
        if not self.opening:
            return
        if not await self.owner.show_status(text):
            raise SinkStreamUnavailable("slack: no assistant status here for the queue position")

    async def append(self, markdown: str, *, plain: bool = False) -> None:
        total = self.given + markdown
        if self.opening:
            await self._start(total)
        else:
            await self._guard(self.chat.show(total))
        self.given = total

    async def _start(self, total: str) -> None:
        channel = self.chat.channel
        if not self.support.allows(channel) or not self.owner.budget.take_now(START):
            raise SinkStreamUnavailable("slack: no stream start available now")
        try:
            await self.chat.start(total)
        except StreamUnavailable as exc:
            self.support.refuse(channel, everywhere=exc.everywhere)
            raise SinkStreamUnavailable(str(exc)) from exc

    async def finish(self, markdown: str, *, plain: bool = False) -> Any:
        if self.opening:  # the renderer took a chat.postMessage unit for this (`ReplyBudget`)
            text = SinkText(self.owner.plain(markdown), markup=False) if plain else None
            return await self.owner.send(text or SinkText(self.owner.format(markdown)), final=True)
        if not markdown.startswith(self.given):
            # Cannot happen with the renderer's layout; stop what is there and replace it.
            await self._stop(self.given)
            raise SinkStreamUnavailable(
                "slack: final text is not a continuation", handle=self.chat.handle()
            )
        await self._stop(markdown)
        return self.chat.handle()

    async def _stop(self, total: str) -> None:
        await self._guard(self.chat.stop(total))

    async def _guard(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except StreamExpired as exc:
            raise SinkStreamUnavailable(str(exc), handle=self.chat.handle()) from exc
        except StreamStopped as exc:
            if self.on_stopped is not None:
                await self.on_stopped()
            raise SinkStreamUnavailable(str(exc), handle=self.chat.handle()) from exc
        except SinkMessageGone as exc:  # deleted while streaming: a new message goes on
            raise SinkStreamUnavailable(str(exc), handle=None) from exc
