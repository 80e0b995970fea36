"""The Telegram connector plugin (entry point `chathub.connectors: telegram`).

Enabled when `HUB_TELEGRAM__TOKEN` is set (settings: `settings.py`). `HUB_TELEGRAM__BASE_URL`
takes python-telegram-bot's `base_url` form (`https://api.telegram.org/bot`, the token is
appended), so a local Bot API server or a test fake can stand in for Telegram. `verify` asks
`getMe` whether Telegram accepts the token (for `chathub check`, and before each start).

- polling (default): python-telegram-bot's updater long-polls `getUpdates`.
- webhook: `POST /webhooks/telegram` on the hub's Litestar app checks
  `X-Telegram-Bot-Api-Secret-Token` (403 on mismatch) and queues the update.
  `HUB_TELEGRAM__WEBHOOK_SECRET` is required; with `HUB_TELEGRAM__WEBHOOK_URL` set the connector
  registers the webhook with Telegram at start.

Loading this module is cheap: python-telegram-bot (`bot.py`) and Litestar
(`webhook.py`) are imported only when the plugin is used. Who is answered in groups,
and the BotFather privacy setting that needs: `updates.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.connectors.plugin import CredentialsRefused, PlatformUnreachable
from hub.connectors.telegram.settings import TelegramSettings

if TYPE_CHECKING:
    from hub.connectors.telegram.bot import TelegramConnector
    from hub.runtime import Services

PLATFORM = "telegram"
VERIFY_TIMEOUT = 10.0  # seconds for getMe


def running_connector(services: Services | None) -> TelegramConnector | None:
    """The connector the registry started (`services.extras["connectors"]["telegram"]`)."""
    if services is None:
        return None
    found = services.extras.get("connectors", {}).get(PLATFORM)
    from hub.connectors.telegram.bot import TelegramConnector

    return found if isinstance(found, TelegramConnector) else None


class TelegramPlugin:
    """The plugin the registry (hub/connectors/registry.py) uses: its settings section,
    `enabled`, `routes`, `create` and the credentials hook `verify`."""

    name = PLATFORM
    settings_model = TelegramSettings
    title = "Telegram"
    setup = "set HUB_TELEGRAM__TOKEN (see docs/telegram.md)"

    def enabled(self, settings: TelegramSettings) -> bool:
        # The section already refuses webhook mode without a secret and malformed tokens.
        return settings.token is not None

    def routes(self, settings: TelegramSettings) -> list[Any]:
        """The webhook route (webhook mode only); it finds the connector on `app.state`."""
        if not self.enabled(settings) or settings.mode != "webhook":
            return []
        from hub.connectors.telegram.webhook import webhook_route

        return [webhook_route(lambda request: running_connector(request.app.state.services))]

    def create(self, services: Services, settings: TelegramSettings) -> TelegramConnector:
        from hub.connectors.telegram.bot import TelegramConnector, global_prompt_commands

        coordination = services.coordination
        shared = coordination is not None and coordination.shared
        poll_lease = None
        if shared and settings.mode == "polling":
            assert coordination is not None and settings.token is not None
            bot_id = settings.token.get_secret_value().partition(":")[0]  # not secret
            poll_lease = coordination.lease(f"telegram:poll:{bot_id}")
        return TelegramConnector(
            services.chat,
            settings,
            commands=global_prompt_commands(services),
            grace=services.settings.chat.shutdown_grace,
            prompt_hooks=services.prompts.on_change if services.prompts is not None else None,
            users=services.stores.users,
            stops=coordination.stops if coordination is not None else None,
            poll_lease=poll_lease,
        )

    async def verify(self, settings: TelegramSettings) -> str:
        """`getMe` with the configured token: the bot's @username, or why it cannot be used."""
        from telegram import Bot
        from telegram.error import InvalidToken, TelegramError
        from telegram.request import HTTPXRequest

        assert settings.token is not None
        request = HTTPXRequest(connect_timeout=VERIFY_TIMEOUT, read_timeout=VERIFY_TIMEOUT)
        bot = Bot(settings.token.get_secret_value(), base_url=settings.base_url, request=request)
        try:
            me = await bot.get_me()
        except InvalidToken:
            raise CredentialsRefused(
                "Telegram refused HUB_TELEGRAM__TOKEN (401 Unauthorized); copy the token "
                "again from @BotFather (/mybots → API Token), or /revoke and set the new one."
            ) from None
        except TelegramError as exc:
            raise PlatformUnreachable(
                f"Telegram did not answer at {_where(settings.base_url)} ({_reason(exc)}); "
                "check the network or HUB_TELEGRAM__BASE_URL."
            ) from None
        finally:
            await request.shutdown()
        return f"bot @{me.username}"


def _where(base_url: str) -> str:
    from hub.core.urls import without_credentials

    return without_credentials(base_url).removesuffix("/bot")


def _reason(exc: Exception) -> str:
    # PTB's messages for network errors never contain the token (it is only in the URL).
    return str(exc).rstrip(".") or type(exc).__name__


plugin = TelegramPlugin()
