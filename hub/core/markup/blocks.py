"""A small block parser for LLM Markdown that keeps every line of the source.

Converters need the line structure kept as it was typed: lists, tables and indentation stay
text, so only fenced code, ATX headings and block quotes are recognised. Everything else is a
paragraph whose inline Markdown (emphasis, code spans, links) the converter renders. Fences use
the same scanner as the splitter (`fences.py`), so a part the splitter balanced is balanced here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hub.core.markup.fences import Fence, fence_opened_by

BlockKind = Literal["blank", "para", "heading", "quote", "code"]

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}> ?(.*)$")


@dataclass(frozen=True, slots=True)
class Block:
    """One block: its kind, its content lines (quote markers and fence lines removed)."""

    kind: BlockKind
    lines: tuple[str, ...]
    fence: Fence | None = None
    closed: bool = True
    level: int = 0


def _line_kind(line: str) -> BlockKind:
    if not line.strip():
        return "blank"
    if fence_opened_by(line) is not None:
        return "code"
    if _HEADING.match(line):
        return "heading"
    if _QUOTE.match(line):
        return "quote"
    return "para"


def _code_block(lines: list[str], i: int) -> tuple[Block, int]:
    fence = fence_opened_by(lines[i])
    assert fence is not None
    body: list[str] = []
    j = i + 1
    while j < len(lines):
        if fence.closed_by(lines[j]):
            return Block("code", tuple(body), fence=fence, closed=True), j + 1
        body.append(lines[j])
        j += 1
    return Block("code", tuple(body), fence=fence, closed=False), j


def parse_blocks(text: str) -> list[Block]:
    """Blocks of `text` in order; one "blank" block per blank line."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        kind = _line_kind(lines[i])
        if kind == "code":
            block, i = _code_block(lines, i)
            blocks.append(block)
            continue
        if kind == "heading":
            m = _HEADING.match(lines[i])
            assert m is not None
            blocks.append(Block("heading", (m.group(2) or "",), level=len(m.group(1))))
            i += 1
            continue
        if kind == "blank":
            blocks.append(Block("blank", (lines[i],)))
            i += 1
            continue
        j = i
        while j < len(lines) and _line_kind(lines[j]) == kind:
            j += 1
        chunk = lines[i:j]
        if kind == "quote":
            chunk = [_strip_quote(line) for line in chunk]
        blocks.append(Block(kind, tuple(chunk)))
        i = j
    return blocks


def _strip_quote(line: str) -> str:
    m = _QUOTE.match(line)
    return m.group(1) if m else line
