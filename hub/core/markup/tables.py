"""Markdown pipe tables as aligned monospace rows, for platforms that cannot draw tables.

A table is a header row, a delimiter row (`| --- | :-: |`) and any following rows that contain a
`|`. Cells keep their text without inline markup; columns are padded to a common width and
aligned as the delimiter row asks. A converter puts the rows in a code block, so they line up.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

_DELIMITER_CELL = re.compile(r"^\s*:?-{1,}:?\s*$")
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


def table_spans(lines: Sequence[str]) -> list[tuple[int, int]]:
    """[start, end) line ranges of the tables in `lines` (a paragraph's lines)."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i + 1 < len(lines):
        header, delimiter = lines[i], lines[i + 1]
        if "|" in header and is_delimiter_row(delimiter):
            width = len(split_row(header))
            if width == len(split_row(delimiter)):
                j = i + 2
                while j < len(lines) and "|" in lines[j] and lines[j].strip():
                    j += 1
                spans.append((i, j))
                i = j
                continue
        i += 1
    return spans


def display_width(text: str) -> int:
    """Columns a monospace font gives `text` (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


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
    """
    header = [cell_text(c) for c in split_row(lines[0])]
    aligns = [_alignment(c) for c in split_row(lines[1])]
    columns = len(header)
    rows = []
    for line in lines[2:]:
        cells = [cell_text(c) for c in split_row(line)][:columns]
        rows.append(cells + [""] * (columns - len(cells)))
    widths = [
        max([display_width(header[k]), 3, *(display_width(r[k]) for r in rows)])
        for k in range(columns)
    ]

    def line_of(cells: Sequence[str]) -> str:
        return " | ".join(_pad(c, w, a) for c, w, a in zip(cells, widths, aligns, strict=True))

    rule = "-+-".join("-" * w for w in widths)
    return [line_of(header).rstrip(), rule] + [line_of(r).rstrip() for r in rows]
