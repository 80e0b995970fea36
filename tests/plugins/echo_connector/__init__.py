"""Echo: an example third-party connector, built only on chathub's public plugin API.

It is what a separate package adding a platform looks like (docs/architecture.md, "Adding a
platform"). Its "platform" is one HTTP route: `POST /echo/messages {"user": …, "text": …}`
answers with the model's reply, prefixed. The package is registered as an installed
distribution would register it: `echo_connector-0.1.0.dist-info/entry_points.txt` names
`plugin` in the `chathub.connectors` group.

Settings (`HUB_ECHO__*`, `echo:` in the HUB_CONFIG file, or `.env`):
- `enabled` (false): start the connector;
- `prefix` ("echo: "): put before every reply;
- `max_chars` (500): cut replies longer than this;
- `required` (true, from ConnectorSettings): whether a failure to start stops the hub.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import Field

from hub.connectors.plugin import ConnectorSettings
from hub.core.models import Done, Failed, IncomingMessage, PlatformUser, Text

if TYPE_CHECKING:
    from hub.runtime import Services

log = logging.getLogger(__name__)

PLATFORM = "echo"


class EchoSettings(ConnectorSettings):
    """The `echo` section; every field has a default, so an absent section is valid (off)."""

    enabled: bool = False
    prefix: str = "echo: "
    max_chars: int = Field(default=500, gt=0)


class EchoConnector:
    """Answers each message through the hub's ChatService, like every connector."""

    name = PLATFORM

    def __init__(self, services: Services, settings: EchoSettings) -> None:
        self.chat = services.chat
        self.settings = settings
        self.running = False

    async def start(self) -> None:
        self.running = True
        log.info("echo connector listening", extra={"prefix": self.settings.prefix})

    async def stop(self) -> None:
        self.running = False

    async def answer(self, user: str, text: str) -> str:
        """The reply to `text` from `user`, as this platform shows it."""
        who = PlatformUser(PLATFORM, user, user)
        msg = IncomingMessage(PLATFORM, chat_id=user, user=who, text=text)
        reply = ""
        async for event in self.chat.reply(msg):
            if isinstance(event, Text):
                reply += event.delta
            elif isinstance(event, Done):
                reply = event.text
            elif isinstance(event, Failed):
                reply = event.reason
        return (self.settings.prefix + reply)[: self.settings.max_chars]


class EchoPlugin:
    """The object the `chathub.connectors` entry point names."""

    name = PLATFORM
    settings_model = EchoSettings

    def enabled(self, settings: EchoSettings) -> bool:
        return settings.enabled

    def routes(self, settings: EchoSettings) -> list[Any]:
        if not settings.enabled:
            return []
        from echo_connector.web import message_route  # Litestar only when it is used

        return [message_route]

    def create(self, services: Services, settings: EchoSettings) -> EchoConnector:
        return EchoConnector(services, settings)

    async def verify(self, settings: EchoSettings) -> str:
        """The credentials hook: an echo has none to check, so it says what it will do."""
        return f"replies prefixed {settings.prefix!r}"


plugin = EchoPlugin()
