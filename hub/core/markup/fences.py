"""Fenced code blocks as CommonMark sees them: one scanner shared by the splitter and converters.

A fence opens on a line of up to three spaces of indent and three or more backticks or tildes
(backtick fences may not have a backtick in their info string). It closes on a line of the same
character, at least as long, with nothing after it but spaces. An unclosed fence runs to the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")


@dataclass(frozen=True, slots=True)
class Fence:
    """An open code fence: its marker ("```", "~~~~") and info string (language first)."""

    marker: str
    info: str = ""

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def open_line(self) -> str:
        """The line that reopens this fence in a continuation part."""
        return f"{self.marker}{self.language}"

    def closed_by(self, line: str) -> bool:
        m = _CLOSE.match(line)
        if m is None:
            return False
        run = m.group(1)
        return run[0] == self.marker[0] and len(run) >= len(self.marker)


def fence_opened_by(line: str) -> Fence | None:
    """The fence `line` opens, or None if it is not an opening fence line."""
    m = _OPEN.match(line)
    if m is None:
        return None
    marker, info = m.group(2), m.group(3).strip()
    if marker[0] == "`" and "`" in info:
        return None
    return Fence(marker=marker, info=info)


def step(fence: Fence | None, line: str) -> Fence | None:
    """The fence state after `line` (without its newline), given the state before it."""
    if fence is None:
        return fence_opened_by(line)
    return None if fence.closed_by(line) else fence


def iter_lines(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """(line_start, line_end) offsets of each line in text[start:end]; line_end excludes "\\n"."""
    stop = len(text) if end is None else end
    pos = start
    while pos < stop:
        nl = text.find("\n", pos, stop)
        if nl < 0:
            yield pos, stop
            return
        yield pos, nl
        pos = nl + 1


def fence_state_after(text: str, fence: Fence | None = None) -> Fence | None:
    """The fence left open at the end of `text` (a trailing partial line counts as a line)."""
    for a, b in iter_lines(text):
        fence = step(fence, text[a:b])
    return fence
