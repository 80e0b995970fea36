"""Markdown pipe tables as aligned monospace rows, for platforms that cannot draw tables.

A table is a header row, a delimiter row (`| --- | :-: |`) and any following rows that contain a
`|`. Cells keep their text without inline markup (`<br>` becomes " / "); columns are padded to a
common width and aligned as the delimiter row asks. A converter puts the rows in a code block,
so they line up (Slack, Discord). A run of two or more lines that start with a pipe is a table
without a header: the rest of a long table whose header went into the previous message.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

_DELIMITER_CELL = re.compile(r"^\s*:?-{1,}:?\s*$")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_ESCAPED_PIPE = "\\|"
_PIPE_STANDIN = "\x00"


def split_row(line: str) -> list[str]:
    """The cells of a table row (outer pipes optional, `\\|` is a literal pipe)."""
    body = line.strip().replace(_ESCAPED_PIPE, _PIPE_STANDIN)
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    return [cell.strip().replace(_PIPE_STANDIN, "|") for cell in body.split("|")]


def is_delimiter_row(line: str) -> bool:
    if "|" not in line or "-" not in line:
        return False
    cells = split_row(line)
    return bool(cells) and all(_DELIMITER_CELL.match(cell) for cell in cells)


def _has_header(lines: Sequence[str]) -> bool:
    return (
        len(lines) >= 2
        and "|" in lines[0]
        and is_delimiter_row(lines[1])
        and len(split_row(lines[0])) == len(split_row(lines[1]))
    )


def _pipe_row(line: str) -> bool:
    text = line.strip()
    return len(text) > 1 and text.startswith("|")


def table_spans(lines: Sequence[str]) -> list[tuple[int, int]]:
    """[start, end) line ranges of the tables in `lines` (a paragraph's lines)."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i + 1 < len(lines):
        if _has_header(lines[i : i + 2]):
            j = i + 2
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                j += 1
        else:
            j = i
            while j < len(lines) and _pipe_row(lines[j]):
                j += 1
            if j - i < 2:
                i += 1
                continue
        spans.append((i, j))
        i = j
    return spans


def display_width(text: str) -> int:
    """Columns a monospace font gives `text` (wide East Asian characters take two, combining
    marks and format characters none)."""
    return sum(
        0
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf")
        else 2
        if unicodedata.east_asian_width(ch) in "WF"
        else 1
        for ch in text
    )


def _alignment(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith(":") and cell.endswith(":"):
        return "center"
    return "right" if cell.endswith(":") else "left"


def _pad(text: str, width: int, align: str) -> str:
    gap = width - display_width(text)
    if align == "right":
        return " " * gap + text
    if align == "center":
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def render_table(lines: Sequence[str], cell_text: Callable[[str], str]) -> list[str]:
    """Aligned rows of one table: header, a rule, then the body rows.

    `cell_text` turns a cell's Markdown into the plain text shown (inline markup removed).
    A table without a header row (see the module docstring) has neither header nor rule.
    """

    def texts(line: str) -> list[str]:
        return [cell_text(_BREAK.sub(" / ", c)) for c in split_row(line)]

    if _has_header(lines):
        header: list[str] | None = texts(lines[0])
        aligns = [_alignment(c) for c in split_row(lines[1])]
        body = lines[2:]
    else:
        header, body = None, lines
        aligns = ["left"] * max(len(split_row(line)) for line in lines)
    columns = len(aligns)
    rows = []
    for line in body:
        cells = texts(line)[:columns]
        rows.append(cells + [""] * (columns - len(cells)))
    widths = [
        max([display_width(header[k]) if header else 0, 3, *(display_width(r[k]) for r in rows)])
        for k in range(columns)
    ]

    def line_of(cells: Sequence[str]) -> str:
        return " | ".join(_pad(c, w, a) for c, w, a in zip(cells, widths, aligns, strict=True))

    body_lines = [line_of(r).rstrip() for r in rows]
    if header is None:
        return body_lines
    rule = "-+-".join("-" * w for w in widths)
    return [line_of(header).rstrip(), rule, *body_lines]
