"""Markdown pipe tables as aligned monospace text, for platforms that do not render tables.

Discord and Slack show a GFM table as raw pipes in a proportional font. Laid out in a code block
with padded columns it reads as a table again. A table is a header row, a delimiter row
(`|---|:--:|`) with as many cells, and the rows after it that contain a pipe; a run of two or
more lines that start with a pipe (the rows of a table whose header went into an earlier
message) is a table without a header. Widths count East Asian wide characters as two columns.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Align = Literal["left", "right", "center"]

_DELIM_CELL = re.compile(r"^\s*(:?)-+(:?)\s*$")
_PIPE = re.compile(r"(?<!\\)\|")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Table:
    """A table found in a paragraph: `lines[start:end]` of it."""

    start: int
    end: int
    header: tuple[str, ...] | None
    aligns: tuple[Align, ...]
    rows: tuple[tuple[str, ...], ...]


def split_cells(line: str) -> list[str]:
    """The cells of a table row, outer pipes dropped, `\\|` kept as a literal pipe."""
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    return [cell.strip().replace("\\|", "|") for cell in _PIPE.split(text)]


def _delimiter(line: str, columns: int) -> tuple[Align, ...] | None:
    if "-" not in line:
        return None
    cells = split_cells(line)
    if len(cells) != columns:
        return None
    aligns: list[Align] = []
    for cell in cells:
        m = _DELIM_CELL.match(cell)
        if m is None:
            return None
        left, right = bool(m.group(1)), bool(m.group(2))
        aligns.append("center" if left and right else "right" if right else "left")
    return tuple(aligns)


def _is_pipe_row(line: str) -> bool:
    text = line.strip()
    return len(text) > 1 and text.startswith("|")


def find_tables(lines: list[str]) -> list[Table]:
    """The tables among a paragraph's lines, in order, not overlapping."""
    found: list[Table] = []
    i = 0
    while i < len(lines):
        table = _table_at(lines, i)
        if table is None:
            i += 1
            continue
        found.append(table)
        i = table.end
    return found


def _table_at(lines: list[str], i: int) -> Table | None:
    if "|" not in lines[i]:
        return None
    header = split_cells(lines[i])
    aligns = _delimiter(lines[i + 1], len(header)) if i + 1 < len(lines) else None
    if aligns is not None:
        end = i + 2
        while end < len(lines) and "|" in lines[end] and lines[end].strip():
            end += 1
        rows = tuple(tuple(split_cells(line)) for line in lines[i + 2 : end])
        return Table(i, end, tuple(header), aligns, rows)
    end = i
    while end < len(lines) and _is_pipe_row(lines[end]):
        end += 1
    if end - i < 2:
        return None
    rows = tuple(tuple(split_cells(line)) for line in lines[i:end])
    return Table(i, end, None, _lefts(max(len(r) for r in rows)), rows)


def _lefts(count: int) -> tuple[Align, ...]:
    left: Align = "left"
    return (left,) * count


def width(text: str) -> int:
    """Columns `text` takes in a monospace font."""
    total = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def _pad(text: str, size: int, align: Align) -> str:
    gap = size - width(text)
    if align == "right":
        return " " * gap + text
    if align == "center":
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def layout(table: Table, cell_text: Callable[[str], str]) -> list[str]:
    """The table as aligned lines; `cell_text` turns a cell's Markdown into plain text."""
    columns = max([len(table.aligns)] + [len(r) for r in table.rows])
    aligns = table.aligns + _lefts(columns - len(table.aligns))

    def cells(row: tuple[str, ...]) -> list[str]:
        texts = [cell_text(_BREAK.sub(" / ", c)) for c in row]
        return texts + [""] * (columns - len(texts))

    header = cells(table.header) if table.header is not None else None
    body = [cells(r) for r in table.rows]
    sizes = [
        max([width(r[c]) for r in body] + ([width(header[c])] if header else []) + [1])
        for c in range(columns)
    ]

    def line(row: list[str], row_aligns: tuple[Align, ...]) -> str:
        return " | ".join(_pad(t, s, a) for t, s, a in zip(row, sizes, row_aligns, strict=True))

    out: list[str] = []
    if header is not None:
        out.append(line(header, _lefts(columns)).rstrip())
        out.append("-+-".join("-" * s for s in sizes))
    out += [line(r, aligns).rstrip() for r in body]
    return out
