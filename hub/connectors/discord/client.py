"""The discord.py client the connector runs: built on the running loop, pointed where the
settings say, started without blocking and stopped with the app.

`HUB_DISCORD__API_BASE` and `HUB_DISCORD__GATEWAY_URL` are discord.py's process-wide
`Route.BASE` and `DiscordWebSocket.DEFAULT_GATEWAY`: `Pointed` sets them for the client's
lifetime and puts the previous values back. Sharding: a `shard_count` of 1 is a plain
`discord.Client`; otherwise `discord.AutoShardedClient`, with the given count or, unset, as many
shards as Discord recommends for the bot's guilds (`GET /gateway/bot`). discord.py reconnects
by itself after a dropped gateway connection and resumes the session, so Discord replays the
events missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from hub.connectors.discord.settings import DiscordSettings
from hub.connectors.plugin import ConnectorError, CredentialsRefused, PlatformUnreachable

MAX_RATELIMIT_TIMEOUT = 30.0  # discord.py's minimum: longer waits come back as errors
READY_TIMEOUT = 60.0  # seconds from login to READY and the guilds
INTENT_OFF = (
    "Discord refused the Message Content intent: switch it on in the Developer Portal "
    "(your application → Bot → Privileged Gateway Intents → Message Content Intent)."
)
TOKEN_REFUSED = (
    "Discord refused HUB_DISCORD__TOKEN (401 Unauthorized); copy the token again from the "
    "Developer Portal (your application → Bot → Reset Token)."
)


class Pointed:
    """discord.py's REST base and gateway as the settings say, until `restore()`.

    A plain object rather than a generator context manager on purpose: a suspended generator
    runs its `finally` when garbage-collected, which would put old URLs back at a random moment
    under another client.
    """

    def __init__(self, settings: DiscordSettings) -> None:
        self._saved: tuple[str, yarl.URL] | None = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        Route.BASE = settings.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)

    def restore(self) -> None:
        """Put the previous URLs back (once)."""
        if self._saved is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None


def intents() -> discord.Intents:
    """Guilds, guild and DM messages, and the Message Content intent (a portal switch)."""
    value = discord.Intents.default()
    value.message_content = True
    value.presences = False
    value.members = False
    return value


def build_client(
    settings: DiscordSettings,
    trace: aiohttp.TraceConfig,
    client_class: type[discord.Client] | None = None,
    **extra: Any,
) -> discord.Client:
    """The client, not started; `extra` reaches discord.py (tests shorten `guild_ready_timeout`)."""
    options: dict[str, Any] = {
        "intents": intents(),
        "allowed_mentions": discord.AllowedMentions.none(),
        "max_ratelimit_timeout": MAX_RATELIMIT_TIMEOUT,
        "http_trace": trace,
        "chunk_guilds_at_startup": False,
        **extra,
    }
    # The hub has no voice: discord.py's warnings about missing voice libraries are noise.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    if client_class is None:
        sharded = settings.shard_count is None or settings.shard_count > 1
        client_class = discord.AutoShardedClient if sharded else discord.Client
    if issubclass(client_class, discord.AutoShardedClient):
        options["shard_count"] = settings.shard_count
        if settings.shard_ids:  # this replica's part of the bot's shards
            options["shard_ids"] = list(settings.shard_ids)
    return client_class(**options)


def start_error(exc: BaseException) -> ConnectorError:
    """Why the client could not start, as one sentence."""
    if isinstance(exc, discord.LoginFailure):
        return CredentialsRefused(TOKEN_REFUSED)
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return CredentialsRefused(INTENT_OFF)
    if isinstance(exc, discord.GatewayNotFound | aiohttp.ClientError | OSError):
        return PlatformUnreachable(
            f"Discord did not answer ({exc}); check the network, HUB_DISCORD__API_BASE and "
            "HUB_DISCORD__GATEWAY_URL."
        )
    if isinstance(exc, discord.ConnectionClosed):
        return PlatformUnreachable(f"Discord closed the gateway connection (code {exc.code}).")
    return ConnectorError(f"the discord connector failed to start: {exc}")


async def run_until_ready(
    client: discord.Client, token: str, within: float = READY_TIMEOUT
) -> asyncio.Task[None]:
    """Start `client` in a task of its own; return it once the client is ready.

    Raises `ConnectorError` when the client stops first (refused token, intent switched off)
    or is not ready in time.
    """
    runner = asyncio.create_task(client.start(token), name="discord-client")
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait(
            {runner, ready}, timeout=within, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        ready.cancel()
    if runner in done:
        exc = runner.exception()
        raise (
            start_error(exc)
            if exc is not None
            else ConnectorError("the discord client stopped before it was ready")
        )
    if ready not in done:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        raise PlatformUnreachable(f"Discord's gateway was not ready within {within:.0f} s.")
    return runner
