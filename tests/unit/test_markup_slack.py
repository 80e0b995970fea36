"""Markdown → Slack mrkdwn, example by example."""

from __future__ import annotations

import pytest

from hub.core.markup import slack
from hub.core.markup.split import split_markdown

Z = slack.ZWSP


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** *it* _it_ ~~gone~~", "*bold* _it_ _it_ ~gone~"),
        ("`a < b && c`", "`a &lt; b &amp;&amp; c`"),
        ("***both***", "_*both*_"),
        ("**bold `code` bold**", "*bold `code` bold*"),
        ("foo**bar**baz", f"foo{Z}*bar*{Z}baz"),
        ("see **this**.", "see *this*."),
        ("# Title with **bold**", "*Title with bold*"),
        ("### Sub", "*Sub*"),
        ("> quoted **text**\n> more", "> quoted *text*\n> more"),
        ("[docs](https://example.com/a?b=1&c=2)", "<https://example.com/a?b=1&amp;c=2|docs>"),
        ("[pipe](https://example.com/a|b)", "<https://example.com/a%7Cb|pipe>"),
        ("<https://example.com>", "<https://example.com>"),
        ("see https://example.com/a?b=1&c=2.", "see <https://example.com/a?b=1&amp;c=2>."),
        ("(https://x.io/p)", "(<https://x.io/p>)"),
        ("[me](mailto:a@example.com)", "<mailto:a@example.com|me>"),
        ("![cat](https://example.com/cat.png)", "<https://example.com/cat.png|cat>"),
        ("[**bold** label](https://x.io)", "<https://x.io|bold label>"),
        ("[relative](docs/x.md)", "relative"),
        ("- one\n- two\n  * nested\n+ three", "• one\n• two\n  • nested\n• three"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("- [ ] todo\n- [x] done", "• ☐ todo\n• ☑ done"),
        ("above\n\n---\n\nbelow", f"above\n\n{slack.RULE_LINE}\n\nbelow"),
        ("**one\ntwo**", "*one*\n*two*"),
        ("plain & simple <tag>", "plain &amp; simple &lt;tag&gt;"),
        ("unfinished **bold", "unfinished **bold"),
        ("2 * 3 * 4", "2 * 3 * 4"),
    ],
)
def test_conversion(markdown: str, mrkdwn: str) -> None:
    assert slack.to_mrkdwn(markdown) == mrkdwn


def test_code_block_drops_the_language_and_escapes() -> None:
    text = "Run:\n\n```python\nif a < b and c > d:\n    print('&')\n```\n"
    assert slack.to_mrkdwn(text) == (
        "Run:\n\n```\nif a &lt; b and c &gt; d:\n    print('&amp;')\n```"
    )


def test_unclosed_fence_renders_as_a_closed_code_block() -> None:
    assert slack.to_mrkdwn("Here:\n```sh\necho hi", partial=True) == "Here:\n```\necho hi\n```"


def test_backticks_inside_code_cannot_close_the_block() -> None:
    out = slack.to_mrkdwn("````\nbefore\n```\nafter\n````")
    assert out.count("```") == 2
    assert out.startswith("```\nbefore\n") and out.endswith("\nafter\n```")


def test_stray_triple_backticks_in_text_are_broken() -> None:
    out = slack.to_mrkdwn("inline ``` here")
    assert "```" not in out
    assert out.replace(Z, "") == "inline ``` here"


def test_code_span_with_a_backtick_shows_its_text() -> None:
    assert slack.to_mrkdwn("`` a`b ``") == "a`b"


def test_table_becomes_aligned_rows_in_a_code_block() -> None:
    table = "| Name | Qty |\n|:-----|----:|\n| **apple** | 3 |\n| kiwi & co | `12` |"
    rows = ["Name      | Qty", "----------+----", "apple     |   3", "kiwi &amp; co |  12"]
    assert slack.to_mrkdwn("Stock:\n" + table) == "\n".join(["Stock:", "```", *rows, "```"])


@pytest.mark.parametrize(
    "hostile",
    [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<!here|here>",
        "<@U012AB3CD>",
        "<@W012AB3CD|someone>",
        "<!subteam^S012AB3CD>",
        "<#C012AB3CD>",
        "<!date^1392734382^{date}|Feb 18>",
        "[click](<!channel>)",
        "`<!channel>`",
        "```\n<!channel>\n```",
        "| <!here> | x |\n|---|---|\n| <@U1> | y |",
        "# <!everyone>",
        "> <!channel>",
    ],
)
def test_model_output_never_forms_a_mention(hostile: str) -> None:
    out = slack.to_mrkdwn(f"hey {hostile} there")
    for special in ("<!", "<@", "<#"):
        assert special not in out


def test_measure_counts_escapes_and_utf16() -> None:
    assert slack.measure("a & b") == len("a &amp; b")
    assert slack.measure("😀") == 2
    assert slack.measure("**b**") == len("**b**")  # the plain fallback is longer than "*b*"


def test_long_code_splits_into_balanced_parts() -> None:
    code = "".join(f"x_{i} = a < b & c  # line {i}\n" for i in range(300))
    text = "Intro.\n\n```python\n" + code + "```\n\nOutro."
    parts = split_markdown(text, slack.MAX_LEN, slack.measure)
    assert len(parts) >= 3
    for part in parts:
        out = slack.to_mrkdwn(part.text)
        assert out.count("```") % 2 == 0
        assert slack.len16(out) <= slack.MAX_LEN
