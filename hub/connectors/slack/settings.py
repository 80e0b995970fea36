"""The Slack connector's settings: `HUB_SLACK__*`, or `slack:` in the HUB_CONFIG file.

The connector is off unless the bot token is set (an empty value is not set). It then needs a
way to receive events: the app-level token (Socket Mode, no public URL) or the signing secret
(HTTP mode, Slack posts to `/webhooks/slack`); with both, Socket Mode. Who may use the bot:
`AccessSettings` (`allow_users`, `allow_chats` with channel or workspace ids, `admins`).
Values that cannot be what they claim fail here, before anything starts; tokens Slack refuses
fail at start-up (`verify`), or, with `required: false`, leave the rest of the hub running.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import SecretStr, field_validator, model_validator

from hub.connectors.plugin import ConnectorSettings
from hub.core.access import AccessSettings
from hub.core.urls import http_url

_COMMAND = re.compile(r"/[a-z0-9_.-]{1,31}")


def _token(value: SecretStr | None, prefix: str, what: str) -> SecretStr | None:
    if value is None:
        return None
    token = value.get_secret_value().strip()
    if not token.startswith(prefix) or any(c.isspace() for c in token):
        # The value itself is never repeated: it may be a real token with a typo.
        raise ValueError(f"is not {what}; Slack's start with {prefix}")
    return SecretStr(token)


class SlackSettings(ConnectorSettings, AccessSettings):
    bot_token: SecretStr | None = None  # xoxb-: every Web API call
    app_token: SecretStr | None = None  # xapp- with connections:write: Socket Mode
    signing_secret: SecretStr | None = None  # HTTP mode: checks requests to /webhooks/slack
    base_url: str = "https://slack.com/api/"  # slack_sdk's form, with the trailing slash
    command: str = "/ask"  # the slash command, as named in the app's manifest
    streams: bool = True  # native chat streams (chat.startStream…) where Slack allows them

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _token(value, "xoxb-", "a bot token (OAuth & Permissions → Bot User OAuth Token)")

    @field_validator("app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _token(value, "xapp-", "an app-level token (Basic Information → App-Level Tokens)")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return http_url(value).rstrip("/") + "/"

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        name = value.strip().lower()
        name = name if name.startswith("/") else "/" + name
        if not _COMMAND.fullmatch(name):
            raise ValueError(
                "is not a slash command name; Slack's are / and up to 31 letters, digits, _ - ."
            )
        return name

    @model_validator(mode="after")
    def _needs_a_way_in(self) -> SlackSettings:
        if self.bot_token is not None and self.app_token is None and self.signing_secret is None:
            raise ValueError(
                "app_token: required with HUB_SLACK__BOT_TOKEN (Socket Mode), or set "
                "HUB_SLACK__SIGNING_SECRET to receive events over HTTP at /webhooks/slack"
            )
        return self

    @property
    def mode(self) -> Literal["socket", "http"]:
        """How events arrive: Socket Mode when there is an app token, else HTTP."""
        return "socket" if self.app_token is not None else "http"
