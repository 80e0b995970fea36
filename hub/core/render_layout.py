"""Which Markdown each message of a streaming reply shows (used by `render`).

The reply only grows. As soon as the unsent tail is longer than the sink's `max_len`, the first
part is carved off and becomes final; `split.carve` guarantees those parts are the ones
`split_markdown` gives for the complete text, so earlier messages never need to change again.
"""

from __future__ import annotations

from hub.core.markup.fences import Fence, fence_state_after
from hub.core.markup.split import Part, carve, whole
from hub.core.ports import MessageSink


def len16(text: str) -> int:
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

    def commit(self, content: str) -> None:
        """Carve final parts off while the tail cannot fit one message whatever follows."""
        while len(content) - self.start > self.sink.max_len:
            self._take(carve(content, self.start, self.fence, self.sink.max_len, self._measure))

    def display(self, content: str, reserve: int) -> str:
        """Markdown of the in-progress message: the tail, or as much of it as fits."""
        self.commit(content)
        tail = (self.fence.open_line + "\n" if self.fence else "") + content[self.start :]
        limit = self.sink.max_len - reserve
        if self._measure(tail) <= limit:
            return tail
        return carve(content, self.start, self.fence, limit, self._measure).text

    def final(self, content: str) -> list[Part]:
        """Every part of the complete reply (committed ones included), blank ones left out."""
        self.commit(content)
        while True:
            last = whole(content, self.start, self.fence, self.sink.max_len, self._measure)
            if last is not None:
                self._take(last)
                return self.parts
            self._take(carve(content, self.start, self.fence, self.sink.max_len, self._measure))

    def _take(self, part: Part) -> None:
        self.start, self.fence = part.end, part.fence_after
        if part.source.strip():
            self.parts.append(part)

    def _measure(self, markdown: str) -> int:
        return self.sink.measure(markdown)
