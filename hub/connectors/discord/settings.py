"""The Discord connector's settings: `HUB_DISCORD__*`, or `discord:` in the HUB_CONFIG file.

The connector is off unless a token is set (an empty value is not set). Who may use the bot:
the seam's `AccessSettings` (`allow_users`, `allow_chats` — channel, thread or guild ids —
`admins`), extended here with roles and deny lists (`access.py`). docs/discord.md describes
every setting.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from hub.connectors.plugin import ConnectorSettings
from hub.core.access import AccessSettings, IdList
from hub.core.urls import http_url

API_BASE = "https://discord.com/api/v10"  # discord.py's `Route.BASE`
GATEWAY_URL = "wss://gateway.discord.gg"  # discord.py's `DiscordWebSocket.DEFAULT_GATEWAY`


class DiscordSettings(ConnectorSettings, AccessSettings):
    token: SecretStr | None = None
    api_base: str = API_BASE
    gateway_url: str = GATEWAY_URL
    # None: as many shards as Discord recommends (`GET /gateway/bot`), with discord.py's
    # AutoShardedClient once that is more than one; a number: exactly that many.
    shard_count: int | None = Field(default=None, ge=1)
    # The shards this replica connects (with shard_count): replicas given different ids split
    # the bot's guilds; empty: every shard. With Redis, one replica at a time holds a given set
    # (docs/scaling.md).
    shard_ids: list[int] = Field(default_factory=list)
    thread_channels: IdList = ()  # channels where each new conversation opens its own thread
    allow_roles: IdList = ()  # role ids whose members may use the bot in their guild
    deny_users: IdList = ()  # never answered, whatever else allows them
    deny_chats: IdList = ()  # channels, threads or guilds where the bot never answers
    deny_roles: IdList = ()  # members with one of these roles are never answered
    chain_limit: int = Field(default=25, ge=1, le=100)  # messages of a reply chain read back
    command_guilds: IdList = ()  # register slash commands only in these guilds (empty: all)

    @field_validator("token")
    @classmethod
    def _looks_like_a_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value().strip().removeprefix("Bot ").strip()
        if not token or any(c.isspace() for c in token):
            # The value itself is never repeated: it may be a real token with a typo.
            raise ValueError(
                "is not a bot token; copy it from the Developer Portal (Bot → Reset Token), "
                "without spaces or the word Bot"
            )
        return SecretStr(token)

    @model_validator(mode="after")
    def _shards_within_the_count(self) -> DiscordSettings:
        if self.shard_ids:
            if self.shard_count is None:
                raise ValueError("shard_ids: set shard_count too (the bot's total of shards)")
            wrong = [i for i in self.shard_ids if not 0 <= i < self.shard_count]
            if wrong:
                raise ValueError(
                    f"shard_ids: {wrong} not within 0..{self.shard_count - 1} (shard_count)"
                )
        return self

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return http_url(value).rstrip("/")

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, value: str) -> str:
        text = value.strip()
        scheme, sep, rest = text.partition("://")
        if not sep or scheme not in ("ws", "wss") or not rest.strip("/"):
            raise ValueError(f"{text!r} is not a websocket URL; write it as wss://host/")
        return text
