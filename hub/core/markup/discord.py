"""Markdown → Discord Markdown.

Discord renders a dialect close to CommonMark, so a reply keeps its shape: emphasis, code spans
and blocks, masked links, lists, block quotes and `#`–`###` headings. The Markdown is parsed
with the same tools as for Telegram (blocks, markdown-it inline) and written back in Discord's
dialect, so Discord shows what CommonMark means:
- `__strong__` is written `**strong**` (Discord shows `__x__` underlined);
- `####`–`######` headings, which Discord shows as typed, become bold lines;
- `~~~` and longer fences become ``` fences (the only ones Discord knows) with the language
  kept, and a run of backticks inside code is broken with a zero-width space so it cannot close
  the block early; an unclosed fence (a reply still streaming) is closed;
- pipe tables, which Discord shows as raw pipes, become aligned columns in a code block;
- thematic breaks (`---`) become a line; images become links;
- characters CommonMark left literal (`*`, `_`, `~`, `|`, `` ` ``, `\\`) are backslash-escaped
  so Discord cannot read them as markup (`**bold` still streaming shows as typed until it
  closes: only closed entities render), except in bare URLs and list bullets.

Mentions. Messages go out with `allowed_mentions` none, which stops every ping. In addition
`@everyone` and `@here` in model text are broken with a zero-width space (`@\\u200beveryone`,
as discord.py's `escape_mentions` does): the platform guard is one field away from being lost
(a forgotten argument, a future code path, text a user copies into their own message), and
Discord still styles the bare words like a ping. User and role mentions (`<@id>`) are kept:
with pings off they render as names, which is what a model quoting a user means.

Length. Discord counts `content` in Unicode code points (its API is Python: `len()`; Discord
staff in discord/discord-api-docs#1315), 2,000 at most. Escapes, tables and zero-width spaces
make the converted text longer than the source, so `measure` converts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from markdown_it.token import Token

from hub.core.markup.blocks import Block, parse_blocks
from hub.core.markup.inline import Indent, parse_inline
from hub.core.markup.split import split_markdown
from hub.core.markup.tables import render_table, table_spans

MAX_LEN = 2000
ZWSP = "\u200b"
RULE = "─" * 12
_LANG = re.compile(r"^[A-Za-z0-9_+#.\-]{1,32}$")
_ESCAPE = re.compile(r"([\\*_`|~])")
_URL = re.compile(r"https?://[^\s<>]+[^\s<>.,:;\"')\]]")
_MASS_MENTION = re.compile(r"@(everyone|here)\b")
_FENCE_RUN = re.compile(r"`(?=``)")
_HR = re.compile(r"^ {0,3}([-*_])[ \t]*(?:\1[ \t]*){2,}$")
_LINK_SCHEMES = ("http://", "https://")


def length(text: str) -> int:
    """The length Discord counts: Unicode code points."""
    return len(text)


def neutralise_mass_mentions(text: str) -> str:
    """`@everyone`/`@here` with a zero-width space after the `@`, so they never ping."""
    return _MASS_MENTION.sub("@" + ZWSP + r"\1", text)


def _escape_text(text: str, *, at_line_start: bool) -> str:
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):  # bare URLs stay as typed, or the link would break
        out.append(neutralise_mass_mentions(_ESCAPE.sub(r"\\\1", text[pos : m.start()])))
        out.append(m.group(0))
        pos = m.end()
    out.append(neutralise_mass_mentions(_ESCAPE.sub(r"\\\1", text[pos:])))
    escaped = "".join(out)
    if at_line_start:
        # A "* " bullet must stay a bullet; "-# " (subtext in Discord) must stay text.
        escaped = re.sub(r"^([ \t\uE000-\uF8FF]*)\\\*(?=[ \t])", r"\1*", escaped)
        escaped = re.sub(r"^([ \t\uE000-\uF8FF]*)-#(?=[ \t])", r"\1\\-#", escaped)
    return escaped


def _code_span(content: str) -> str:
    # Discord reads three backticks as a code block even inside a line, so a span quoting ``
    # can't be delimited by ```: backtick runs inside are broken with a zero-width space and
    # the delimiter never needs more than two.
    content = re.sub("`(?=`)", "`" + ZWSP, content)
    ticks = "``" if "`" in content else "`"
    pad = " " if content.startswith("`") or content.endswith("`") else ""
    return f"{ticks}{pad}{content}{pad}{ticks}"


@dataclass
class _Inline:
    """Writes one paragraph's inline tokens back as Discord Markdown."""

    indent: Indent
    links: list[str] = field(default_factory=list)  # per open link: its href, "" if not shown
    out: list[str] = field(default_factory=list)
    autolink: str | None = None  # inside <https://…>: its text is the URL, written at the end

    def render(self, tokens: list[Token]) -> str:
        for token in tokens:
            self.token(token)
        return "".join(self.out)

    def _line_start(self) -> bool:
        return not self.out or self.out[-1].endswith("\n")

    def token(self, t: Token) -> None:
        simple = {
            "strong_open": "**",
            "strong_close": "**",
            "em_open": "*",
            "em_close": "*",
            "s_open": "~~",
            "s_close": "~~",
            "softbreak": "\n",
            "hardbreak": "\n",
        }
        if t.type in simple:
            self.out.append(simple[t.type])
        elif t.type == "code_inline":
            self.out.append(_code_span(t.content))
        elif t.type == "link_open":
            self.link_open(str(t.attrs.get("href", "")), autolink=t.markup == "autolink")
        elif t.type == "link_close":
            self.link_close()
        elif t.type == "image":
            self.image(str(t.attrs.get("src", "")), t.content)
        elif self.autolink is not None:
            return
        else:
            text = _escape_text(t.content, at_line_start=self._line_start())
            if any(self.links):
                text = text.replace("[", "\\[").replace("]", "\\]")
            self.out.append(text)

    def link_open(self, href: str, *, autolink: bool) -> None:
        if autolink and href.startswith(_LINK_SCHEMES):
            self.links.append("")
            self.autolink = href
            return
        ok = href.startswith(_LINK_SCHEMES) and not any(self.links)
        self.links.append(href if ok else "")
        if ok:
            self.out.append("[")

    def link_close(self) -> None:
        href = self.links.pop()
        if self.autolink is not None:
            self.out.append(f"<{self.autolink}>")
            self.autolink = None
        elif href:
            self.out.append(f"]({href})")

    def image(self, src: str, alt: str) -> None:
        if not src.startswith(_LINK_SCHEMES) or any(self.links):
            self.out.append(_escape_text(alt, at_line_start=False))
        elif alt.strip():
            self.out.append(f"[{_escape_text(alt, at_line_start=False)}]({src})")
        else:
            self.out.append(src)


