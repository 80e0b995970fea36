"""Telegram's HTML parse mode as the Bot API enforces it, for the fake server.

Checks what makes Telegram answer 400 "can't parse entities" (unknown or unbalanced tags, bare
`<` or `&`, forbidden nesting per core.telegram.org/bots/api#formatting-options) and returns
the text a user sees, whose UTF-16 length the 4096 limit applies to.
"""

from __future__ import annotations

import re

TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
STYLE = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler"}
_TOKEN = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^>]*)?)\s*>|<|&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);|&"
)
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class ParseError(ValueError):
    """What Telegram would answer: "Can't parse entities: …"."""


def _check_nesting(stack: list[str], tag: str) -> None:
    if tag in STYLE:
        if any(t in ("code", "pre") for t in stack) and not (tag == "code" and stack[-1] == "pre"):
            raise ParseError(f"can't parse entities: {tag} inside code")
        return
    for outer in stack:
        if outer in STYLE:
            continue
        if outer == "pre" and tag == "code" and stack[-1] == "pre":
            continue
        raise ParseError(f"can't parse entities: {tag} can't be inside {outer}")


def parse(text: str) -> str:
    """The visible text of `text` in HTML parse mode; raises ParseError like Telegram."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        whole = m.group(0)
        if whole == "<":
            raise ParseError(f"can't parse entities: unexpected '<' at byte offset {m.start()}")
        if whole == "&":
            raise ParseError(f"can't parse entities: bare '&' at byte offset {m.start()}")
        if whole.startswith("&"):
            ent = m.group(4)
            if ent.startswith("#x"):
                out.append(chr(int(ent[2:], 16)))
            elif ent.startswith("#"):
                out.append(chr(int(ent[1:])))
            elif ent in _NAMED:
                out.append(_NAMED[ent])
            else:
                raise ParseError(f"can't parse entities: unsupported HTML entity &{ent};")
            continue
        closing, tag = m.group(1) == "/", m.group(2).lower()
        if tag not in TAGS:
            raise ParseError(f'can\'t parse entities: unsupported start tag "{tag}"')
        if closing:
            if not stack or stack[-1] != tag:
                raise ParseError(f'can\'t parse entities: unmatched end tag "{tag}"')
            stack.pop()
        else:
            if tag == "a" and "href=" not in m.group(3):
                raise ParseError("can't parse entities: a tag without href")
            _check_nesting(stack, tag)
            stack.append(tag)
    out.append(text[pos:])
    if stack:
        raise ParseError(
            f"can't parse entities: can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(out).strip()


def len16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible(text: str, parse_mode: str | None) -> str:
    """What the user sees for `text` sent with `parse_mode` (None/plain: as is)."""
    if parse_mode is None or parse_mode == "":
        return text.strip()
    if parse_mode.upper() != "HTML":
        raise ParseError(f"parse mode {parse_mode} is not supported by the fake")
    return parse(text)


__all__ = ["ParseError", "len16", "parse", "visible"]
