"""The Discord connector on the whole hub (open_services: SQLite, limiter, router, prompts,
ChatService) with the real discord.py, against the fake Discord and the fake Ollama: slash
commands, autocomplete, per-user models, prompt commands kept current, images."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.bootstrap import open_services
from hub.connectors.discord import plugin
from hub.connectors.discord.bot import DiscordConnector, global_prompts
from hub.core.chat_config import ChatConfig
from hub.core.completion import Completions
from hub.core.models import PlatformUser, Prompt, User
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.runtime import Services
from hub.settings import settings_class
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_world import Channel, Guild
from tests.fakes.discord_world import User as DiscordUser
from tests.fakes.ollama import FakeOllama
from tests.support.discord_hub import QUICK, discord_settings
from tests.support.wait import until

MODEL = "gemma3:270m"
OTHER = "llama3.2:1b"
HIDDEN = "qwen3:32b"  # served, but not on the users' allowlist
PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@dataclass
class Hub:
    services: Services
    connector: DiscordConnector
    ollama: FakeOllama
    fake: FakeDiscord
    guild: Guild
    channel: Channel
    ada: DiscordUser
    bob: DiscordUser

    async def user(self, who: DiscordUser) -> User:
        return await self.services.stores.users.for_identity(
            PlatformUser("discord", str(who.id), who.username)
        )

    def texts(self) -> list[str]:
        return [m.content for m in self.fake.messages_in(self.channel)]

    def commands(self) -> list[str]:
        return [name for (g, name) in self.fake.world.commands if g == self.guild.id]

    async def settled(self, replies: int) -> None:
        await until(
            lambda: len(self.ollama.chat_requests) >= replies and not self.connector.busy,
            within=30,
        )


Start = Callable[..., Awaitable[Hub]]


@pytest.fixture
async def start_hub(tmp_path: Path, fake_discord: FakeDiscord) -> AsyncIterator[Start]:
    stack: list[Any] = []

    async def start(
        *, menu_poll: float = 60.0, chat: ChatConfig | None = None, **extra: Any
    ) -> Hub:
        guild = fake_discord.add_guild("Lab", ("general",))
        ada = fake_discord.add_user("Ada", guild=guild)
        bob = fake_discord.add_user("Bob", guild=guild)
        ollama = await FakeOllama(models=[MODEL, OTHER, HIDDEN]).start()
        stack.append(ollama)
        section = discord_settings(fake_discord, **extra)
        routing = RoutingConfig(
            backends=[BackendConfig(name="local", kind="ollama", url=ollama.url)],
            allowlists={"user": [MODEL, OTHER]},
        )
        settings = settings_class([plugin])(
            _env_file=None,
            data_dir=tmp_path / "data",
            default_model=MODEL,
            chat=chat or ChatConfig(),
            routing=routing,
            discord=section,
        )
        services_cm = open_services(settings)
        services = await services_cm.__aenter__()
        stack.append(services_cm)
        assert services.prompts is not None
        # As the plugin builds it (hub/connectors/discord/__init__.py), quicker.
        connector = DiscordConnector(
            services.chat,
            section,
            prompts=global_prompts(services),
            completions=Completions(services.router, services.prompts),
            users=services.stores.users,
            prompt_hooks=services.prompts.on_change,
            menu_debounce=0.1,
            menu_poll=menu_poll,
            client_options=QUICK,
        )
        await connector.start()
        stack.append(connector)
        channel = fake_discord.channel(guild)
        return Hub(services, connector, ollama, fake_discord, guild, channel, ada, bob)

    yield start
    for item in reversed(stack):
        if isinstance(item, DiscordConnector | FakeOllama):
            await item.stop()
        else:
            await item.__aexit__(None, None, None)


def mention(hub: Hub, text: str) -> str:
    return f"{hub.fake.mention(hub.fake.bot)} {text}"


async def test_slash_commands_are_registered_per_guild_from_the_registry(
    start_hub: Start,
) -> None:
    hub = await start_hub()
    names = hub.commands()
    assert names[:1] == ["ask"]
    assert {"help", "new", "model", "models", "prompts", "prompt", "usage", "stop"} <= set(names)
    assert hub.fake.world.find_command("model", None) is None  # per guild, none global
    body = hub.fake.world.commands[(hub.guild.id, "model")].body
    [option] = body["options"]
    assert option["name"] == "model" and option["autocomplete"] is True
    prompt_options = hub.fake.world.commands[(hub.guild.id, "prompt")].body["options"]
    assert [o["name"] for o in prompt_options] == ["action", "name", "text"]
    assert {c["value"] for c in prompt_options[0]["choices"]} >= {"add", "rm", "show"}


async def test_a_deferred_slash_command_is_streamed_through_follow_up_edits(
    start_hub: Start,
) -> None:
    hub = await start_hub()
    hub.ollama.script(MODEL, token_count=120, tokens_per_second=40)
    asked = await hub.fake.slash(hub.channel, hub.ada, "ask", text="count for me")
    await hub.settled(1)
    assert asked.response_type == 5  # deferred ("thinking…")
    assert asked.responded_at is not None and asked.responded_at - asked.created < 3.0
    original = hub.fake.world.messages[asked.original_id or 0]
    expected = " ".join(f"t{i}" for i in range(120))
    assert original.content.split() == expected.split()
    assert original.edits >= 2 and original.components == []
    assert hub.ollama.chat_requests[0].json["messages"][-1]["content"] == "count for me"
    assert hub.fake.count_429() == 0


async def test_model_autocomplete_and_the_choice_is_per_user(start_hub: Start) -> None:
    hub = await start_hub()
    suggested = await hub.fake.autocomplete(hub.channel, hub.ada, "model", "model", model="")
    await until(lambda: suggested.choices is not None)
    assert [c["value"] for c in suggested.choices or []] == ["default", MODEL, OTHER]
    narrowed = await hub.fake.autocomplete(hub.channel, hub.ada, "model", "model", model="ll")
    await until(lambda: narrowed.choices is not None)
    assert [c["value"] for c in narrowed.choices or []] == [OTHER]

    chosen = await hub.fake.slash(hub.channel, hub.ada, "model", model=OTHER)
    await until(lambda: hub.fake.world.messages.get(chosen.original_id or 0) is not None)
    await until(lambda: OTHER in hub.fake.world.messages[chosen.original_id or 0].content)
    assert (await hub.user(hub.ada)).model == OTHER
    assert (await hub.user(hub.bob)).model is None

    hub.ollama.script(OTHER, tokens=["from", " other"])
    hub.ollama.script(MODEL, tokens=["from", " default"])
    await hub.fake.user_message(hub.channel, hub.ada, mention(hub, "hi"))
    await hub.settled(1)
    await hub.fake.user_message(hub.channel, hub.bob, mention(hub, "hi"))
    await hub.settled(2)
    assert [r.json["model"] for r in hub.ollama.chat_requests] == [OTHER, MODEL]


async def test_prompt_commands_follow_prompt_changes_without_a_restart(start_hub: Start) -> None:
    hub = await start_hub(menu_poll=0.5)
    assert "summarize" not in hub.commands()
    admin = await hub.user(hub.ada)
    await hub.services.stores.users.set_role(admin.id, "admin")
    add = "/prompt add summarize --global Summarize | Sum up: {{INPUT}}"
    await hub.fake.user_message(hub.channel, hub.ada, mention(hub, add))
    await until(lambda: "summarize" in hub.commands(), within=30)
    body = hub.fake.world.commands[(hub.guild.id, "summarize")].body
    assert body["description"] == "Summarize" and body["options"][0]["name"] == "text"

    hub.ollama.script(MODEL, tokens=["Short."])
    run = await hub.fake.slash(hub.channel, hub.bob, "summarize", text="a long story")
    await hub.settled(1)
    assert hub.ollama.chat_requests[0].json["messages"][-1]["content"] == "Sum up: a long story"
    assert hub.fake.world.messages[run.original_id or 0].content == "Short."

    # Another process (`chathub prompts add`, another worker) writes the store directly.
    digest = Prompt("/digest", "Daily digest", "Digest: {{INPUT}}", "cli", "global")
    await hub.services.stores.prompts.create(digest)
    await until(lambda: "digest" in hub.commands(), within=30)


async def test_an_image_reaches_a_vision_model_and_an_oversize_one_gets_a_notice(
    start_hub: Start,
) -> None:
    hub = await start_hub(chat=ChatConfig(max_image_bytes=20_000))
    hub.ollama.script(MODEL, tokens=["A", " cat."], extra_show={"capabilities": ["vision"]})
    png = hub.fake.attachment(hub.channel, "cat.png", PICTURE, "image/png", (64, 64))
    await hub.fake.user_message(hub.channel, hub.ada, mention(hub, "What is this?"),
                                attachments=[png])  # fmt: skip
    await hub.settled(1)
    last = hub.ollama.chat_requests[0].json["messages"][-1]
    assert last["content"] == "What is this?"
    assert last["images"] == [base64.b64encode(PICTURE).decode()]
    assert hub.texts() == ["A cat."]

    big = hub.fake.attachment(hub.channel, "big.png", PICTURE * 3, "image/png", (640, 640))
    await hub.fake.user_message(hub.channel, hub.ada, mention(hub, "and this?"), attachments=[big])
    await until(lambda: len(hub.texts()) == 2 and not hub.connector.busy)
    assert hub.texts()[-1] == (
        "⚠ That image is 30 KB; images up to 20 KB can be sent to a model. Send a smaller one."
    )
    assert len(hub.ollama.chat_requests) == 1  # never reached the model


async def test_the_stop_button_closes_the_upstream_request(start_hub: Start) -> None:
    hub = await start_hub()
    hub.ollama.script(MODEL, token_count=5000, tokens_per_second=50)
    await hub.fake.user_message(hub.channel, hub.ada, mention(hub, "go on forever"))
    await until(lambda: any(m.components for m in hub.fake.messages_in(hub.channel)), within=20)
    shown = hub.fake.messages_in(hub.channel)[0]
    await hub.fake.click(shown, shown.custom_ids()[0], hub.ada)
    await hub.ollama.wait_for(lambda: hub.ollama.connections_closed == 1, within=20)
    await until(lambda: not hub.connector.busy, within=20)
    final = hub.fake.messages_in(hub.channel)
    assert final[-1].content.endswith("⚠ reply interrupted: reply stopped.")
    assert all(m.components == [] for m in final)
