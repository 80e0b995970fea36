"""Property tests of split_markdown on random Markdown.

The invariant, exactly: for parts P of text T,
  * "".join(p.source for p in P) == T  (no text lost, duplicated or reordered);
  * p.text == p.reopen + p.source + p.close, where `close` is empty or one fence line that closes
    the code block still open at the end of the part, and `reopen` is empty or the fence line
    (same marker, same language) of the block the previous part closed;
  * every p.text has balanced fences, converts to valid Telegram HTML, and measures <= max_len.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core.markup import telegram as tg
from hub.core.markup.fences import fence_state_after
from hub.core.markup.split import carve, split_markdown, whole
from tests.fakes.telegram_html import parse

ALPHABET = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc"),
    include_characters="<>&*_`~[]()#\\ \t",
)
WORD = st.text(ALPHABET, min_size=1, max_size=12).filter(lambda w: not w.isspace())
LONG_WORD = st.text(st.sampled_from("abcxyz<&é😀"), min_size=100, max_size=400)
LANG = st.sampled_from(["", "python", "c++", "js", "sh", "x" * 30])


@st.composite
def inline(draw: st.DrawFn) -> str:
    word = draw(WORD)
    kind = draw(st.sampled_from(["plain", "bold", "em", "code", "link", "strike", "long"]))
    return {
        "plain": word,
        "bold": f"**{word} {draw(WORD)}**",
        "em": f"*{word}*",
        "code": f"`{word.replace('`', '')}`",
        "link": f"[{word}](https://example.com/{draw(WORD)})",
        "strike": f"~~{word}~~",
        "long": draw(LONG_WORD),
    }[kind]


@st.composite
def paragraph(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        prefix = draw(st.sampled_from(["", "- ", "1. ", "  - ", "# ", "> "]))
        pieces = draw(st.lists(inline(), min_size=1, max_size=12))
        end = draw(st.sampled_from(["", ".", "!", "?"]))
        lines.append(prefix + " ".join(pieces) + end)
    return "\n".join(lines)


@st.composite
def fence(draw: st.DrawFn) -> str:
    marker = draw(st.sampled_from(["```", "~~~", "````"]))
    lang = draw(LANG)
    body = draw(st.lists(st.text(ALPHABET, max_size=60), max_size=12))
    closed = draw(st.booleans()) or draw(st.booleans())
    return f"{marker}{lang}\n" + "".join(f"{line}\n" for line in body) + (marker if closed else "")


@st.composite
def markdown(draw: st.DrawFn) -> str:
    blocks = draw(st.lists(st.one_of(paragraph(), fence(), st.text(ALPHABET)), max_size=8))
    seps = draw(st.lists(st.sampled_from(["\n", "\n\n", "\n\n\n"]), min_size=len(blocks)))
    return "".join(b + s for b, s in zip(blocks, seps, strict=False))


def html_length(markdown: str) -> int:
    """A stricter measure: the HTML string itself (escaping makes it grow past the source)."""
    return max(tg.len16(tg.to_html(markdown)), tg.len16(markdown))


def check(text: str, max_len: int, measure: object) -> None:
    assert callable(measure)
    parts = split_markdown(text, max_len, measure)
    assert "".join(p.source for p in parts) == text
    for i, part in enumerate(parts):
        assert part.text == part.reopen + part.source + part.close
        assert fence_state_after(part.text) is None, part.text
        assert measure(part.text) <= max_len
        parse(tg.to_html(part.text))
        if i == 0:
            assert part.reopen == ""
        else:
            previous = parts[i - 1].fence_after
            expected = "" if previous is None else f"{previous.open_line}\n"
            assert part.reopen == expected
        if part.close:
            assert part.close.strip() == (part.fence_after.marker if part.fence_after else "")


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=markdown(), max_len=st.integers(80, 600))
def test_split_invariants_telegram_measure(text: str, max_len: int) -> None:
    check(text, max_len, tg.measure)


@SETTINGS
@given(text=markdown(), max_len=st.integers(80, 600))
def test_split_invariants_with_escaping_growth(text: str, max_len: int) -> None:
    check(text, max_len, html_length)


@SETTINGS
@given(text=markdown(), max_len=st.integers(80, 400), cut=st.integers(0, 10_000))
def test_streaming_carves_match_the_final_split(text: str, max_len: int, cut: int) -> None:
    """Parts committed from a prefix (tail longer than max_len) equal those of the full text."""
    prefix = text[: cut % (len(text) + 1)]
    committed = []
    start, state = 0, None
    while len(prefix) - start > max_len:
        part = carve(prefix, start, state, max_len, tg.measure)
        committed.append(part)
        start, state = part.end, part.fence_after
    full = split_markdown(text, max_len, tg.measure)
    assert [p.text for p in full[: len(committed)]] == [p.text for p in committed]


def test_fence_is_closed_and_reopened_with_its_language() -> None:
    code = "".join(f"line {i} = {i}\n" for i in range(40))
    text = "Intro.\n\n```python\n" + code + "```\nOutro."
    parts = split_markdown(text, 200, tg.measure)
    assert len(parts) > 2
    assert parts[0].text.endswith("```") or parts[0].source == "Intro.\n\n"
    for part in parts[1:-1]:
        assert part.reopen == "```python\n"
        assert part.close == "```"
    for part in parts:
        html = tg.to_html(part.text)
        if "line" in html:
            assert '<pre><code class="language-python">' in html


def test_paragraph_then_line_then_sentence_then_word() -> None:
    """The best boundary in the second half of what fits wins (no tiny parts)."""
    para = "First paragraph with quite a few words in it.\n\n"
    assert split_markdown(para + "x " * 60, 80, len)[0].source == para
    lines = "line one is here\nline two is here\nthree\n"
    assert split_markdown(lines + "y" * 70, 80, len)[0].source == lines
    sentences = "One sentence here. Two sentences here. Three! "
    assert split_markdown(sentences + "z" * 70, 80, len)[0].source == sentences
    long = "alpha beta gamma delta epsilon zeta eta " + "q" * 100
    assert split_markdown(long, 80, len)[0].source == "alpha beta gamma delta epsilon zeta eta "
    hard = "h" * 200
    assert [p.source for p in split_markdown(hard, 80, len)] == ["h" * 80, "h" * 80, "h" * 40]


def test_never_splits_inside_bold_or_code_when_a_boundary_exists() -> None:
    text = "Start here. " + "**" + "bold words " * 8 + "end** " + "`code span with spaces` " * 3
    for max_len in range(64, 140, 3):
        first = split_markdown(text, max_len, len)[0].source
        assert first.count("**") % 2 == 0, (max_len, first)  # the closer may be past the window
    for max_len in range(100, 170, 7):
        parts = split_markdown(text, max_len, len)
        for part in parts:
            src = part.source
            assert src.count("**") % 2 == 0, (max_len, src)
            assert src.count("`") % 2 == 0, (max_len, src)


def test_whole_returns_none_when_too_long() -> None:
    assert whole("abc", 0, None, 80, len) is not None
    assert whole("a" * 100, 0, None, 80, len) is None


@SETTINGS
@given(text=markdown())
def test_conversion_never_adds_visible_characters(text: str) -> None:
    """What makes `tg.measure` (the plain length) an upper bound of the HTML's visible length."""
    shown = parse(tg.to_html(text))
    assert tg.len16(shown) <= tg.measure(text)
