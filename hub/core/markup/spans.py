"""Where inline Markdown entities (code spans, links, emphasis) sit, so splits avoid them.

An approximation of CommonMark's inline rules, good enough to choose between boundaries: it
never affects correctness, only which boundary a split prefers.
"""

from __future__ import annotations

import re

Span = tuple[int, int]

_CODE_RUN = re.compile(r"`+")
_LINK = re.compile(r"!?\[[^\]\n]*\]\([^)\n]*\)")
_DELIM = re.compile(r"\*+|_+|~~")


def inside(spans: list[Span], pos: int) -> bool:
    """Whether a split at `pos` would cut one of `spans`."""
    return any(a < pos < b for a, b in spans)


def inline_spans(text: str, code_lines: list[bool], *, cut: bool) -> tuple[list[Span], list[Span]]:
    """(closed, open) entity spans in the paragraphs of `text`, fenced lines skipped.

    Open spans start at an opener with no closer in `text`; they count only when `cut` (the
    text may go on past its end) and run to the end of `text`.
    """
    closed: list[Span] = []
    opened: list[Span] = []
    start: int | None = None
    pos = 0
    for i, line in enumerate(text.split("\n")):
        is_code = code_lines[i] if i < len(code_lines) else False
        if is_code or not line.strip():
            if start is not None:
                closed += _paragraph(text, start, pos, None)
                start = None
        elif start is None:
            start = pos
        pos += len(line) + 1
    if start is not None:
        closed += _paragraph(text, start, len(text), opened if cut else None)
    return closed, opened


def _paragraph(text: str, a: int, b: int, opened: list[Span] | None) -> list[Span]:
    seg = text[a:b]
    spans: list[Span] = []
    unmatched: list[int] = []
    runs = list(_CODE_RUN.finditer(seg))
    used: set[int] = set()
    for k, run in enumerate(runs):
        if k in used:
            continue
        match = next(
            (
                j
                for j in range(k + 1, len(runs))
                if j not in used and runs[j].group() == run.group()
            ),
            None,
        )
        if match is None:
            unmatched.append(run.start())
            continue
        spans.append((run.start(), runs[match].end()))
        used.update((k, match))
    spans += [(m.start(), m.end()) for m in _LINK.finditer(seg)]
    emphasis, open_emphasis = _emphasis(seg, spans)
    spans += emphasis
    if opened is not None:
        firsts = [p for p in unmatched + open_emphasis if not inside(spans, p)]
        if firsts:
            opened.append((a + min(firsts), len(text) + 1))
    return [(a + s, a + e) for s, e in spans]


def _emphasis(seg: str, taken: list[Span]) -> tuple[list[Span], list[int]]:
    spans: list[Span] = []
    stack: list[tuple[str, int]] = []
    for m in _DELIM.finditer(seg):
        if any(s <= m.start() < e for s, e in taken):
            continue
        run = m.group()
        before = seg[m.start() - 1] if m.start() > 0 else " "
        after = seg[m.end()] if m.end() < len(seg) else " "
        if run[0] == "_" and before.isalnum() and after.isalnum():
            continue
        key = run[0] + ("2" if len(run) >= 2 else "1")
        opener = next((k for k in range(len(stack) - 1, -1, -1) if stack[k][0] == key), None)
        if not before.isspace() and opener is not None:
            spans.append((stack[opener][1], m.end()))
            del stack[opener:]
        elif not after.isspace():
            stack.append((key, m.start()))
    return spans, [pos for _, pos in stack]
