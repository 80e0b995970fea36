"""PromptService on the real SQLite store: scopes, names, chat management, HTTP CRUD, seeds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.core.builtins import BUILTIN_COMMANDS, BUILTIN_MENU
from hub.core.models import ChatMessage, IncomingMessage, PlatformUser, User
from hub.core.prompts import (
    COMMAND_RULES,
    Expansion,
    PromptError,
    PromptService,
    parse_invocation,
)
from hub.core.stores.sqlite import open_sqlite
from hub.settings import SeedPrompt

ADMIN = User(id="u-admin", name="Ada", role="admin")
ANN = User(id="u-ann", name="Ann", language="de-DE")
BOB = User(id="u-bob", name="Bob")
NOW = datetime(2024, 5, 3, 12, 5, 9, tzinfo=UTC)  # 14:05:09 in Berlin, a Friday


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[PromptService]:
    stores = await open_sqlite(tmp_path)
    try:
        yield PromptService(stores.prompts, clock=lambda: NOW, tz=ZoneInfo("Europe/Berlin"))
    finally:
        await stores.aclose()


def message(text: str = "", reply: str | None = None, user: User = ANN) -> IncomingMessage:
    who = PlatformUser("telegram", "tg-" + user.id, user.name)
    return IncomingMessage("telegram", "c1", who, text, reply_to_text=reply, chat_name="Team")


async def test_personal_shadows_global(service: PromptService) -> None:
    await service.create(ADMIN, "/summarize", "Summary", "Global: {{INPUT}}", scope="global")
    await service.create(ANN, "summarize", "Mine", "Mine: {{INPUT}}")
    ann = await service.get(ANN, "summarize")
    bob = await service.get(BOB, "/summarize")
    assert ann is not None and ann.scope == "personal" and ann.owner_id == ANN.id
    assert bob is not None and bob.scope == "global"
    assert [(p.command, p.scope) for p in await service.list_for(ANN)] == [
        ("/summarize", "personal")
    ]
    assert [(p.command, p.scope) for p in await service.list_for(BOB)] == [("/summarize", "global")]
    ann_exp = await service.expand(ANN, message(), "summarize", "x")
    bob_exp = await service.expand(BOB, message(user=BOB), "summarize", "x")
    assert ann_exp is not None and ann_exp.text == "Mine: x"
    assert bob_exp is not None and bob_exp.text == "Global: x"
    # Removing the personal one uncovers the global one again.
    assert await service.delete(ANN, "/summarize")
    again = await service.get(ANN, "summarize")
    assert again is not None and again.scope == "global"


@pytest.mark.parametrize("name", sorted(BUILTIN_COMMANDS))
async def test_builtin_names_are_refused(service: PromptService, name: str) -> None:
    with pytest.raises(PromptError) as caught:
        await service.create(ADMIN, "/" + name, "t", "text")
    assert caught.value.message == f"/{name} is a built-in command; choose another name"
    reply = await service.handle_prompt_command(ANN, f"add {name} T | text")
    assert reply == f"/{name} is a built-in command; choose another name"


@pytest.mark.parametrize("name", ["Sum", "/a b", "x" * 33, "", "/", "ü", "sum!"])
async def test_invalid_names_are_refused(service: PromptService, name: str) -> None:
    with pytest.raises(PromptError) as caught:
        await service.create(ANN, name, "t", "text")
    assert caught.value.message == COMMAND_RULES
    assert caught.value.kind == "invalid"


async def test_longest_and_odd_valid_names(service: PromptService) -> None:
    for name in ["x" * 32, "a-b_c9", "/0"]:
        created = await service.create(ANN, name, "", "text")
        assert created.command == "/" + name.removeprefix("/")
        assert created.title == name.removeprefix("/")


async def test_duplicates(service: PromptService) -> None:
    assert (await service.handle_prompt_command(ANN, "add summarize S | a")).startswith("Added")
    reply = await service.handle_prompt_command(ANN, "add summarize S | b")
    assert reply == "/summarize already exists; use /prompt edit"
    with pytest.raises(PromptError) as caught:
        await service.create(ANN, "/summarize", "S", "c")
    assert caught.value.kind == "duplicate"
    assert caught.value.message == "/summarize already exists; edit it instead"
    # Another user may have their own.
    await service.create(BOB, "/summarize", "S", "b")
    # A second global one is refused whoever created the first.
    await service.create(ADMIN, "/g", "G", "g", scope="global")
    other_admin = User(id="u-admin2", name="Eve", role="admin")
    reply = await service.handle_prompt_command(other_admin, "add g --global G | again")
    assert reply == "/g already exists; use /prompt edit --global"


async def test_non_admin_cannot_touch_global_prompts(service: PromptService) -> None:
    reply = await service.handle_prompt_command(ANN, "add --global team T | text")
    assert reply == ("Only admins can manage global prompts; leave out --global to manage your own")
    with pytest.raises(PromptError) as caught:
        await service.create(ANN, "/team", "T", "text", scope="global")
    assert caught.value.kind == "forbidden"
    await service.create(ADMIN, "/team", "T", "text", scope="global")
    for args in ["edit team --global T | new", "rm team --global"]:
        reply = await service.handle_prompt_command(ANN, args)
        assert reply.startswith("Only admins can manage global prompts")
    reply = await service.handle_prompt_command(ANN, "edit team T | new")
    assert reply == (
        "/team is a global prompt and only admins can change it; "
        "/prompt add team … makes your own version"
    )
    assert await service.handle_prompt_command(ANN, "rm team") == (
        "/team is a global prompt and only admins can remove it."
    )
    # The HTTP paths refuse too, and nothing changed.
    with pytest.raises(PromptError):
        await service.update(ANN, "team", "T", "hacked")
    with pytest.raises(PromptError):
        await service.delete(ANN, "team")
    kept = await service.get(BOB, "team")
    assert kept is not None and kept.content == "text"


async def test_chat_management_end_to_end(service: PromptService) -> None:
    reply = await service.handle_prompt_command(
        ANN, "add translate Translate text | Translate to {{lang}}:\n\n{{INPUT}}\n"
    )
    assert reply == "Added /translate. Use it with /translate lang=… your text."
    shown = await service.handle_prompt_command(ANN, "show translate")
    assert shown == (
        "/translate — Translate text (personal)\nVariables: lang (required)\n"
        "```text\nTranslate to {{lang}}:\n\n{{INPUT}}\n```"
    )
    # Edit without a title keeps the title; multi-line content survives.
    assert await service.handle_prompt_command(ANN, "edit /translate\nLine 1\nLine 2") == (
        "Updated /translate."
    )
    prompt = await service.get(ANN, "translate")
    assert prompt is not None
    assert (prompt.title, prompt.content) == ("Translate text", "Line 1\nLine 2")
    assert await service.handle_prompt_command(ANN, "rm translate") == "Removed /translate."
    assert await service.get(ANN, "translate") is None
    assert await service.handle_prompt_command(ANN, "rm translate") == (
        "There is no prompt of yours /translate. /prompts lists the ones you can use."
    )
    assert await service.handle_prompt_command(ANN, "show nothing") == (
        "No prompt /nothing. /prompts lists the ones you can use."
    )


async def test_add_without_a_bar_uses_the_name_as_title(service: PromptService) -> None:
    await service.handle_prompt_command(ANN, 'add tldr Say it short: {{x | default:"a"}}')
    prompt = await service.get(ANN, "tldr")
    assert prompt is not None
    assert (prompt.title, prompt.content) == ("tldr", 'Say it short: {{x | default:"a"}}')
    # A bar inside a placeholder does not split; one on a later line neither.
    await service.handle_prompt_command(ANN, "add tbl {{a | default:'1'}}\n| c1 | c2 |")
    tbl = await service.get(ANN, "tbl")
    assert tbl is not None and tbl.title == "tbl"
    assert tbl.content == "{{a | default:'1'}}\n| c1 | c2 |"


@pytest.mark.parametrize("args", ["", "   ", "frobnicate x", "--global", "add", "show"])
async def test_bad_syntax_shows_usage(service: PromptService, args: str) -> None:
    reply = await service.handle_prompt_command(ANN, args)
    assert reply.startswith("Usage:\n/prompt show NAME")


async def test_add_without_text(service: PromptService) -> None:
    reply = await service.handle_prompt_command(ANN, "add empty Title |")
    assert reply == "The text of /empty is missing. Example: /prompt add empty Title | text…"
    assert await service.get(ANN, "empty") is None


async def test_admin_manages_global_prompts_from_chat(service: PromptService) -> None:
    reply = await service.handle_prompt_command(ADMIN, "add --global daily Daily | Plan {{INPUT}}")
    assert reply == "Added /daily for everyone. Use it with /daily your text."
    assert await service.handle_prompt_command(ADMIN, "edit daily D | x") == (
        "/daily is a global prompt; use /prompt edit daily --global"
    )
    assert await service.handle_prompt_command(ADMIN, "edit daily --global D | x") == (
        "Updated /daily."
    )
    reply = await service.handle_prompt_command(ANN, "add daily Mine | mine")
    assert reply.endswith("It hides the global /daily for you.")
    assert await service.handle_prompt_command(ADMIN, "rm -g daily") == "Removed /daily."
    remaining = await service.get(ANN, "daily")
    assert remaining is not None and remaining.scope == "personal"


async def test_listing(service: PromptService) -> None:
    assert await service.listing(ANN) == (
        "No prompt commands yet. Add one with /prompt add NAME Title | text"
    )
    await service.create(ADMIN, "/b-team", "Team one", "x", scope="global")
    await service.create(ANN, "/a-mine", "My own", "x")
    assert await service.listing(ANN) == (
        "Prompt commands:\n/a-mine — My own\n/b-team — Team one (global)\n\n"
        "Use one with /NAME your text; /prompt show NAME shows its template."
    )
    assert await service.handle_prompt_command(ANN, "list") == await service.listing(ANN)


async def test_http_crud_and_openwebui_shape(service: PromptService) -> None:
    created = await service.create(ANN, "/summarize", "Sum", "S: {{CLIPBOARD}}")
    item = service.to_openwebui(created)
    assert item == {
        "command": "/summarize",
        "user_id": ANN.id,
        "title": "Sum",
        "content": "S: {{CLIPBOARD}}",
        "timestamp": int(NOW.timestamp()),
    }
    fetched = await service.get(ANN, "summarize")  # path form, without the slash
    assert fetched is not None and service.to_openwebui(fetched) == item
    updated = await service.update(ANN, "summarize", "Sum 2", "New")
    assert updated is not None and (updated.title, updated.content) == ("Sum 2", "New")
    assert service.to_openwebui(updated)["timestamp"] > item["timestamp"]  # store time, not NOW
    assert await service.update(ANN, "missing", "t", "c") is None
    assert await service.update(BOB, "summarize", "t", "c") is None  # not Bob's
    assert await service.delete(BOB, "summarize") is False
    assert await service.delete(ANN, "/summarize") is True
    assert await service.delete(ANN, "/summarize") is False
    assert await service.get(ANN, "summarize") is None
    with pytest.raises(PromptError, match="empty"):
        await service.create(ANN, "/e", "t", "  \n ")


async def test_admin_updates_global_over_http(service: PromptService) -> None:
    await service.create(ADMIN, "/team", "T", "old", scope="global")
    other_admin = User(id="u-admin2", name="Eve", role="admin")
    updated = await service.update(other_admin, "team", "", "new")
    assert updated is not None
    assert (updated.title, updated.content, updated.owner_id) == ("T", "new", ADMIN.id)


async def test_menu_and_change_hooks(service: PromptService) -> None:
    calls: list[str] = []

    async def refresh() -> None:
        calls.append("refresh")

    async def broken() -> None:
        raise RuntimeError("platform down")

    service.on_change += [broken, refresh]
    await service.create(ANN, "/mine", "Mine", "x")
    assert calls == []  # personal prompts do not touch the menu
    await service.create(ADMIN, "/team", "Team prompt", "x", scope="global")
    await service.create(ADMIN, "/alpha", "", "x", scope="global")
    assert calls == ["refresh", "refresh"]
    menu = await service.menu()
    assert menu == [*BUILTIN_MENU.items(), ("alpha", "alpha"), ("team", "Team prompt")]
    await service.update(ADMIN, "team", "T", "y")
    await service.delete(ADMIN, "alpha")
    assert calls == ["refresh"] * 4
    assert await service.menu() == [*BUILTIN_MENU.items(), ("team", "T")]


async def test_seed_is_idempotent(service: PromptService) -> None:
    seeds = [
        SeedPrompt(command="/summarize", title="Summarize", content="Summarize:\n{{INPUT}}"),
        SeedPrompt(command="translate", content="To {{lang}}: {{INPUT}}"),
    ]
    calls: list[int] = []

    async def hook() -> None:
        calls.append(1)

    service.on_change.append(hook)
    assert await service.seed(seeds, ADMIN.id) == 2
    assert await service.seed(seeds, ADMIN.id) == 0
    assert calls == [1]
    # An admin's edit survives the next start.
    await service.update(ADMIN, "summarize", "Summarize", "Edited {{INPUT}}")
    assert await service.seed(seeds, ADMIN.id) == 0
    kept = await service.get(BOB, "summarize")
    assert kept is not None and kept.content == "Edited {{INPUT}}" and kept.scope == "global"
    translate = await service.get(BOB, "translate")
    assert translate is not None and translate.title == "translate"


async def test_seed_refuses_a_bad_command(service: PromptService) -> None:
    class Seed:
        command = "/help"
        title = ""
        content = "x"

    with pytest.raises(PromptError) as caught:
        await service.seed([Seed()], ADMIN.id)
    assert caught.value.message == (
        "prompts[0] (/help): /help is a built-in command; choose another name"
    )


async def test_expand_uses_the_clock_zone_and_message(service: PromptService) -> None:
    await service.create(
        ANN,
        "/ctx",
        "",
        "{{USER_NAME}}|{{USER_LANGUAGE}}|{{CURRENT_DATETIME}}|{{CURRENT_WEEKDAY}}|"
        "{{CURRENT_TIMEZONE}}|{{CHAT_NAME}}|{{PLATFORM}}|{{INPUT}}",
    )
    result = await service.expand(ANN, message(reply="quoted"), "/Ctx@my_bot", "")
    assert result == Expansion(
        "/ctx", text="Ann|de-DE|2024-05-03 14:05:09|Friday|Europe/Berlin|Team|telegram|quoted"
    )
    assert await service.expand(ANN, message(), "nothing", "x") is None
    assert await service.expand(ANN, message(), "help", "x") is None


async def test_missing_variables_from_the_service(service: PromptService) -> None:
    await service.create(ANN, "/translate", "T", "To {{lang}}: {{INPUT}}")
    result = await service.expand(ANN, message(), "translate", "some text")
    assert result is not None and result.text is None
    assert result.missing == ("lang",)
    assert result.error_message == (
        "/translate needs: lang. Pass it as lang=value, e.g. /translate lang=value some text"
    )


async def test_expand_http_last_message(service: PromptService) -> None:
    await service.create(BOB, "/translate", "T", "To {{lang}}: {{INPUT}}")
    history = [
        ChatMessage("system", "be brief"),
        ChatMessage("user", "/translate lang=French hello {{CURRENT_DATE}}", images=("img",)),
    ]
    out = await service.expand_http_last_message(BOB, history)
    assert isinstance(out, list)
    assert out[0] == history[0]
    assert out[1] == ChatMessage("user", "To French: hello {{CURRENT_DATE}}", images=("img",))
    missing = await service.expand_http_last_message(BOB, [ChatMessage("user", "/translate x")])
    assert isinstance(missing, Expansion) and missing.missing == ("lang",)
    for unchanged in (
        [ChatMessage("user", "/unknown text")],
        [ChatMessage("user", "plain /translate text")],
        [ChatMessage("user", "/translate lang=x y"), ChatMessage("assistant", "…")],
        [],
    ):
        assert await service.expand_http_last_message(BOB, unchanged) == unchanged
    # Another user does not see Bob's prompt.
    not_anns = [ChatMessage("user", "/translate lang=x y")]
    assert await service.expand_http_last_message(ANN, not_anns) == not_anns


def test_parse_invocation() -> None:
    assert parse_invocation("/sum a b\nc") == ("sum", "a b\nc")
    assert parse_invocation("  /sum@bot  ") == ("sum", "")
    assert parse_invocation("/sum\n\ntext") == ("sum", "text")
    assert parse_invocation("sum text") is None
    assert parse_invocation("/") is None
