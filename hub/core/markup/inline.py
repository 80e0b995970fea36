"""Inline Markdown parsing (markdown-it-py) with the line indentation kept.

markdown-it drops the leading spaces of continuation lines; LLM lists and tables rely on them,
so they are swapped for private-use characters before parsing and restored by the converter.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

_LEAD = re.compile(r"^[ \t]+", re.MULTILINE)


@functools.cache
def parser() -> MarkdownIt:
    """The shared inline parser: CommonMark emphasis, code spans, links, ~~strike~~; no HTML."""
    md = MarkdownIt("commonmark", {"html": False})
    md.enable("strikethrough")
    # Entities stay literal text: what the model typed is what the user sees.
    md.disable(["entity", "html_inline"])
    return md


@dataclass(frozen=True, slots=True)
class Indent:
    """The two placeholder characters that stand for leading spaces and tabs while parsing."""

    space: str
    tab: str

    def restore(self, text: str) -> str:
        return text.replace(self.space, " ").replace(self.tab, "\t")


def _placeholders(text: str) -> Indent:
    free = (chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)
    return Indent(next(free), next(free))


def parse_inline(text: str) -> tuple[list[Token], Indent]:
    """The inline tokens of `text` (one paragraph) and the placeholders to restore."""
    indent = _placeholders(text)

    def swap(m: re.Match[str]) -> str:
        return m.group(0).replace(" ", indent.space).replace("\t", indent.tab)

    tokens = parser().parseInline(_LEAD.sub(swap, text))
    children = tokens[0].children if tokens and tokens[0].children else []
    return list(children), indent
