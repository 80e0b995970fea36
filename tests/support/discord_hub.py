"""Starting the Discord connector against the fake Discord in a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from hub.connectors.discord.bot import DiscordConnector
from hub.connectors.discord.settings import DiscordSettings
from hub.core.dispatch import ChatLike
from tests.fakes.discord import FakeDiscord

QUICK = {"guild_ready_timeout": 0.2}  # discord.py waits this long for guilds after READY


def discord_settings(fake: FakeDiscord, **values: Any) -> DiscordSettings:
    return DiscordSettings(
        token=fake.token, api_base=fake.api_base, gateway_url=fake.gateway_url, **values
    )


@asynccontextmanager
async def connected(
    fake: FakeDiscord, chat: ChatLike, settings: DiscordSettings | None = None, **options: Any
) -> AsyncIterator[DiscordConnector]:
    """A started connector (stopped afterwards); `options` go to `DiscordConnector`."""
    client_options = {**QUICK, **options.pop("client_options", {})}
    connector = DiscordConnector(
        chat, settings or discord_settings(fake), client_options=client_options, **options
    )
    await connector.start()
    try:
        yield connector
    finally:
        await connector.stop()


Connect = Callable[..., Awaitable[DiscordConnector]]
