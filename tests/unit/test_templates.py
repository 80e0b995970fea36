"""Prompt template expansion: variables, inputs, custom values, single-pass safety."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.core.builtins import BUILTIN_COMMANDS, BUILTIN_MENU, BUILTINS, CommandSpec
from hub.core.templates import (
    SYSTEM_NAMES,
    TemplateContext,
    compose_input,
    custom_names,
    expand_template,
    parse_assignments,
    placeholders,
)

BERLIN = ZoneInfo("Europe/Berlin")
# A Friday, 14:05:09 in Berlin (CEST, +02:00).
NOW = datetime(2024, 5, 3, 14, 5, 9, tzinfo=BERLIN)


def ctx(**changes: str) -> TemplateContext:
    base = {
        "user_name": "Ann Lee",
        "user_language": "de-DE",
        "timezone": "Europe/Berlin",
        "chat_name": "Team room",
        "platform": "telegram",
    }
    base.update(changes)
    return TemplateContext(now=NOW, **base)


def expand(content: str, args: str = "", reply: str | None = None) -> str:
    result = expand_template("/t", content, args, ctx(), reply_to_text=reply)
    assert result.text is not None, result.error_message
    return result.text


def test_every_system_variable() -> None:
    content = "\n".join(f"{name}={{{{{name}}}}}" for name in sorted(SYSTEM_NAMES)) + "\n{{INPUT}}"
    assert expand(content, "go") == "\n".join(
        [
            "CHAT_NAME=Team room",
            "CURRENT_DATE=2024-05-03",
            "CURRENT_DATETIME=2024-05-03 14:05:09",
            "CURRENT_TIME=14:05:09",
            "CURRENT_TIMEZONE=Europe/Berlin",
            "CURRENT_WEEKDAY=Friday",
            "PLATFORM=telegram",
            "USER_LANGUAGE=de-DE",
            "USER_NAME=Ann Lee",
            "go",
        ]
    )


def test_weekday_follows_the_date_not_the_process_locale() -> None:
    days = []
    for day in range(6, 13):  # Monday 2024-05-06 .. Sunday 2024-05-12
        c = TemplateContext("a", "en", datetime(2024, 5, day, tzinfo=BERLIN), "Europe/Berlin")
        days.append(expand_template("/t", "{{CURRENT_WEEKDAY}}", "", c).text)
    assert days == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def test_variables_are_case_sensitive() -> None:
    result = expand_template("/t", "{{current_date}} {{CURRENT_DATE}}", "", ctx())
    assert result.missing == ("current_date",)


def test_input_and_clipboard_take_the_argument_text() -> None:
    assert expand("Summarize:\n{{INPUT}}", "some text") == "Summarize:\nsome text"
    assert expand("A {{CLIPBOARD}} B {{INPUT}}", "x y") == "A x y B x y"
    assert expand("{{ INPUT }}", "  padded  ") == "padded"


def test_input_is_appended_after_a_blank_line_without_a_placeholder() -> None:
    assert (
        expand("Summarize this.\n", "long text\nline 2") == "Summarize this.\n\nlong text\nline 2"
    )
    assert expand("Summarize this.", "") == "Summarize this."


def test_replied_to_text_is_the_input_when_no_argument() -> None:
    assert expand("S: {{INPUT}}", "", reply="earlier message") == "S: earlier message"
    assert expand("S: {{INPUT}}", "focus on dates", reply="earlier") == (
        "S: focus on dates\n\nearlier"
    )
    assert expand("Summarize.", "", reply="earlier") == "Summarize.\n\nearlier"
    assert compose_input("  ", "  ") == ""


def test_custom_variables_from_name_value_arguments() -> None:
    content = "Translate to {{lang}} in a {{tone}} tone:\n{{INPUT}}"
    text = expand(content, 'lang=French tone="very formal" Hello there')
    assert text == "Translate to French in a very formal tone:\nHello there"
    # Anywhere in the text, in any order, single quotes too.
    text = expand(content, "Hello tone='dry' there lang=German")
    assert text == "Translate to German in a dry tone:\nHello there"


def test_undeclared_assignments_stay_in_the_input() -> None:
    assert expand("Explain: {{INPUT}}", "why x=1 and lang=fr") == "Explain: why x=1 and lang=fr"
    values, rest = parse_assignments("a=1 b=2 c", {"b"})
    assert values == {"b": "2"}
    assert rest == "a=1 c"


def test_assignment_forms() -> None:
    names = {"a", "b", "c", "d"}
    values, rest = parse_assignments("a=\"two words\" b='x y' c= d=k=v tail", names)
    assert values == {"a": "two words", "b": "x y", "c": "", "d": "k=v"}
    assert rest == "tail"
    # A glued token is not an assignment.
    values, rest = parse_assignments("xa=1", {"a"})
    assert values == {}
    assert rest == "xa=1"


def test_defaults() -> None:
    content = '{{tone | default:"formal"}}|{{n|default:"a:b"}}|{{x | text:default="d"}}'
    assert expand(content) == "formal|a:b|d"
    assert expand(content, "tone=casual n=3 x=y") == "casual|3|y"
    # Passing an empty value is an explicit choice, not a fallback to the default.
    assert expand(content, 'tone=""') == "|a:b|d"
    # System variables fall back to a default only when empty.
    result = expand_template("/t", '{{CHAT_NAME | default:"DM"}}', "", ctx(chat_name=""))
    assert result.text == "DM"


def test_typed_form_syntax_is_tolerated() -> None:
    content = (
        '{{audience | select:options=["kids","experts"]:required}} '
        '{{notes | textarea:placeholder="Any notes"}} {{INPUT}}'
    )
    result = expand_template("/explain", content, "gravity", ctx())
    assert result.missing == ("audience",)
    assert result.error_message == (
        "/explain needs: audience. Pass it as audience=value, e.g. /explain audience=kids gravity"
    )
    assert expand(content, "audience=kids gravity") == "kids  gravity"
    spots = placeholders(content)
    assert [(p.name, p.required, p.example) for p in spots] == [
        ("audience", True, "kids"),
        ("notes", False, "Any notes"),
        ("INPUT", True, None),
    ]


def test_missing_variables_message() -> None:
    result = expand_template("/translate", "To {{lang}}: {{INPUT}}", "", ctx())
    assert result.text is None
    assert result.missing == ("lang",)
    assert result.error_message == (
        "/translate needs: lang. Pass it as lang=value, e.g. /translate lang=value some text"
    )
    result = expand_template("/x", "{{a}} {{b}} {{a}} {{c | default:'1'}}", "b=2", ctx())
    assert result.missing == ("a",)
    result = expand_template("/x", "{{a}} {{b}}", "", ctx())
    assert result.missing == ("a", "b")
    assert "Pass them as name=value, e.g. /x a=value b=value some text" in result.error_message
    assert not result.ok


def test_user_text_is_never_expanded() -> None:
    content = "Date {{CURRENT_DATE}}; input {{INPUT}}; v {{v}}"
    text = expand(content, "v={{CURRENT_DATE}} {{CURRENT_DATE}} {{v}} {{INPUT}}")
    assert text == "Date 2024-05-03; input {{CURRENT_DATE}} {{v}} {{INPUT}}; v {{CURRENT_DATE}}"
    # Appended input is not scanned either.
    assert expand("Plain.", "{{USER_NAME}}") == "Plain.\n\n{{USER_NAME}}"
    # Nor the replied-to text.
    assert expand("{{INPUT}}", "", reply="{{PLATFORM}}") == "{{PLATFORM}}"


def test_system_values_are_never_expanded() -> None:
    c = ctx(user_name="{{CURRENT_DATE}}", chat_name="{{INPUT}}")
    result = expand_template("/t", "{{USER_NAME}} {{CHAT_NAME}} {{INPUT}}", "x", c)
    assert result.text == "{{CURRENT_DATE}} {{INPUT}} x"


@given(st.text(max_size=60))
def test_any_user_text_comes_through_literally(typed: str) -> None:
    result = expand_template("/t", "<{{INPUT}}>", typed, ctx())
    assert result.text == f"<{typed.strip()}>"


def test_unmatched_braces_stay_literal() -> None:
    assert expand("{{ not closed {{INPUT}} }} {{}} {{9x}}", "a") == "{{ not closed a }} {{}} {{9x}}"


def test_custom_names() -> None:
    assert custom_names("{{b}} {{a}} {{b}} {{INPUT}} {{USER_NAME}}") == ["b", "a"]


@pytest.mark.parametrize("spec", BUILTINS, ids=lambda spec: spec.name)
def test_builtin_menu_covers_the_builtins(spec: CommandSpec) -> None:
    # Every built-in of every chat platform is in the common menu; /start (Telegram sends it
    # itself) and console-only commands are not.
    assert (spec.name in BUILTIN_MENU) == (spec.menu and not spec.surfaces)
    assert set(BUILTIN_MENU) <= BUILTIN_COMMANDS
