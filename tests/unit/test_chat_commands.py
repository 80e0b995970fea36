"""Built-in and prompt commands through ChatService, with the real Router, PromptService and
SQLite store (the model server is the scripted in-process backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from hub.core.prompts import PromptService
from hub.core.router import Router
from hub.core.routing_config import BackendConfig, RoutingConfig
from tests.doubles.backend import Script, ScriptedBackend
from tests.unit.pipeline_kit import Kit, collect, done, message, notices, pipeline


@asynccontextmanager
async def hub(
    tmp_path: Path, backend: ScriptedBackend, **config: Any
) -> AsyncIterator[tuple[Kit, PromptService]]:
    routing = RoutingConfig(
        backends=[BackendConfig(name=backend.name, url="http://scripted.invalid")],
        allowlists={"user": ["m1", "m2"]},
    )
    router = Router(routing, [backend], default_model="m1")
    await router.start()
    try:
        async with pipeline(tmp_path, router, with_prompts=True, **config) as kit:
            assert kit.prompts is not None
            yield kit, kit.prompts
    finally:
        await router.aclose()


def three_models() -> ScriptedBackend:
    return ScriptedBackend(scripts={"m1": Script(), "m2": Script(["two"]), "m3": Script(["x"])})


async def test_help_lists_builtins_and_prompt_commands(tmp_path: Path) -> None:
    async with hub(tmp_path, three_models()) as (kit, prompts):
        user = await kit.stores.users.for_identity(message("x").user)
        await prompts.create(user, "/summarize", "Summarise a text", "Summarise: {{INPUT}}")
        [text] = notices(await collect(kit.service, message("/help")))
        for name in ("/help", "/new", "/model", "/models", "/prompts", "/stop"):
            assert name in text
        assert "/summarize – Summarise a text" in text
        [greeting] = notices(await collect(kit.service, message("/start")))
        assert greeting.startswith("Hi U1!") and "/summarize" in greeting


async def test_unknown_command_is_answered_without_a_model_call(tmp_path: Path) -> None:
    backend = three_models()
    async with hub(tmp_path, backend) as (kit, _):
        events = await collect(kit.service, message("/frobnicate now"))
        assert notices(events) == ["Unknown command /frobnicate. Send /help for the list."]
        assert len(events) == 1
        assert backend.requests == []
        assert await kit.turns(message("x")) == []


async def test_new_isolates_history_and_keeps_the_old_conversation(tmp_path: Path) -> None:
    backend = three_models()
    async with hub(tmp_path, backend) as (kit, _):
        done(await collect(kit.service, message("first")))
        old = await kit.turns(message("x"))
        [reply] = notices(await collect(kit.service, message("/new")))
        assert "new conversation" in reply
        done(await collect(kit.service, message("second")))
        assert [m.content for m in backend.requests[-1].messages] == ["second"]
        assert [t.text for t in await kit.turns(message("x"))] == ["second", "Hello there!"]
        user = await kit.stores.users.for_identity(message("x").user)
        conversation_rows = await kit.stores.db.fetchall(
            "SELECT id FROM conversations WHERE user_id = ?", (user.id,)
        )
        assert len(conversation_rows) == 2 and len(old) == 2


async def test_model_choice_allowlist_and_default(tmp_path: Path) -> None:
    backend = three_models()
    async with hub(tmp_path, backend) as (kit, _):
        [shown] = notices(await collect(kit.service, message("/model")))
        assert shown.startswith("Model: m1 (the default")
        [refused] = notices(await collect(kit.service, message("/model m3")))
        assert refused == (
            "You can't choose m3: the hub's allowlist for the user role does not include it. "
            "Send /models to see the models you can use."
        )
        [unknown] = notices(await collect(kit.service, message("/model nope")))
        assert "don't know a model called nope" in unknown
        user = await kit.stores.users.for_identity(message("x").user)
        assert user.model is None
        [chosen] = notices(await collect(kit.service, message("/model m2")))
        assert chosen == "Your model is now m2."
        assert (await kit.stores.users.get(user.id)).model == "m2"  # type: ignore[union-attr]
        assert done(await collect(kit.service, message("hi"))).model == "m2"
        assert backend.requests[-1].model == "m2"
        [shown] = notices(await collect(kit.service, message("/model")))
        assert shown.startswith("Model: m2 (your own choice")
        [listing] = notices(await collect(kit.service, message("/models")))
        assert "✓ m2" in listing and "• m1" in listing and "m3" not in listing
        [back] = notices(await collect(kit.service, message("/model default")))
        assert back == "Back to the default model: m1."
        assert (await kit.stores.users.get(user.id)).model is None  # type: ignore[union-attr]


async def test_prompt_command_expands_and_stores_what_was_typed(tmp_path: Path) -> None:
    backend = three_models()
    async with hub(tmp_path, backend) as (kit, prompts):
        user = await kit.stores.users.for_identity(message("x").user)
        await prompts.create(user, "/tr", "Translate", "Translate to {{lang}}: {{INPUT}}")
        events = await collect(kit.service, message("/tr lang=French good morning"))
        done(events)
        assert backend.requests[-1].messages[-1].content == "Translate to French: good morning"
        turns = await kit.turns(message("x"))
        assert turns[0].text == "Translate to French: good morning"
        assert turns[0].typed_text == "/tr lang=French good morning"
        sent_before = len(backend.requests)
        [missing] = notices(await collect(kit.service, message("/tr hello")))
        assert "lang" in missing
        assert len(backend.requests) == sent_before


async def test_prompt_management_from_chat(tmp_path: Path) -> None:
    backend = three_models()
    async with hub(tmp_path, backend) as (kit, _):
        [added] = notices(
            await collect(kit.service, message("/prompt add haiku Haiku | Write a haiku about"))
        )
        assert "/haiku" in added
        [listing] = notices(await collect(kit.service, message("/prompts")))
        assert "/haiku" in listing
        done(await collect(kit.service, message("/haiku rain")))
        assert backend.requests[-1].messages[-1].content == "Write a haiku about\n\nrain"


async def test_commands_for_another_bot_are_ignored(tmp_path: Path) -> None:
    backend = three_models()
    async with hub(tmp_path, backend, bot_name="hubbot") as (kit, _):
        assert await collect(kit.service, message("/new@otherbot", is_group=True)) == []
        [reply] = notices(await collect(kit.service, message("/new@HubBot", is_group=True)))
        assert "new conversation" in reply
        assert backend.requests == []


async def test_stop_without_a_running_reply(tmp_path: Path) -> None:
    async with hub(tmp_path, three_models()) as (kit, _):
        assert notices(await collect(kit.service, message("/stop"))) == [
            "No reply is being written."
        ]


async def test_model_accepts_a_name_without_latest_and_says_when_a_rule_wins(
    tmp_path: Path,
) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(), "beta:latest": Script(["b"])})
    routing = RoutingConfig(
        backends=[BackendConfig(name=backend.name, url="http://scripted.invalid")],
        rules=[{"chat": "ruled", "model": "m1"}],  # type: ignore[list-item]
    )
    router = Router(routing, [backend], default_model="m1")
    await router.start()
    try:
        async with pipeline(tmp_path, router) as kit:
            [chosen] = notices(await collect(kit.service, message("/model beta")))
            assert chosen == "Your model is now beta:latest."
            assert done(await collect(kit.service, message("hi"))).model == "beta:latest"
            [ruled] = notices(await collect(kit.service, message("/model beta", chat="ruled")))
            assert ruled == (
                "Saved beta:latest as your model, but a routing rule for this chat answers with "
                "m1 here; your choice applies where no rule does."
            )
            [usage] = notices(await collect(kit.service, message("/model a b")))
            assert "don't know a model called a b" in usage
    finally:
        await router.aclose()


async def test_a_rule_command_matches_the_prompt_command_typed_in_chat(tmp_path: Path) -> None:
    backend = three_models()
    routing = RoutingConfig(
        backends=[BackendConfig(name=backend.name, url="http://scripted.invalid")],
        rules=[{"command": "code", "model": "m2"}],  # type: ignore[list-item]
    )
    router = Router(routing, [backend], default_model="m1")
    await router.start()
    try:
        async with pipeline(tmp_path, router, with_prompts=True) as kit:
            assert kit.prompts is not None
            user = await kit.stores.users.for_identity(message("x").user)
            await kit.prompts.create(user, "/code", "Code", "Write code: {{INPUT}}")
            assert done(await collect(kit.service, message("/code a parser"))).model == "m2"
            assert done(await collect(kit.service, message("plain"))).model == "m1"
    finally:
        await router.aclose()
