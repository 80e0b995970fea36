"""A recording MessageSink for renderer tests: keeps every call and each message's content."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from hub.core.budget import ChatBudget
from hub.core.markup import telegram as tg
from hub.core.ports import SinkText


@dataclass
class Call:
    t: float
    kind: str  # send, edit, finish, delete, typing
    handle: int | None
    text: SinkText | None
    reply_to: Any = None
    final: bool = False


@dataclass
class RecordingSink:
    """Telegram-like formatting and limits; failures are scripted per call kind."""

    budget: ChatBudget
    max_len: int = 4096
    typing_interval: float = 4.0
    keepalive: float = 0.0
    calls: list[Call] = field(default_factory=list)
    content: dict[int, SinkText] = field(default_factory=dict)
    final: dict[int, bool] = field(default_factory=dict)
    reply_to: dict[int, Any] = field(default_factory=dict)
    failures: dict[str, deque[Exception | None]] = field(default_factory=dict)
    reject_markup: bool = False  # every markup text is rejected (plain works)
    streams: bool = False  # offer a native stream for each message
    append_only: bool = True  # ...that keeps what was appended (Slack-like), or a preview
    stream_keepalive: float = 0.0
    rewrites: int = 0  # append-only streams whose final text did not continue the appended
    _next_id: int = 1

    def fail(self, kind: str, *errors: Exception | None) -> None:
        """The next calls of `kind` raise these errors in order (None: that call succeeds)."""
        self.failures.setdefault(kind, deque()).extend(errors)

    def format(self, markdown: str, *, partial: bool = False) -> str:
        return tg.to_html(markdown, partial=partial)

    def plain(self, markdown: str) -> str:
        return tg.to_plain(markdown)

    def measure(self, markdown: str) -> int:
        return tg.measure(markdown)

    def _record(self, kind: str, handle: int | None, text: SinkText | None, **kw: Any) -> None:
        self.calls.append(Call(self.budget.clock.now(), kind, handle, text, **kw))
        queue = self.failures.get(kind)
        if queue:
            error = queue.popleft()
            if error is not None:
                raise error
        if text is not None and text.markup and self.reject_markup:
            from hub.core.ports import SinkRejectedMarkup

            raise SinkRejectedMarkup("can't parse entities")

    async def send(self, text: SinkText, *, reply_to: Any = None, final: bool = False) -> int:
        self._record("send", None, text, reply_to=reply_to, final=final)
        return self.new_handle(text, reply_to, final)

    async def edit(self, handle: Any, text: SinkText) -> None:
        self._record("edit", handle, text)
        self.content[handle] = text

    async def finish(self, handle: Any, text: SinkText) -> Any:
        self._record("finish", handle, text, final=True)
        self.content[handle] = text
        self.final[handle] = True
        return handle

    async def delete(self, handle: Any) -> None:
        self._record("delete", handle, None)
        self.content.pop(handle, None)

    async def typing(self) -> None:
        self._record("typing", None, None)

    def open_stream(self, reply_to: Any = None) -> RecordingStream | None:
        return RecordingStream(self, reply_to) if self.streams else None

    def new_handle(self, text: SinkText, reply_to: Any, final: bool) -> int:
        handle = self._next_id
        self._next_id += 1
        self.content[handle] = text
        self.final[handle] = final
        self.reply_to[handle] = reply_to
        return handle

    def writes(self) -> list[Call]:
        kinds = ("send", "edit", "finish", "status", "append", "stream_finish")
        return [c for c in self.calls if c.kind in kinds]

    def visible(self) -> list[str]:
        """What a user sees, message by message."""
        out = []
        for handle in sorted(self.content):
            text = self.content[handle]
            out.append(tg.visible(text.text) if text.markup else text.text)
        return out


class RecordingStream:
    """A native stream of `RecordingSink`: the message exists from its first write (like a Slack
    stream's `ts`); appends are recorded as kind "append", and at `finish` the platform shows
    the converted final text. Failures are scripted on the sink with kinds "status", "append"
    and "stream_finish"."""

    def __init__(self, sink: RecordingSink, reply_to: Any) -> None:
        self.sink, self.reply_to = sink, reply_to
        self.append_only = sink.append_only
        self.keepalive = sink.stream_keepalive
        self.handle: int | None = None
        self.markdown = ""

    def _start(self) -> int:
        if self.handle is None:
            self.handle = self.sink.new_handle(SinkText("", markup=False), self.reply_to, False)
        return self.handle

    async def status(self, text: str) -> None:
        self.sink._record("status", self.handle, SinkText(text, markup=False))
        self.sink.content[self._start()] = SinkText(text, markup=False)

    async def append(self, markdown: str, *, plain: bool = False) -> None:
        self.sink._record("append", self.handle, SinkText(markdown, markup=not plain))
        self.markdown += markdown
        self.sink.content[self._start()] = SinkText(self.markdown, markup=False)

    async def finish(self, markdown: str, *, plain: bool = False) -> int:
        text = SinkText(
            self.sink.plain(markdown) if plain else self.sink.format(markdown), markup=not plain
        )
        self.sink._record("stream_finish", self.handle, text, final=True)
        if self.append_only and not markdown.startswith(self.markdown):
            self.sink.rewrites += 1
        handle = self._start()
        self.sink.content[handle] = text
        self.sink.final[handle] = True
        return handle
