"""Markdown → Discord Markdown: what Discord renders differently, mentions, length."""

from __future__ import annotations

import pytest

from hub.core.markup import discord as dc
from hub.core.markup.fences import fence_state_after

ZW = dc.ZWSP


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold**, *em*, _em_, ~~gone~~", "**bold**, *em*, *em*, ~~gone~~"),
        ("__strong__ not underlined", "**strong** not underlined"),
        ("`code` and ``a`b``", "`code` and ``a`b``"),
        ("# One\n## Two\n### Three", "# One\n## Two\n### Three"),
        ("#### Four\n###### Six ##", "**Four**\n**Six**"),
        ("[docs](https://example.com/a_b)", "[docs](https://example.com/a_b)"),
        ("<https://example.com/x_y>", "<https://example.com/x_y>"),
        ("see https://example.com/x_y_z.", "see https://example.com/x_y_z."),
        ("![a cat](https://example.com/cat.png)", "[a cat](https://example.com/cat.png)"),
        ("> quoted *words*\n> again", "> quoted *words*\n> again"),
        ("* one\n* two *em*\n  * nested", "* one\n* two *em*\n  * nested"),
        ("- one\n1. two", "- one\n1. two"),
        ("above\n\n---\n\nbelow", f"above\n\n{dc.RULE}\n\nbelow"),
    ],
)
def test_conversion(markdown: str, expected: str) -> None:
    assert dc.to_discord(markdown) == expected


def test_literal_markup_characters_are_escaped() -> None:
    assert dc.to_discord("snake_case, 2*3, a|b, ~5 min") == "snake\\_case, 2\\*3, a\\|b, \\~5 min"
    assert dc.to_discord("a back\\\\slash") == "a back\\\\slash"
    assert dc.to_discord("-# not subtext") == "\\-# not subtext"


def test_unclosed_inline_markup_shows_as_typed_until_it_closes() -> None:
    streaming = dc.to_discord("Here is **important", partial=True)
    assert streaming == "Here is \\*\\*important"
    assert dc.to_discord("Here is **important** news", partial=True) == (
        "Here is **important** news"
    )


def test_fences_become_backtick_fences_with_their_language() -> None:
    assert dc.to_discord("~~~python\nx = 1\n~~~") == "```python\nx = 1\n```"
    assert dc.to_discord("````sh\necho\n````") == "```sh\necho\n```"
    assert dc.to_discord("```weird lang here\nx\n```") == "```weird\nx\n```"
    assert dc.to_discord("```!!\nx\n```") == "```\nx\n```"


def test_an_unclosed_fence_is_closed_while_streaming() -> None:
    out = dc.to_discord("Look:\n\n```js\nconst a = 1;\n", partial=True)
    assert out == "Look:\n\n```js\nconst a = 1;\n```"
    assert fence_state_after(out) is None


def test_backticks_inside_code_cannot_close_the_block() -> None:
    out = dc.to_discord("```md\nUse ``` to fence.\n````\n```")
    body = out.split("\n")[1:-1]
    assert all("```" not in line for line in body)
    assert body[0] == f"Use `{ZW}`` to fence."


def test_tables_become_aligned_columns_in_a_code_block() -> None:
    table = "| Name | Qty |\n|:-----|----:|\n| **apple** | 3 |\n| kiwi<br>fruit | 12 |"
    assert dc.to_discord(table).split("\n") == [
        "```",
        "Name         | Qty",
        "-------------+----",
        "apple        |   3",
        "kiwi / fruit |  12",
        "```",
    ]


def test_table_rows_without_their_header_still_align() -> None:
    out = dc.to_discord("| 1 | first |\n| 22 | second |")
    assert out == "```\n1   | first\n22  | second\n```"  # columns at least 3 wide


def test_wide_characters_count_two_columns() -> None:
    out = dc.to_discord("| 名前 | x |\n|---|---|\n| ab | y |")
    assert out.split("\n")[1:4] == ["名前 | x", "-----+----", "ab   | y"]


def test_mass_mentions_are_neutralised_and_user_mentions_kept() -> None:
    out = dc.to_discord("Hey @everyone and @here, ask <@123> or <@&456>.")
    assert out == f"Hey @{ZW}everyone and @{ZW}here, ask <@123> or <@&456>."
    assert dc.to_plain("@everyone look") == f"@{ZW}everyone look"
    assert "@everyone" in dc.to_discord("`@everyone`")  # code never pings: left as typed
    assert dc.to_discord("https://x.com/@here") == "https://x.com/@here"  # a link stays whole


def test_never_empty_for_non_blank_input() -> None:
    assert dc.to_discord("```\n```") == "\\`\\`\\`\n\\`\\`\\`"
    assert dc.to_discord("   ") == ""


def test_measure_counts_code_points_of_the_converted_text() -> None:
    assert dc.length("😀é") == 2
    assert dc.measure("a_b") == 4  # a\_b
    table = "| a |\n|---|\n| b |"  # converted shorter than typed: the plain fallback counts
    assert dc.measure(table) == len(table) > len(dc.to_discord(table))


def test_split_keeps_every_part_under_2000_with_fences_reopened() -> None:
    code = "```python\n" + "".join(f"value_{i} = compute({i})  # step\n" for i in range(150))
    text = "Intro paragraph.\n\n" + code + "```\n\nDone."
    parts = dc.split(text)
    assert len(parts) >= 3
    for part in parts:
        assert dc.length(part) <= dc.MAX_LEN
        assert fence_state_after(part) is None
    assert all(p.startswith("```python\n") for p in parts[1:-1])
