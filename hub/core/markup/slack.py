"""Markdown → Slack mrkdwn (api.slack.com/reference/surfaces/formatting).

mrkdwn has `*bold*`, `_italic_`, `~strike~`, `` `code` ``, ``` fenced blocks ```, `> quotes` and
`<url|label>` links; no headings, lists or tables. So headings become bold lines, bullets become
"•", horizontal rules a line of "─", and tables aligned rows in a code block (`tables.py`).
Bare URLs become `<url>` links, because the sink sends text `verbatim` (Slack then parses
nothing itself, not even a bare `@here`).

Safety: `&`, `<` and `>` are escaped everywhere, so model output can never form a Slack control
sequence (`<!channel>`, `<!here>`, `<!everyone>`, `<@U…>`, `<!subteam^…>`, `<#C…>`): the only `<`
in the output opens a link this module wrote, to an http(s) or mailto URL. Runs of three or more
backticks outside code are broken up, so the only fences in the output are the ones written here
and every code block closes.

mrkdwn markers only work at word boundaries, so a zero-width space separates a marker from a
letter or digit next to it (`foo**bar**` → `foo\u200b*bar*`), and styles are closed before a line
break and reopened after it. Unclosed inline Markdown (`**bold` still streaming) is not an entity
yet and shows as typed until it closes; an unclosed fence shows as a code block.

Length: Slack limits a section block's text to 3,000 characters and `chat.update` text to 4,000;
`measure` counts UTF-16 units (never fewer than Slack's characters) of the converted text, which
escaping can make longer than the Markdown, and of the plain fallback.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from markdown_it.token import Token

from hub.core.markup.blocks import Block, parse_blocks
from hub.core.markup.inline import Indent, parse_inline
from hub.core.markup.tables import render_table, table_spans

MAX_LEN = 3000  # a section block's text: the streaming message carries its text in one
ZWSP = "\u200b"
_LINK_SCHEMES = ("http://", "https://", "mailto:")
_BULLET = re.compile(r"^([ \t]*)[-*+]([ \t]+)")
_TASK = re.compile(r"^([ \t]*•[ \t]+)\[([ xX])\]([ \t])")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_TICKS = re.compile(r"`{3,}")
_BARE_URL = re.compile(r"https?://[^\s<>\"'`|]+")
_URL_UNSAFE = {" ": "%20", "|": "%7C", "<": "%3C", ">": "%3E", "\n": "", "\r": "", "\t": "%09"}
_MARKERS = {"strong": "*", "em": "_", "s": "~"}
RULE_LINE = "─" * 10


def len16(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """Slack's three control characters as entities (what Slack itself stores)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _break_ticks(text: str) -> str:
    """Runs of 3+ backticks can't open or close a code block once split by zero-width spaces."""
    return _TICKS.sub(lambda m: ZWSP.join(m.group(0)), text)


def _url(href: str) -> str:
    for char, code in _URL_UNSAFE.items():
        href = href.replace(char, code)
    return escape(href)


@dataclass
class _Inline:
    """Renders one paragraph's inline tokens as mrkdwn."""

    indent: Indent
    bold: bool = True  # False in headings, which are bold already
    out: list[str] = field(default_factory=list)
    styles: list[str | None] = field(default_factory=list)  # open markers; None: not written
    reopen: list[str] = field(default_factory=list)  # markers to reopen after a line break
    label: list[str] | None = None  # collecting a link's label
    links: list[str | None] = field(default_factory=list)  # open links' URLs (None: not a link)
    after_close: bool = False  # a closing marker was just written

    def render(self, tokens: list[Token]) -> str:
        for token in tokens:
            self.token(token)
        self.line_break(final=True)
        return self.indent.restore("".join(self.out))

    # --- output ---------------------------------------------------------------------------------

    def last_char(self) -> str:
        for piece in reversed(self.out):
            if piece:
                return piece[-1]
        return ""

    def emit(self, piece: str) -> None:
        """Write text (already mrkdwn-safe), reopening styles after a break when it starts."""
        if not piece:
            return
        if self.label is not None:
            self.label.append(piece.replace("\n", " "))
            return
        if self.reopen:
            lead = len(piece) - len(piece.lstrip(f" \t{self.indent.space}{self.indent.tab}"))
            if lead == len(piece):
                self.out.append(piece)
                return
            self.out.append(piece[:lead])
            piece = piece[lead:]
            self.flush_reopen()
        if self.after_close and piece[0].isalnum():
            self.out.append(ZWSP)
        self.after_close = False
        self.out.append(piece)

    def flush_reopen(self) -> None:
        markers, self.reopen = self.reopen, []
        for marker in markers:
            self.marker(marker)

    def marker(self, marker: str) -> None:
        if self.last_char().isalnum():
            self.out.append(ZWSP)
        self.after_close = False
        self.out.append(marker)

    # --- tokens ---------------------------------------------------------------------------------

    def token(self, t: Token) -> None:
        kind, _, edge = t.type.rpartition("_")
        if kind in _MARKERS and edge in ("open", "close"):
            (self.open_style if edge == "open" else self.close_style)(_MARKERS[kind])
        elif t.type in ("softbreak", "hardbreak"):
            self.line_break()
        elif t.type == "code_inline":
            self.code(t.content)
        elif t.type == "link_open":
            self.link_open(str(t.attrs.get("href", "")))
        elif t.type == "link_close":
            self.link_close()
        elif t.type == "image":
            self.link_open(str(t.attrs.get("src", "")))
            self.emit(_break_ticks(escape(t.content)))
            self.link_close()
        else:
            self.text(t.content)

    def text(self, content: str) -> None:
        """Plain text; bare URLs become links (messages are sent `verbatim`, unparsed)."""
        if self.label is not None:
            self.emit(_break_ticks(escape(content)))
            return
        pos = 0
        for match in _BARE_URL.finditer(content):
            url = match.group(0).rstrip(".,;:!?")
            if url.endswith(")") and "(" not in url:
                url = url[:-1]
            self.emit(_break_ticks(escape(content[pos : match.start()])))
            self.emit(f"<{_url(url)}>")
            pos = match.start() + len(url)
        self.emit(_break_ticks(escape(content[pos:])))

    def open_style(self, marker: str) -> None:
        if self.label is not None or (marker == "*" and not self.bold) or marker in self.styles:
            self.styles.append(None)
            return
        self.styles.append(marker)
        if self.reopen:
            self.reopen.append(marker)
        else:
            self.marker(marker)

    def close_style(self, marker: str) -> None:
        opened = self.styles.pop() if self.styles else None
        if opened is None:
            return
        if opened in self.reopen:
            self.reopen.remove(opened)  # nothing written since the break: nothing to close
            return
        if self.out and self.out[-1] == opened:
            self.out.pop()  # an empty style: write nothing rather than a stray marker
            if self.out and self.out[-1] == ZWSP:
                self.out.pop()
            return
        self.out.append(opened)
        self.after_close = True

    def line_break(self, *, final: bool = False) -> None:
        """Close the open styles (mrkdwn styles end at a line), reopen them on the next line."""
        if self.label is not None:
            self.emit(" ")
            return
        open_now = [m for m in self.styles if m is not None and m not in self.reopen]
        pending = list(self.reopen)
        self.reopen = []
        for marker in reversed(open_now):
            if self.out and self.out[-1] == marker:
                self.out.pop()
            else:
                self.out.append(marker)
        if final:
            return
        self.out.append("\n")
        self.after_close = False
        self.reopen = open_now + pending

    def code(self, content: str) -> None:
        if self.label is not None or "`" in content or not content.strip():
            # mrkdwn code spans cannot hold a backtick: show the text itself.
            self.emit(_break_ticks(escape(content)))
            return
        self.flush_reopen()
        if self.last_char().isalnum():
            self.out.append(ZWSP)
        self.out.append(f"`{escape(content)}`")
        self.after_close = True

    def link_open(self, href: str) -> None:
        ok = self.label is None and href.startswith(_LINK_SCHEMES)
        self.links.append(href if ok else None)
        if ok:
            self.label = []

    def link_close(self) -> None:
        href = self.links.pop() if self.links else None
        if href is None or self.label is None:
            return
        label = "".join(self.label).strip()
        self.label = None
        shown = href.removeprefix("mailto:")
        text = f"<{_url(href)}>" if label in ("", escape(href), escape(shown)) else None
        self.emit(text or f"<{_url(href)}|{label}>")


