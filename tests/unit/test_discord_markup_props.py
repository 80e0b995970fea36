"""Property tests of Discord conversion and splitting on random Markdown.

For parts P of text T split with Discord's measure:
  * "".join(p.source for p in P) == T, and fences reopen with their language (split.py);
  * every converted part is at most 2,000 code points, has balanced ``` fences and no other
    fence kind, no run of three backticks inside a code block, and no `@everyone`/`@here`
    outside code;
  * parts carved while streaming equal those of the final split.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.core.markup import discord as dc
from hub.core.markup.split import carve, split_markdown
from tests.unit.test_split_props import ALPHABET, LANG, WORD, fence, inline

MENTION = st.sampled_from(["@everyone", "@here", "<@123>", "@someone"])
CELL = st.text(st.sampled_from("ab名*_`|@ "), min_size=0, max_size=8)


@st.composite
def table(draw: st.DrawFn) -> str:
    columns = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(CELL, min_size=columns, max_size=columns), max_size=5))
    header = "| " + " | ".join(draw(st.lists(WORD, min_size=columns, max_size=columns))) + " |"
    aligns = st.sampled_from(["---", ":--", "--:", ":-:"])
    delim = "|" + "|".join(draw(aligns) for _ in range(columns))
    body = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join([header, delim + "|", *body])


@st.composite
def paragraph(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        prefix = draw(st.sampled_from(["", "- ", "* ", "1. ", "#### ", "## ", "> ", "-# "]))
        pieces = draw(st.lists(st.one_of(inline(), MENTION), min_size=1, max_size=10))
        lines.append(prefix + " ".join(pieces))
    return "\n".join(lines)


@st.composite
def markdown(draw: st.DrawFn) -> str:
    kinds = st.one_of(paragraph(), fence(), table(), st.just("---"), st.text(ALPHABET))
    blocks = draw(st.lists(kinds, max_size=8))
    seps = draw(st.lists(st.sampled_from(["\n", "\n\n"]), min_size=len(blocks)))
    return "".join(b + s for b, s in zip(blocks, seps, strict=False))


_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def check_discord_text(text: str) -> None:
    """Balanced ``` fences only, nothing that could close a block early, no mass mention."""
    inside = False
    prose: list[str] = []
    for line in text.split("\n"):
        m = _FENCE_LINE.match(line)
        if m is not None and not (inside and "```" not in line):
            assert m.group(1) == "```", line
            assert not inside or m.group(2) == "", line
            inside = not inside
            continue
        if inside:
            assert "```" not in line, line
        else:
            prose.append(line)
    assert not inside, text
    outside = re.sub(r"(`+)(.+?)\1", "", "\n".join(prose))
    outside = re.sub(r"https?://\S+", "", outside)  # links stay as typed
    assert not re.search(r"@(everyone|here)", outside), text


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=markdown(), max_len=st.integers(120, 700))
# Found by this property: a split before a code span quoting `` made its part start with ```,
# which Discord reads as a code block.
@example(
    text="@everyone @everyone\n```\n```\n| 0 | 0 | 0 | 0 |\n|---|---|---|---|\n|  |  | ` | `` |\n"
    "|  |  |  | @@@@@@@` |\n---\n| 0 | 0 | 0 |\n|---|---|---|\n|  |  | `` |\n",
    max_len=120,
)
def test_split_parts_are_valid_discord_messages(text: str, max_len: int) -> None:
    parts = split_markdown(text, max_len, dc.measure)
    assert "".join(p.source for p in parts) == text
    for part in parts:
        converted = dc.to_discord(part.text)
        assert dc.length(converted) <= max_len
        assert dc.length(dc.to_plain(part.text)) <= max_len
        check_discord_text(converted)
        if part.source.strip():
            assert converted.strip()


@SETTINGS
@given(text=markdown())
def test_partial_conversion_of_any_prefix_is_valid(text: str) -> None:
    for cut in range(0, len(text) + 1, max(1, len(text) // 7)):
        check_discord_text(dc.to_discord(text[:cut], partial=True))


@SETTINGS
@given(text=markdown(), max_len=st.integers(120, 500), cut=st.integers(0, 10_000))
def test_streaming_carves_match_the_final_split(text: str, max_len: int, cut: int) -> None:
    prefix = text[: cut % (len(text) + 1)]
    committed = []
    start, state = 0, None
    while len(prefix) - start > max_len:
        part = carve(prefix, start, state, max_len, dc.measure)
        committed.append(part)
        start, state = part.end, part.fence_after
    full = split_markdown(text, max_len, dc.measure)
    assert [p.text for p in full[: len(committed)]] == [p.text for p in committed]


@SETTINGS
@given(lang=LANG, lines=st.lists(st.text(ALPHABET, max_size=50), min_size=30, max_size=60))
def test_long_code_blocks_reopen_with_their_language(lang: str, lines: list[str]) -> None:
    text = f"```{lang}\n" + "\n".join(lines) + "\n```"
    parts = dc.split(text, 200)
    expected = lang if re.fullmatch(r"[A-Za-z0-9_+#.\-]{1,32}", lang) else ""
    for part in parts:
        check_discord_text(part)
        if part.startswith("```"):
            assert part.split("\n")[0] == f"```{expected}"