def _inline(text: str) -> str:
    tokens, indent = parse_inline(text)
    return indent.restore(_Inline(indent).render(tokens))


def _cell_text(markdown: str) -> str:
    """A table cell's text without markup (it is shown inside a code block)."""
    tokens, indent = parse_inline(markdown)
    parts = [t.content for t in tokens if t.type in ("text", "code_inline", "image")]
    return indent.restore("".join(parts)).strip()


def _code_block(lines: list[str], language: str = "") -> str:
    body = _FENCE_RUN.sub("`" + ZWSP, "\n".join(lines)).rstrip("\n")
    if not body.strip():
        return ""
    lang = language if _LANG.match(language) else ""
    return f"```{lang}\n{body}\n```"


@functools.lru_cache(maxsize=1024)
def _paragraph(text: str) -> str:
    """One paragraph (cached: splitting measures the same paragraphs again and again)."""
    lines = text.split("\n")
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.append(_inline("\n".join(run)))
            run.clear()

    tables = dict(table_spans(lines))
    i = 0
    while i < len(lines):
        end = tables.get(i)
        if end is not None:
            flush()
            out.append(_code_block(render_table(lines[i:end], _cell_text)))
            i = end
            continue
        if _HR.match(lines[i]):
            flush()
            out.append(RULE)
        else:
            run.append(lines[i])
        i += 1
    flush()
    return "\n".join(out)


def _block(block: Block) -> str:
    if block.kind == "blank":
        return ""
    if block.kind == "heading":
        inner = _inline(block.lines[0]).strip()
        if not inner:
            return ""
        return f"{'#' * block.level} {inner}" if block.level <= 3 else f"**{inner}**"
    if block.kind == "quote":
        inner = _inline("\n".join(block.lines))
        return "\n".join(f"> {line}" for line in inner.split("\n"))
    if block.kind == "code":
        return _code_block(list(block.lines), block.fence.language if block.fence else "")
    return _paragraph("\n".join(block.lines))


@functools.lru_cache(maxsize=512)
def _convert(markdown: str) -> str:
    return "\n".join(_block(b) for b in parse_blocks(markdown)).strip()


def to_discord(markdown: str, *, partial: bool = False) -> str:
    """Discord Markdown for `markdown`; `partial` marks a reply still streaming.

    Partial and complete text render alike: unclosed inline Markdown is escaped and shows as
    typed, and an unclosed fence is closed either way. Never empty for non-blank input (an
    empty code block shows its fence as typed: Discord refuses an empty message).
    """
    del partial
    converted = _convert(markdown)
    if not converted and markdown.strip():
        return _escape_text(markdown.strip(), at_line_start=False)
    return converted


def to_plain(markdown: str) -> str:
    """The text as typed (Discord never rejects markup), mass mentions neutralised."""
    return neutralise_mass_mentions(markdown.strip())


def measure(markdown: str) -> int:
    """The length Discord counts for `markdown` once converted, or as plain text."""
    return max(length(to_discord(markdown)), length(to_plain(markdown)))


def split(markdown: str, max_len: int = MAX_LEN) -> list[str]:
    """`markdown` as Discord messages of at most `max_len`, fences closed and reopened."""
    return [to_discord(p.text) for p in split_markdown(markdown, max_len, measure)]
