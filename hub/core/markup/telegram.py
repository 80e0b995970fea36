"""Markdown → Telegram HTML (parse_mode HTML).

Telegram's HTML is a fixed tag set with three escapes (`<`, `>`, `&`) and nesting rules
(core.telegram.org/bots/api#formatting-options): b/i/s may nest anywhere except inside code and
pre; blockquotes do not nest; links, code, pre and blockquote cannot contain each other. So
inside a quote only b/i/s are emitted, inside a link code spans become plain text.

Headings become bold lines; lists, tables and indentation stay text. Unclosed inline Markdown
(`**bold` still streaming) is not an entity yet and shows as typed until it closes; an unclosed
fence at the end of a partial reply shows as a code block. The length Telegram limits (4096) is
counted in UTF-16 units of the text after entity parsing, which `visible()` returns.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from markdown_it.token import Token

from hub.core.markup.blocks import Block, parse_blocks
from hub.core.markup.inline import parse_inline

MAX_LEN = 4096
_LANG = re.compile(r"^[A-Za-z0-9_+#.\-]{1,64}$")
_TAG = re.compile(r"<[^>]*>")
_LINK_SCHEMES = ("http://", "https://", "tg://")


def len16(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts in."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(text: str) -> str:
    return escape(text).replace('"', "&quot;")


@dataclass
class _Inline:
    """Renders one paragraph's inline tokens; `quote` limits the tags to b/i/s."""

    quote: bool = False
    links: list[bool] = field(default_factory=list)
    out: list[str] = field(default_factory=list)

    def render(self, tokens: list[Token]) -> str:
        for token in tokens:
            self.token(token)
        return "".join(self.out)

    def token(self, t: Token) -> None:
        simple = {
            "strong_open": "<b>",
            "strong_close": "</b>",
            "em_open": "<i>",
            "em_close": "</i>",
            "s_open": "<s>",
            "s_close": "</s>",
            "softbreak": "\n",
            "hardbreak": "\n",
        }
        if t.type in simple:
            self.out.append(simple[t.type])
        elif t.type == "code_inline":
            plain = self.quote or any(self.links)
            self.out.append(escape(t.content) if plain else f"<code>{escape(t.content)}</code>")
        elif t.type == "link_open":
            self.link_open(str(t.attrs.get("href", "")))
        elif t.type == "link_close":
            if self.links.pop():
                self.out.append("</a>")
        elif t.type == "image":
            self.link_open(str(t.attrs.get("src", "")))
            self.out.append(escape(t.content))
            if self.links.pop():
                self.out.append("</a>")
        else:
            self.out.append(escape(t.content))

    def link_open(self, href: str) -> None:
        ok = not self.quote and not any(self.links) and href.startswith(_LINK_SCHEMES)
        self.links.append(ok)
        if ok:
            self.out.append(f'<a href="{_attr(href)}">')


def _inline(text: str, *, quote: bool = False) -> str:
    tokens, indent = parse_inline(text)
    return indent.restore(_Inline(quote=quote).render(tokens))


def _block(block: Block) -> str:
    if block.kind == "blank":
        return ""
    if block.kind == "heading":
        inner = _inline(block.lines[0])
        return f"<b>{inner}</b>" if inner.strip() else inner
    if block.kind == "quote":
        inner = _inline("\n".join(block.lines), quote=True)
        return f"<blockquote>{inner}</blockquote>" if inner.strip() else inner
    if block.kind == "code":
        body = escape("\n".join(block.lines))
        if not body.strip():
            return body
        lang = block.fence.language if block.fence else ""
        if _LANG.match(lang):
            return f'<pre><code class="language-{_attr(lang)}">{body}</code></pre>'
        return f"<pre>{body}</pre>"
    return _inline("\n".join(block.lines))


def to_html(markdown: str, *, partial: bool = False) -> str:
    """Telegram HTML for `markdown`; `partial` marks a reply still streaming.

    Partial and complete text render alike: unclosed inline Markdown is left as typed and an
    unclosed fence shows as code either way; the flag is accepted for sinks of other platforms.
    """
    del partial
    return "\n".join(_block(b) for b in parse_blocks(markdown)).strip()


def visible(html_text: str) -> str:
    """The text Telegram shows for `html_text` (ours: tags removed, entities decoded)."""
    return html.unescape(_TAG.sub("", html_text)).strip()


def measure(markdown: str) -> int:
    """The length Telegram counts for `markdown`, as HTML or as the plain-text fallback.

    Conversion only removes characters (markup, fence lines, link targets) and never adds
    visible ones, so the plain text is the longer of the two and no conversion is needed.
    `tests/unit/test_split_props.py` checks that on random Markdown.
    """
    return len16(markdown.strip())


def to_plain(markdown: str) -> str:
    """The plain-text fallback when Telegram rejects the markup: the Markdown as typed."""
    return markdown.strip()
