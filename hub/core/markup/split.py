"""Split Markdown into messages that fit a platform's limit, before any conversion.

Each part is `reopen + source + close`: `source` is a slice of the original (the slices
concatenate to it exactly), `reopen` is the fence line of a code block the previous part had to
close (same marker and language), and `close` is the fence line that closes a code block still
open at the end of this part. So every part's fences balance on their own.

A part ends, in order of preference, after a paragraph, a line, a sentence or a word, never
inside an inline entity (code span, link, emphasis) when another boundary exists, and only as a
last resort in the middle of a word. `measure(part.text)` (the length the platform counts after
conversion, which may exceed the source length through escaping) is at most `max_len`.

`carve` reads no further than `max_len + 1` characters past `start`, so a streaming renderer that
carves as soon as the tail is longer than `max_len` commits exactly the parts that
`split_markdown` would produce from the complete text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from hub.core.markup.fences import Fence, iter_lines, step
from hub.core.markup.spans import inline_spans, inside

Measure = Callable[[str], int]
MIN_MAX_LEN = 64
_SENTENCE = re.compile(r"[.!?…][)\]\"'»”’]*[ \t]+(?=\S)")
_WORD = re.compile(r"[ \t]+(?=\S)")


@dataclass(frozen=True, slots=True)
class Part:
    """One message: `text` to send; `source` = original[start:end]."""

    text: str
    start: int
    end: int
    reopen: str
    close: str
    fence_after: Fence | None  # the code block open at `end`, reopened by the next part

    @property
    def source(self) -> str:
        return self.text[len(self.reopen) : len(self.text) - len(self.close)]


def _reopen(fence: Fence | None) -> str:
    return "" if fence is None else fence.open_line + "\n"


def _close(src: str, fence: Fence | None) -> str:
    if fence is None:
        return ""
    return ("" if src.endswith("\n") or not src else "\n") + fence.marker


class _Window:
    """The text a carve may look at, with the fence state before each of its lines."""

    def __init__(self, text: str, fence: Fence | None) -> None:
        self.text = text
        self.starts: list[int] = []
        self.before: list[Fence | None] = []
        state = fence
        for a, b in iter_lines(text):
            self.starts.append(a)
            self.before.append(state)
            state = step(state, text[a:b])
        if not text or text.endswith("\n"):
            # The (empty) line after a final newline, so state_at(len(text)) finds it.
            self.starts.append(len(text))
            self.before.append(state)
        self.starts.append(len(text) + 1)  # sentinel: no line starts here

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) - 1

    def line_text(self, i: int) -> str:
        a = self.starts[i]
        b = self.text.find("\n", a)
        return self.text[a : b if b >= 0 else len(self.text)]

    def code_lines(self) -> list[bool]:
        """Per line: part of a fenced code block (fence lines included)."""
        return [
            state is not None or step(None, self.line_text(i)) is not None
            for i, state in enumerate(self.before)
        ]

    def state_at(self, pos: int) -> Fence | None:
        """The fence open after text[:pos], a trailing partial line counting as a line."""
        if pos == 0:
            return self.before[0] if self.before else None
        i = self.line_of(pos)
        if i >= len(self.before):
            i = len(self.before) - 1
        a = self.starts[i]
        return self.before[i] if a == pos else step(self.before[i], self.text[a:pos])


def _build(window: _Window, reopen: str, length: int) -> tuple[str, str, Fence | None]:
    src = window.text[:length]
    state = window.state_at(length)
    close = _close(src, state)
    return reopen + src + close, close, state


def whole(
    text: str, start: int, fence: Fence | None, max_len: int, measure: Measure
) -> Part | None:
    """The rest of `text` from `start` as one (last) part, or None if it does not fit."""
    if len(text) - start > max_len:
        return None
    reopen = _reopen(fence)
    src = text[start:]
    state = _Window(src, fence).state_at(len(src))
    close = _close(src, state)
    body = reopen + src + close
    if measure(body) > max_len:
        return None
    return Part(body, start, len(text), reopen, close, state)


def carve(text: str, start: int, fence: Fence | None, max_len: int, measure: Measure) -> Part:
    """The first part of text[start:], which is too long to send whole."""
    if max_len < MIN_MAX_LEN:
        raise ValueError(f"max_len must be at least {MIN_MAX_LEN}")
    window = _Window(text[start : start + max_len + 1], fence)
    reopen = _reopen(fence)
    limit = min(len(text) - start, max_len)

    def ok(length: int) -> bool:
        return measure(_build(window, reopen, length)[0]) <= max_len

    longest = _longest(ok, limit)
    # Whether text may continue past the window; decided from the window size alone, so a
    # streaming carve and the final one agree.
    more = len(text) - start > max_len
    length = _choose(window, longest, ok, more)
    body, close, state = _build(window, reopen, length)
    return Part(body, start, start + length, reopen, close, state)


def _longest(ok: Callable[[int], bool], limit: int) -> int:
    """The largest length that fits, by bisection (measure is monotone up to rare escapes)."""
    if ok(limit):
        return limit
    lo, hi = 1, limit - 1
    if not ok(lo):
        return 1  # max_len >= MIN_MAX_LEN makes this unreachable for real converters
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _choose(window: _Window, longest: int, ok: Callable[[int], bool], cut: bool) -> int:
    """The best boundary: fill at least half first, avoid entities that may close later."""
    levels = _candidates(window, longest, cut)
    half = longest // 2
    passes = ((half, longest, False), (0, half, False), (0, longest, True))
    for low, high, allow_soft in passes:
        for cands in levels:
            tried = 0
            for p, soft in reversed(cands):
                if p > high or (soft and not allow_soft):
                    continue
                if p <= low or tried >= 4:
                    break
                tried += 1
                if ok(p):
                    return p
    return longest


def _candidates(window: _Window, longest: int, cut: bool) -> list[list[tuple[int, bool]]]:
    """Boundaries in (0, longest], best level first: paragraph, line, sentence, word.

    Each comes with whether it lies in a "soft" span: after an inline opener whose closer may
    be past the window.
    """
    text = window.text
    hard, soft = inline_spans(window.text, window.code_lines(), cut=cut)
    para: list[tuple[int, bool]] = []
    line: list[tuple[int, bool]] = []
    for i in range(1, len(window.before)):
        p = window.starts[i]
        if p > longest:
            break
        if not text[:p].strip() or not _fence_boundary_ok(window, i) or inside(hard, p):
            continue
        line.append((p, inside(soft, p)))
        if not window.line_text(i - 1).strip():
            para.append(line[-1])
    mid: list[list[tuple[int, bool]]] = [[], []]  # sentence, word
    for level, rx in enumerate((_SENTENCE, _WORD)):
        for m in rx.finditer(text, 0, longest + 1):
            p = m.end()
            if not 0 < p <= longest or not text[:p].strip():
                continue
            if window.state_at(p) is not None:
                if level == 1:  # inside code only word boundaries make sense
                    mid[level].append((p, False))
            elif not inside(hard, p):
                mid[level].append((p, inside(soft, p)))
    return [para, line, *mid]


def _fence_boundary_ok(window: _Window, i: int) -> bool:
    """A line boundary inside a fence must leave code on both sides."""
    fence = window.before[i]
    if fence is None:
        return True
    if fence.closed_by(window.line_text(i)):
        return False
    return window.before[i - 1] is not None  # False right after the opening line


def cut(text: str, start: int, fence: Fence | None, end: int) -> Part:
    """The part text[start:end] as it is, fences closed and reopened like any other part.

    For a renderer that has already shown text[start:end] in an append-only message: the part
    may not end earlier, whatever `carve` would prefer.
    """
    window = _Window(text[start:end], fence)
    body, close, state = _build(window, _reopen(fence), end - start)
    return Part(body, start, end, _reopen(fence), close, state)


def split_markdown(text: str, max_len: int, measure: Measure) -> list[Part]:
    """All parts of `text`; a single part when it fits."""
    parts: list[Part] = []
    start, fence = 0, None
    while True:
        last = whole(text, start, fence, max_len, measure)
        if last is not None:
            parts.append(last)
            return parts
        part = carve(text, start, fence, max_len, measure)
        parts.append(part)
        start, fence = part.end, part.fence_after
