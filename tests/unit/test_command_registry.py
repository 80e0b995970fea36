"""The command registry: one definition per built-in drives /help, parsing, menus, schemas,
autocomplete and /usage; the menu watcher republishes native menus when prompts change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hub.core.builtins import ArgsError, find, help_lines, invocation, menu_entries, parse_args
from hub.core.completion import Completions
from hub.core.limits.config import LimitsConfig
from hub.core.limits.gate import PolicyLimitGate
from hub.core.limits.memory import MemoryRateLimiter
from hub.core.menus import Entries, MenuWatcher
from hub.core.prompts import PromptService
from hub.core.router import Router
from hub.core.routing_config import BackendConfig, RoutingConfig
from tests.doubles.backend import Script, ScriptedBackend
from tests.support.wait import until
from tests.unit.pipeline_kit import collect, done, message, notices, pipeline


def test_each_surface_gets_its_own_help_and_menu() -> None:
    console = help_lines("console")
    telegram = help_lines("telegram")
    assert any(line.startswith("/exit, /quit – leave (Ctrl-D too") for line in console)
    assert not any("/exit" in line for line in telegram)
    assert "/model [MODEL] – show your model, or choose one" in telegram
    assert [name for name, _ in menu_entries("telegram")][:3] == ["help", "new", "model"]
    assert "start" not in dict(menu_entries("telegram"))
    assert all(len(summary) <= 100 for _, summary in menu_entries("discord"))
    assert find("quit", "console") is find("exit")
    assert find("quit", "telegram") is None
    assert find("HELP", "slack") is find("help")


def test_arguments_are_parsed_by_their_schema() -> None:
    model = find("model")
    prompt = find("prompt")
    assert model is not None and prompt is not None
    assert parse_args(model, "") == {}
    assert parse_args(model, "beta:latest") == {"model": "beta:latest"}
    assert parse_args(prompt, "ADD sum Title | two\nlines") == {
        "action": "add",
        "name": "sum",
        "text": "Title | two\nlines",
    }
    with pytest.raises(ArgsError, match=r"^Usage: /prompt show\|add\|edit\|rm\|list"):
        parse_args(prompt, "frobnicate x")
    with pytest.raises(ArgsError):
        parse_args(prompt, "")
    # A structured invocation (Discord options) reaches the hub as the typed text would.
    assert invocation(prompt, {"action": "show", "name": "sum"}) == "/prompt show sum"
    arg = prompt.args[1]
    assert (arg.kind, arg.complete) == ("prompt", "prompts")


async def test_autocomplete_offers_allowed_models_and_visible_prompts(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(), "m2": Script(), "secret": Script()})
    routing = RoutingConfig(
        backends=[BackendConfig(name=backend.name, url="http://scripted.invalid")],
        allowlists={"user": ["m1", "m2"]},
    )
    router = Router(routing, [backend], default_model="m1")
    await router.start()
    try:
        async with pipeline(tmp_path, router, with_prompts=True) as kit:
            assert kit.prompts is not None
            user = await kit.stores.users.for_identity(message("x").user)
            await kit.prompts.create(user, "/summarize", "Sum", "x {{INPUT}}")
            await kit.prompts.create(user, "/translate", "Tr", "y {{INPUT}}")
            completions = Completions(router, kit.prompts)
            assert await completions.complete("models", user) == ["default", "m1", "m2"]
            assert await completions.complete("models", user, "M2") == ["m2"]
            assert await completions.complete("prompts", user, "/tr") == ["translate"]
    finally:
        await router.aclose()


async def test_usage_shows_today_against_the_budget(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(["Hello", " there"])})
    routing = RoutingConfig(backends=[BackendConfig(name=backend.name, url="http://x.invalid")])
    router = Router(routing, [backend], default_model="m1")
    await router.start()
    config = LimitsConfig.model_validate(
        {"per_user": "20/minute", "tokens_per_day": 50_000, "concurrent_per_user": 1}
    )
    gate = PolicyLimitGate(config, MemoryRateLimiter())
    try:
        async with pipeline(tmp_path, router, limits=gate) as kit:
            [before] = notices(await collect(kit.service, message("/usage")))
            assert before.startswith("Today (") and ": 0 requests, 0 tokens" in before
            reply = done(await collect(kit.service, message("hi")))
            total = reply.metrics.prompt_tokens + reply.metrics.completion_tokens
            [after] = notices(await collect(kit.service, message("/usage")))
            assert f": 1 request, {total:,} tokens" in after
            assert (
                f"Daily budget: {total:,} of 50,000 tokens used, {50_000 - total:,} left" in after
            )
            assert "Rate limit: 20 per minute." in after
            assert "At most 1 reply at a time." in after
    finally:
        await router.aclose()


async def test_usage_without_limits(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script()})
    routing = RoutingConfig(backends=[BackendConfig(name=backend.name, url="http://x.invalid")])
    router = Router(routing, [backend], default_model="m1")
    await router.start()
    try:
        async with pipeline(tmp_path, router) as kit:
            [text] = notices(await collect(kit.service, message("/usage")))
            assert text.endswith("You have no limits on this hub.")
    finally:
        await router.aclose()


class Menu:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = [("help", "Help")]
        self.published: list[list[tuple[str, str]]] = []

    async def current(self) -> Entries:
        return list(self.entries)

    async def publish(self, entries: Entries) -> None:
        self.published.append(list(entries))


async def test_menu_watcher_debounces_bursts_and_polls_for_outside_changes() -> None:
    menu = Menu()
    hooks: list = []
    watcher = MenuWatcher(menu.current, menu.publish, hooks=hooks, debounce=0.2, poll=0.5)
    await watcher.start()
    try:
        assert menu.published == [[("help", "Help")]]
        for n in range(5):  # a burst of changes in this process (an import)
            menu.entries.append((f"p{n}", "P"))
            for hook in hooks:
                await hook()
        await until(lambda: len(menu.published) == 2)
        assert len(menu.published[-1]) == 6
        await asyncio.sleep(0.6)  # a poll finds nothing new: nothing is published
        assert len(menu.published) == 2
        menu.entries.append(("cli", "Added by another process"))  # no hook runs
        await until(lambda: len(menu.published) == 3)
        assert menu.published[-1][-1] == ("cli", "Added by another process")
    finally:
        await watcher.stop()
    assert hooks == []


async def test_prompt_service_hooks_never_wait_for_the_platform(tmp_path: Path) -> None:
    menu = Menu()
    async with pipeline(tmp_path, _router(), with_prompts=True) as kit:
        prompts: PromptService | None = kit.prompts
        assert prompts is not None
        watcher = MenuWatcher(menu.current, menu.publish, hooks=prompts.on_change, debounce=60)
        await watcher.start()
        try:
            admin = await kit.stores.users.for_identity(message("x", user="root").user)
            await kit.stores.users.set_role(admin.id, "admin")
            admin = await kit.stores.users.for_identity(message("x", user="root").user)
            await asyncio.wait_for(prompts.create(admin, "/g", "G", "x", scope="global"), 1.0)
        finally:
            await watcher.stop()


def _router() -> Router:
    backend = ScriptedBackend(scripts={"m1": Script()})
    routing = RoutingConfig(backends=[BackendConfig(name=backend.name, url="http://x.invalid")])
    return Router(routing, [backend], default_model="m1")
