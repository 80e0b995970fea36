"""Which Markdown each message of a streaming reply shows (used by `render`).

The reply only grows. As soon as the unsent tail is longer than the sink's `max_len`, the first
part is carved off and becomes final; `split.carve` guarantees those parts are the ones
`split_markdown` gives for the complete text, so earlier messages never need to change again.

One exception: a message shown through an append-only native stream (Slack) cannot take back
what it has shown, so its part never ends before `floor`, the end of the text already
appended. To keep such a part close to what `carve` would choose anyway, `stream_horizon` lets
a stream append freely only in the first half of a message and then whole lines.
"""

from __future__ import annotations

from hub.core.markup.fences import Fence, fence_state_after
from hub.core.markup.split import Part, carve, cut, whole
from hub.core.ports import MessageSink


def len16(text: str) -> int:
    """UTF-16 length: Telegram's unit, and never less than any platform's count of `text`."""
    return len(text.encode("utf-16-le")) // 2


def append_block(content: str, block: str) -> str:
    """`content` followed by `block` as a paragraph of its own (closing an open code block)."""
    if not content:
        return block
    fence: Fence | None = fence_state_after(content)
    if fence is not None:
        content += ("" if content.endswith("\n") else "\n") + fence.marker
    return content.rstrip("\n") + "\n\n" + block


class Layout:
    """Committed (final) parts of one reply and the in-progress tail."""

    def __init__(self, sink: MessageSink) -> None:
        self.sink = sink
        self.parts: list[Part] = []
        self.start = 0
        self.fence: Fence | None = None
        self.floor = 0  # the in-progress part may not end before this offset (append-only)

    @property
    def reopen(self) -> str:
        """What the in-progress part starts with before its text: a reopened fence line."""
        return self.fence.open_line + "\n" if self.fence else ""

    def commit(self, content: str) -> None:
        """Carve final parts off while the tail cannot fit one message whatever follows."""
        while len(content) - self.start > self.sink.max_len:
            self._take(self._carve(content, self.sink.max_len))

    def display(self, content: str, reserve: int) -> str:
        """Markdown of the in-progress message: the tail, or as much of it as fits."""
        self.commit(content)
        tail = self.reopen + content[self.start :]
        limit = self.sink.max_len - reserve
        if self._measure(tail) <= limit:
            return tail
        return carve(content, self.start, self.fence, limit, self._measure).text

    def stream_horizon(self, content: str) -> int:
        """How far (an offset in `content`) an append-only stream may show the tail now."""
        self.commit(content)
        half = self.start + self.sink.max_len // 2
        if len(content) <= half:
            return len(content)
        line_end = content.rfind("\n", self.start) + 1
        return max(half, line_end, self.floor)

    def final(self, content: str) -> list[Part]:
        """Every part of the complete reply (committed ones included), blank ones left out."""
        self.commit(content)
        while True:
            last = whole(content, self.start, self.fence, self.sink.max_len, self._measure)
            if last is not None:
                self._take(last)
                return self.parts
            self._take(self._carve(content, self.sink.max_len))

    def _carve(self, content: str, limit: int) -> Part:
        part = carve(content, self.start, self.fence, limit, self._measure)
        if part.end < self.floor:
            return cut(content, self.start, self.fence, self.floor)
        return part

    def _take(self, part: Part) -> None:
        self.start, self.fence = part.end, part.fence_after
        if part.source.strip():
            self.parts.append(part)

    def _measure(self, markdown: str) -> int:
        return self.sink.measure(markdown)
