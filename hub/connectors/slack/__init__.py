"""The Slack connector plugin (entry point `chathub.connectors: slack`).

Enabled when `HUB_SLACK__BOT_TOKEN` is set (settings: `settings.py`). Events arrive over Socket
Mode when `HUB_SLACK__APP_TOKEN` is set (no public URL needed), else over HTTP at
`/webhooks/slack`, signed with `HUB_SLACK__SIGNING_SECRET`. `HUB_SLACK__BASE_URL` points the Web
API client elsewhere (slack_sdk's form, `https://slack.com/api/`). `verify` asks `auth.test`
whether Slack accepts the bot token (and, for Socket Mode, `apps.connections.open` whether it
accepts the app token), for `chathub check` and before each start.

Loading this module is cheap: slack_sdk and slack-bolt (`bot.py`) and Litestar (`webhook.py`) are
imported only when the plugin is used. The pieces: `events.py` (who is answered), `bot.py` (the
bolt app through `ChatDispatch`), `sink.py` and `native.py` (the reply: native streams, else
chat.postMessage and chat.update), `budgets.py` (Slack's limits), docs/slack.md (set-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.connectors.plugin import CredentialsRefused, PlatformUnreachable
from hub.connectors.slack.settings import SlackSettings

if TYPE_CHECKING:
    from hub.connectors.slack.bot import SlackConnector
    from hub.runtime import Services

PLATFORM = "slack"
VERIFY_TIMEOUT = 10  # seconds per call
# Answers to auth.test (or apps.connections.open) meaning "this token will never work".
REFUSED = {
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
    "not_allowed_token_type", "no_permission", "missing_scope", "team_access_not_granted",
}  # fmt: skip


def running_connector(services: Services | None) -> SlackConnector | None:
    """The connector the registry started (`services.extras["connectors"]["slack"]`)."""
    if services is None:
        return None
    found = services.extras.get("connectors", {}).get(PLATFORM)
    from hub.connectors.slack.bot import SlackConnector

    return found if isinstance(found, SlackConnector) else None


class SlackPlugin:
    """The plugin the registry (hub/connectors/registry.py) uses: its settings section,
    `enabled`, `routes`, `create` and the credentials hook `verify`."""

    name = PLATFORM
    settings_model = SlackSettings
    title = "Slack"
    setup = "set HUB_SLACK__BOT_TOKEN and HUB_SLACK__APP_TOKEN (see docs/slack.md)"

    def enabled(self, settings: SlackSettings) -> bool:
        # The section already refuses a bot token without a way to receive events.
        return settings.bot_token is not None

    def routes(self, settings: SlackSettings) -> list[Any]:
        """`POST /webhooks/slack` in HTTP mode; it finds the connector on `app.state`."""
        if not self.enabled(settings) or settings.mode != "http":
            return []
        from hub.connectors.slack.webhook import webhook_route

        return [webhook_route(lambda request: running_connector(request.app.state.services))]

    def create(self, services: Services, settings: SlackSettings) -> SlackConnector:
        from hub.connectors.slack.bot import SlackConnector

        coordination = services.coordination
        shared = coordination is not None and coordination.shared
        return SlackConnector(
            services.chat,
            settings,
            users=services.stores.users,
            prompts=services.stores.prompts,
            grace=services.settings.chat.shutdown_grace,
            stops=coordination.stops if coordination is not None else None,
            deliveries=coordination.deliveries if shared and coordination is not None else None,
        )

    async def verify(self, settings: SlackSettings) -> str:
        """`auth.test` with the bot token (and the app token's `apps.connections.open`): the
        bot and its workspace, or why they cannot be used."""
        import aiohttp
        from slack_sdk.errors import SlackApiError
        from slack_sdk.web.async_client import AsyncWebClient

        assert settings.bot_token is not None
        client = AsyncWebClient(
            token=settings.bot_token.get_secret_value(),
            base_url=settings.base_url,
            timeout=VERIFY_TIMEOUT,
        )
        which = "HUB_SLACK__BOT_TOKEN"
        try:
            auth = await client.auth_test()
            if settings.app_token is not None:
                which = "HUB_SLACK__APP_TOKEN"
                await client.apps_connections_open(app_token=settings.app_token.get_secret_value())
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            if error in REFUSED:
                raise CredentialsRefused(_refusal(which, error)) from None
            raise PlatformUnreachable(_unreachable(settings.base_url, error)) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = str(exc).rstrip(".") or type(exc).__name__
            raise PlatformUnreachable(_unreachable(settings.base_url, reason)) from None
        mode = "Socket Mode" if settings.mode == "socket" else "HTTP at /webhooks/slack"
        return f"bot @{auth.get('user', '')} in {auth.get('team', '')} ({mode})"


def _refusal(which: str, error: str) -> str:
    if which == "HUB_SLACK__APP_TOKEN":
        where = (
            "generate an app-level token with connections:write "
            "(Basic Information → App-Level Tokens)"
        )
    else:
        where = (
            "copy the Bot User OAuth Token (xoxb-…) again from the app's OAuth & Permissions page"
        )
    return f"Slack refused {which} ({error}); {where}, or reinstall the app to the workspace."


def _unreachable(base_url: str, reason: str) -> str:
    from hub.core.urls import without_credentials

    return (
        f"Slack did not answer at {without_credentials(base_url)} ({reason}); "
        "check the network or HUB_SLACK__BASE_URL."
    )


plugin = SlackPlugin()
