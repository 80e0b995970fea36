"""The Telegram connector's settings: `HUB_TELEGRAM__*`, or `telegram:` in the HUB_CONFIG file.

The connector is off unless a token is set (an empty value is not set). Who may use the bot:
`AccessSettings` (`allow_users`, `allow_chats`, `admins`; docs/telegram.md). A token that cannot be
one fails here, before anything starts; one Telegram refuses fails at start-up (or, with
`required: false`, leaves the rest of the hub running and the connector reported down).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from hub.connectors.plugin import ConnectorSettings
from hub.core.access import AccessSettings
from hub.core.urls import http_url

# BotFather's tokens: the bot's numeric id, a colon, then letters, digits, `-` and `_`.
_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")


class TelegramSettings(ConnectorSettings, AccessSettings):
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"  # python-telegram-bot's form; token appended
    mode: Literal["polling", "webhook"] = "polling"
    webhook_secret: SecretStr | None = None
    webhook_url: str | None = None  # public URL Telegram should call in webhook mode
    drafts: bool = True  # stream private replies as native drafts (sendMessageDraft)
    poll_timeout: int = Field(default=30, ge=0, le=50)  # getUpdates long-poll seconds

    @field_validator("token")
    @classmethod
    def _looks_like_a_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value().strip()
        if not _TOKEN.fullmatch(token):
            # The value itself is never repeated: it may be a real token with a typo.
            raise ValueError(
                "is not a bot token; BotFather gives one like 123456789:AAH… (the bot's "
                "number, a colon, then letters, digits, - and _)"
            )
        return SecretStr(token)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> TelegramSettings:
        if self.token is not None and self.mode == "webhook" and self.webhook_secret is None:
            # Without it anyone who finds the URL could post fake updates as any user.
            raise ValueError("webhook_secret: required when HUB_TELEGRAM__MODE=webhook")
        return self
