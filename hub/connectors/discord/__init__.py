"""The Discord connector plugin (entry point `chathub.connectors: discord`).

Enabled when `HUB_DISCORD__TOKEN` is set (settings: `settings.py`). `HUB_DISCORD__API_BASE`
(discord.py's `Route.BASE` form) and `HUB_DISCORD__GATEWAY_URL` (a `wss://` URL) point it at
another server, such as the test suite's fake. `verify` asks `GET /users/@me` whether Discord
accepts the token (for `chathub check`, and before each start).

Loading this module is cheap: discord.py is imported only when the plugin is used. The pieces:
`bot.py` (the connector), `client.py` (discord.py's client and its lifecycle), `events.py` (who
is answered), `chain.py` (reply-chain history), `commands.py` (slash commands), `sink.py` and
`stop.py` (writing replies), `limits.py` (Discord's rate-limit answers into the budgets),
`access.py` (roles and deny lists). docs/discord.md is the user's guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.connectors.discord.settings import DiscordSettings
from hub.connectors.plugin import CredentialsRefused, PlatformUnreachable

if TYPE_CHECKING:
    from hub.connectors.discord.bot import DiscordConnector
    from hub.runtime import Services

PLATFORM = "discord"
VERIFY_TIMEOUT = 10.0  # seconds for GET /users/@me


class DiscordPlugin:
    """The plugin the registry (hub/connectors/registry.py) uses."""

    name = PLATFORM
    settings_model = DiscordSettings

    def enabled(self, settings: DiscordSettings) -> bool:
        return settings.token is not None

    def routes(self, settings: DiscordSettings) -> list[Any]:
        return []  # everything arrives over the gateway

    def create(self, services: Services, settings: DiscordSettings) -> DiscordConnector:
        from hub.connectors.discord.bot import DiscordConnector, global_prompts
        from hub.core.completion import Completions

        prompts = services.prompts
        coordination = services.coordination
        lease = None
        if coordination is not None and coordination.shared:
            lease = coordination.lease(gateway_duty(settings))
        return DiscordConnector(
            services.chat,
            settings,
            prompts=global_prompts(services),
            completions=Completions(services.router, prompts),
            users=services.stores.users,
            grace=services.settings.chat.shutdown_grace,
            prompt_hooks=prompts.on_change if prompts is not None else None,
            stops=coordination.stops if coordination is not None else None,
            gateway_lease=lease,
        )

    async def verify(self, settings: DiscordSettings) -> str:
        """`GET /users/@me` with the token: the bot's name, or why it cannot be used."""
        import aiohttp

        assert settings.token is not None
        url = settings.api_base + "/users/@me"
        headers = {"Authorization": "Bot " + settings.token.get_secret_value()}
        timeout = aiohttp.ClientTimeout(total=VERIFY_TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, headers=headers) as response,
            ):
                if response.status == 401:
                    raise CredentialsRefused(
                        "Discord refused HUB_DISCORD__TOKEN (401 Unauthorized); copy the token "
                        "again from the Developer Portal (your application → Bot → Reset Token)."
                    )
                if response.status != 200:
                    raise PlatformUnreachable(
                        f"Discord answered {response.status} at {_where(settings.api_base)}; "
                        "check HUB_DISCORD__API_BASE."
                    )
                me = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PlatformUnreachable(
                f"Discord did not answer at {_where(settings.api_base)} "
                f"({type(exc).__name__}: {exc}); check the network or HUB_DISCORD__API_BASE."
            ) from None
        return f"bot {me.get('username', '?')} ({me.get('id', '?')})"


def gateway_duty(settings: DiscordSettings) -> str:
    """The lease name of this replica's gateway connection: the bot (a digest of its token,
    never the token) and the shards it connects."""
    import hashlib

    assert settings.token is not None
    bot = hashlib.sha256(settings.token.get_secret_value().encode()).hexdigest()[:16]
    shards = ",".join(map(str, sorted(settings.shard_ids))) or "all"
    return f"discord:gateway:{bot}:{shards}"


def _where(api_base: str) -> str:
    from hub.core.urls import without_credentials

    return without_credentials(api_base)


plugin = DiscordPlugin()
