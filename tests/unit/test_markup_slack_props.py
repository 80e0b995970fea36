"""Property tests of Markdown → mrkdwn on random, hostile Markdown.

For any Markdown the model may write:
  * the output has no live Slack control sequence: every `<` opens a link this converter wrote
    (`<http…|label>`, `<mailto:…>`), every `&` is one of the three escapes;
  * code fences balance, whole or split into parts of at most `max_len` by `slack.measure`;
  * the same holds mid-stream (`partial=True`) for every prefix.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core.markup import slack
from hub.core.markup.split import split_markdown

MENTIONS = st.sampled_from(
    [
        "<!channel>", "<!here>", "<!everyone>", "<!here|@here>", "<@U0123ABC>",
        "<@W1|ada>", "<!subteam^S0123|@devs>", "<#C0123|general>", "<!date^1^{date}|x>",
        "&lt;!channel&gt;", "&amp;", "@channel", "<https://ok.example|x>", "<", ">", "&",
    ]
)  # fmt: skip
ALPHABET = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc"),
    include_characters="<>&*_`~[]()#|!@^\\ \t-",
)
WORD = st.one_of(st.text(ALPHABET, min_size=1, max_size=10), MENTIONS)


@st.composite
def inline(draw: st.DrawFn) -> str:
    word = draw(WORD)
    kind = draw(st.sampled_from(["plain", "bold", "em", "code", "link", "strike", "image"]))
    return {
        "plain": word,
        "bold": f"**{word} {draw(WORD)}**",
        "em": f"_{word}_",
        "code": f"`{word}`",
        "link": f"[{word}]({draw(st.sampled_from(['https://x.io/', 'mailto:', '']))}{word})",
        "strike": f"~~{word}~~",
        "image": f"![{word}](https://x.io/{word})",
    }[kind]


@st.composite
def line(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["", "- ", "* ", "1. ", "  - ", "# ", "> ", "| ", "- [ ] "]))
    pieces = draw(st.lists(inline(), min_size=1, max_size=8))
    sep = draw(st.sampled_from([" ", " | ", ""]))
    return prefix + sep.join(pieces)


@st.composite
def block(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["para", "fence", "table", "rule", "raw"]))
    if kind == "para":
        return "\n".join(draw(st.lists(line(), min_size=1, max_size=4)))
    if kind == "fence":
        marker = draw(st.sampled_from(["```", "~~~", "````"]))
        body = draw(st.lists(st.one_of(st.text(ALPHABET, max_size=40), MENTIONS), max_size=8))
        closed = draw(st.booleans())
        lang = draw(st.sampled_from(["", "python", "js"]))
        return f"{marker}{lang}\n" + "".join(f"{b}\n" for b in body) + (marker if closed else "")
    if kind == "table":
        cols = draw(st.integers(1, 3))
        rows = draw(st.lists(st.lists(WORD, min_size=cols, max_size=cols), max_size=4))
        head = "| " + " | ".join(f"h{i}" for i in range(cols)) + " |"
        rule = "|" + "|".join(["---"] * cols) + "|"
        return "\n".join([head, rule, *("| " + " | ".join(r) + " |" for r in rows)])
    if kind == "rule":
        return draw(st.sampled_from(["---", "***", "___", "- - -"]))
    return draw(st.text(ALPHABET, max_size=60))


@st.composite
def markdown(draw: st.DrawFn) -> str:
    blocks = draw(st.lists(block(), max_size=6))
    seps = draw(st.lists(st.sampled_from(["\n", "\n\n"]), min_size=len(blocks)))
    return "".join(b + s for b, s in zip(blocks, seps, strict=False))


_LINK = re.compile(r"<(?:https?://|mailto:)[^<>|\s]*(?:\|[^<>]*)?>")
_QUOTE = re.compile(r"^>(?: |$)", re.MULTILINE)  # block quote markers the converter wrote
_AMP = re.compile(r"&(?!amp;|lt;|gt;)")


def assert_safe(out: str) -> None:
    without_links = _LINK.sub("", out)
    assert "<" not in without_links, out
    assert ">" not in _QUOTE.sub("", without_links), out
    assert _AMP.search(out) is None, out
    for special in ("<!", "<@", "<#"):
        assert special not in out


def assert_fences_balance(out: str) -> None:
    assert out.count("```") % 2 == 0, out


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=markdown())
def test_output_is_safe_and_fenced(text: str) -> None:
    out = slack.to_mrkdwn(text)
    assert_safe(out)
    assert_fences_balance(out)


@SETTINGS
@given(text=markdown(), cut=st.integers(0, 10_000))
def test_every_streaming_prefix_is_safe(text: str, cut: int) -> None:
    out = slack.to_mrkdwn(text[: cut % (len(text) + 1)], partial=True)
    assert_safe(out)
    assert_fences_balance(out)


@SETTINGS
@given(text=markdown(), max_len=st.integers(80, 500))
def test_split_parts_fit_and_balance(text: str, max_len: int) -> None:
    parts = split_markdown(text, max_len, slack.measure)
    assert "".join(p.source for p in parts) == text
    for part in parts:
        out = slack.to_mrkdwn(part.text)
        assert slack.measure(part.text) <= max_len
        assert slack.len16(out) <= max_len
        assert_safe(out)
        assert_fences_balance(out)


@SETTINGS
@given(text=markdown())
def test_plain_fallback_is_the_markdown(text: str) -> None:
    assert slack.to_plain(text) == text.strip()
    assert slack.measure(text) >= slack.len16(slack.to_plain(text))
