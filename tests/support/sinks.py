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
        handle = self._next_id
        self._next_id += 1
        self.content[handle] = text
        self.final[handle] = final
        self.reply_to[handle] = reply_to
        return handle

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

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.kind in ("send", "edit", "finish")]

    def visible(self) -> list[str]:
        """What a user sees, message by message."""
        out = []
        for handle in sorted(self.content):
            text = self.content[handle]
            out.append(tg.visible(text.text) if text.markup else text.text)
        return out