def _inline(text: str, *, bold: bool = True) -> str:
    tokens, indent = parse_inline(text)
    return _Inline(indent, bold=bold).render(tokens)


def _cell_text(markdown: str) -> str:
    """A table cell's visible text: inline markup removed."""
    tokens, indent = parse_inline(markdown)
    parts = [t.content for t in tokens if t.type in ("text", "code_inline", "image")]
    return indent.restore("".join(parts))


def _code_block(lines: list[str] | tuple[str, ...]) -> str:
    body = _break_ticks(escape("\n".join(lines)))
    return f"```\n{body}\n```"


def _list_line(line: str) -> str:
    line = _BULLET.sub(lambda m: f"{m.group(1)}•{m.group(2)}", line, count=1)
    return _TASK.sub(lambda m: f"{m.group(1)}{'☐' if m.group(2) == ' ' else '☑'}{m.group(3)}", line)


def _text_lines(lines: list[str]) -> list[str]:
    """Paragraph lines without tables: rules on their own, the rest rendered inline together."""
    out: list[str] = []
    run: list[str] = []
    for line in [*lines, None]:
        if line is not None and not _RULE.match(line):
            run.append(_list_line(line))
            continue
        if run:
            out.append(_inline("\n".join(run)))
            run = []
        if line is not None:
            out.append(RULE_LINE)
    return out


def _paragraph(lines: tuple[str, ...]) -> str:
    out: list[str] = []
    start = 0
    for a, b in table_spans(lines):
        out += _text_lines(list(lines[start:a]))
        out.append(_code_block(render_table(lines[a:b], _cell_text)))
        start = b
    out += _text_lines(list(lines[start:]))
    return "\n".join(out)


def _block(block: Block) -> str:
    if block.kind == "blank":
        return ""
    if block.kind == "heading":
        inner = _inline(block.lines[0], bold=False).strip()
        return f"*{inner}*" if inner else inner
    if block.kind == "quote":
        inner = _inline("\n".join(block.lines))
        return "\n".join(f"> {line}" if line.strip() else ">" for line in inner.split("\n"))
    if block.kind == "code":
        if not "\n".join(block.lines).strip():
            return ""
        return _code_block(block.lines)
    return _paragraph(block.lines)


@functools.lru_cache(maxsize=512)
def to_mrkdwn(markdown: str, *, partial: bool = False) -> str:
    """Slack mrkdwn for `markdown`; `partial` marks a reply still streaming.

    Partial and complete text render alike: unclosed inline Markdown is left as typed and an
    unclosed fence shows as a code block either way; the flag matches the other converters.
    """
    del partial
    return "\n".join(_block(b) for b in parse_blocks(markdown)).strip()


def to_plain(markdown: str) -> str:
    """The plain-text fallback (a `plain_text` object, which Slack shows as is): the Markdown."""
    return markdown.strip()


def measure(markdown: str) -> int:
    """The length Slack counts for `markdown`: as mrkdwn or as the plain fallback, the longer."""
    return max(len16(to_mrkdwn(markdown)), len16(to_plain(markdown)))
