"""The Telegram connector plugin (entry point `chathub.connectors: telegram`).

Enabled when `HUB_TELEGRAM__TOKEN` is set. `HUB_TELEGRAM__BASE_URL` takes python-telegram-bot's
`base_url` form (`https://api.telegram.org/bot`, the token is appended), so a local Bot API
server or a test fake can stand in for Telegram.

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

if TYPE_CHECKING:
    from hub.connectors.telegram.bot import TelegramConnector
    from hub.runtime import Services
    from hub.settings import HubSettings

PLATFORM = "telegram"


def running_connector(services: Services | None) -> TelegramConnector | None:
    """The connector the registry started (`services.extras["connectors"]["telegram"]`)."""
    if services is None:
        return None
    found = services.extras.get("connectors", {}).get(PLATFORM)
    from hub.connectors.telegram.bot import TelegramConnector

    return found if isinstance(found, TelegramConnector) else None


class TelegramPlugin:
    """The plugin: `enabled(settings)`, `routes(settings)`, `create(services)` for the registry
    (hub/connectors/registry.py), and `plugin(services)` -> connector or None for direct use.
    """

    name = PLATFORM

    def __call__(self, services: Services) -> TelegramConnector | None:
        return self.create(services) if self.enabled(services.settings) else None

    def enabled(self, settings: HubSettings) -> bool:
        # Settings already refuse webhook mode without a secret (TelegramSettings).
        return settings.telegram.token is not None

    def routes(self, settings: HubSettings) -> list[Any]:
        """The webhook route (webhook mode only); it finds the connector on `app.state`."""
        if not self.enabled(settings) or settings.telegram.mode != "webhook":
            return []
        from hub.connectors.telegram.webhook import webhook_route

        return [webhook_route(lambda request: running_connector(request.app.state.services))]

    def create(self, services: Services) -> TelegramConnector:
        from hub.connectors.telegram.bot import TelegramConnector, global_prompt_commands

        return TelegramConnector(
            services.chat,
            services.settings.telegram,
            commands=global_prompt_commands(services),
            grace=services.settings.chat.shutdown_grace,
            prompt_hooks=services.prompts.on_change if services.prompts is not None else None,
            users=services.stores.users,
        )


plugin = TelegramPlugin()
