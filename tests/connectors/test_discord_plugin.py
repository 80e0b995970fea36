"""The Discord plugin's settings, credentials check and start-up errors, each one sentence."""

from __future__ import annotations

import gc
import socket

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route
from pydantic import ValidationError

from hub.connectors.discord import plugin
from hub.connectors.discord.client import INTENT_OFF
from hub.connectors.discord.settings import DiscordSettings
from hub.connectors.plugin import CredentialsRefused, PlatformUnreachable
from hub.settings import SettingsError, load_settings
from tests.fakes.discord import FakeDiscord
from tests.support.chat import ScriptedChat
from tests.support.discord_hub import connected, discord_settings


def test_off_without_a_token_and_on_with_one() -> None:
    assert not plugin.enabled(DiscordSettings(token=""))
    assert plugin.enabled(DiscordSettings(token="abc.def.ghi"))
    assert DiscordSettings(token="Bot abc.def").token.get_secret_value() == "abc.def"  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="is not a bot token"):
        DiscordSettings(token="abc def-secret")
    with pytest.raises(ValidationError, match="not a websocket URL"):
        DiscordSettings(gateway_url="https://gateway.discord.gg")


def test_a_malformed_token_is_one_line_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DISCORD__TOKEN", "abc def-secret")
    with pytest.raises(SettingsError) as caught:
        load_settings(plugins=[plugin])
    assert str(caught.value).startswith("HUB_DISCORD__TOKEN: is not a bot token")
    assert "def-secret" not in str(caught.value)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DISCORD__TOKEN", "abc.def.ghi")
    monkeypatch.setenv("HUB_DISCORD__THREAD_CHANNELS", "111, 222")
    monkeypatch.setenv("HUB_DISCORD__ALLOW_ROLES", "[333]")
    monkeypatch.setenv("HUB_DISCORD__SHARD_COUNT", "4")
    section = load_settings(plugins=[plugin]).section("discord")
    assert isinstance(section, DiscordSettings)
    assert section.thread_channels == ("111", "222") and section.allow_roles == ("333",)
    assert section.shard_count == 4 and section.api_base == "https://discord.com/api/v10"


async def test_verify_names_the_bot_or_says_why_not(fake_discord: FakeDiscord) -> None:
    good = await plugin.verify(discord_settings(fake_discord))
    assert good == f"bot {fake_discord.bot.username} ({fake_discord.bot.id})"
    with pytest.raises(CredentialsRefused, match=r"^Discord refused HUB_DISCORD__TOKEN"):
        await plugin.verify(DiscordSettings(token="wrong.token", api_base=fake_discord.api_base))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nowhere = DiscordSettings(token="a.b", api_base=f"http://127.0.0.1:{port}/api/v10")
    with pytest.raises(PlatformUnreachable, match=r"^Discord did not answer at http://127"):
        await plugin.verify(nowhere)


async def test_the_message_content_intent_switched_off_is_one_sentence(
    fake_discord: FakeDiscord,
) -> None:
    fake_discord.privileged_intents = 0  # the portal switch is off
    with pytest.raises(CredentialsRefused) as caught:
        async with connected(fake_discord, ScriptedChat(lambda m: "")):
            pass
    assert str(caught.value) == INTENT_OFF


async def test_a_token_refused_at_login_is_one_sentence(fake_discord: FakeDiscord) -> None:
    settings = DiscordSettings(
        token="wrong.token", api_base=fake_discord.api_base, gateway_url=fake_discord.gateway_url
    )
    with pytest.raises(CredentialsRefused, match=r"^Discord refused HUB_DISCORD__TOKEN"):
        async with connected(fake_discord, ScriptedChat(lambda m: ""), settings):
            pass


async def test_a_failed_start_leaves_discord_py_pointed_where_it_was(
    fake_discord: FakeDiscord,
) -> None:
    before = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    settings = DiscordSettings(
        token="wrong.token", api_base=fake_discord.api_base, gateway_url="ws://127.0.0.1:9/"
    )
    with pytest.raises(CredentialsRefused):
        async with connected(fake_discord, ScriptedChat(lambda m: ""), settings):
            pass
    assert before == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    gc.collect()  # nothing left behind puts other URLs back later
    assert before == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
