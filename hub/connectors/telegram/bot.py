"""TelegramConnector: a python-telegram-bot v22 Application that answers through ChatService.

Built on the running loop in `start()`; polling, or (webhook mode) no updater, with updates fed
by `handle_webhook`. Updates are processed concurrently, so one slow reply never holds up
another chat. Settings and modes: `__init__.py`; who is answered: `updates.py`.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from telegram import BotCommand, CallbackQuery, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from hub.connectors.telegram.commands import builtin_commands, telegram_commands
from hub.connectors.telegram.settings import TelegramSettings
from hub.connectors.telegram.sink import DraftSupport, TelegramSink, chat_budget
from hub.connectors.telegram.updates import BotIdentity, platform_user, to_incoming
from hub.core.access import Access
from hub.core.budget import BudgetPools, Clock
from hub.core.coordination.duty import Duty
from hub.core.dispatch import ChatDispatch, ChatLike
from hub.core.menus import DEBOUNCE, POLL, Entries, MenuWatcher
from hub.core.ports import StopRegistry, UserStore
from hub.settings import SettingsError

if TYPE_CHECKING:
    from hub.core.coordination.duty import StartableLease
    from hub.runtime import Services

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
CommandProvider = Callable[[], Awaitable[Sequence[tuple[str, str]]]]


class TelegramConnector:
    """Receives Telegram updates, answers through `ChatService` and `render()`."""

    name = "telegram"

    def __init__(
        self,
        chat: ChatLike,
        settings: TelegramSettings,
        *,
        commands: CommandProvider | None = None,
        clock: Clock | None = None,
        grace: float = 10.0,
        prompt_hooks: list[Callable[[], Awaitable[None]]] | None = None,
        menu_debounce: float = DEBOUNCE,
        menu_poll: float = POLL,
        users: UserStore | None = None,
        stops: StopRegistry | None = None,
        poll_lease: StartableLease | None = None,
    ) -> None:
        if settings.token is None:
            raise SettingsError("HUB_TELEGRAM__TOKEN: required to run the Telegram connector")
        self.chat = chat
        self.settings = settings
        self.commands = commands or _builtin_only
        self.pools = BudgetPools(clock)
        self.dispatch = ChatDispatch(
            chat, access=Access(settings, users), clock=self.pools.clock, grace=grace, stops=stops
        )
        # Polling with several replicas: only the holder of this lease polls (two pollers
        # would take each other's updates); None polls unconditionally.
        self.poll_lease = poll_lease
        self._poller: Duty | None = None
        self.drafts = DraftSupport(available=settings.drafts)
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.me: BotIdentity | None = None
        self.menu = MenuWatcher(
            self._menu_entries,
            self._publish_menu,
            hooks=prompt_hooks,
            debounce=menu_debounce,
            poll=menu_poll,
        )

    # --- lifecycle ------------------------------------------------------------------------------

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        assert self.settings.token is not None
        base = self.settings.base_url
        builder = (
            ApplicationBuilder()
            .token(self.settings.token.get_secret_value())
            .base_url(base)
            .base_file_url(base.removesuffix("/bot").rstrip("/") + "/file/bot")
            .concurrent_updates(True)
        )
        if self.settings.mode == "webhook":
            builder = builder.updater(None)
        app = builder.build()
        app.add_handler(CallbackQueryHandler(self._on_callback, pattern=r"^stop:"))
        wanted = filters.TEXT | filters.PHOTO | filters.Document.IMAGE
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & wanted, self._on_message))
        return app

    async def start(self) -> None:
        """Connect (getMe), publish the commands, start polling or await webhooks."""
        # httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
        httpx_log = logging.getLogger("httpx")
        if httpx_log.getEffectiveLevel() < logging.WARNING:
            httpx_log.setLevel(logging.WARNING)
        self.app = self._build()
        await self.app.initialize()
        bot = self.app.bot
        self.me = BotIdentity(id=bot.id, username=bot.username)
        await self.menu.start()
        if self.app.updater is not None and self.poll_lease is None:
            await self._start_polling()
        elif self.app.updater is not None:
            assert self.poll_lease is not None
            self._poller = Duty(self.poll_lease, self._start_polling, self._stop_polling, "polling")
            await self._poller.start()
        elif self.settings.webhook_url:
            secret = self.settings.webhook_secret
            await bot.set_webhook(
                self.settings.webhook_url,
                secret_token=secret.get_secret_value() if secret else None,
                allowed_updates=ALLOWED_UPDATES,
            )
        await self.app.start()
        log.info(
            "telegram connector started", extra={"bot": bot.username, "mode": self.settings.mode}
        )

    async def _start_polling(self) -> None:
        assert self.app is not None and self.app.updater is not None
        await self.app.updater.start_polling(
            timeout=int(self.settings.poll_timeout), allowed_updates=ALLOWED_UPDATES
        )

    async def _stop_polling(self) -> None:
        if self.app is not None and self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()

    def replica_status(self) -> str:
        """With several replicas polling: whether this one polls or stands by (for /ready);
        "" otherwise."""
        return "" if self._poller is None else self._poller.status()

    async def stop_receiving(self) -> None:
        """Shutdown begins: take no new updates. Polling stops (updates wait at Telegram for
        the next start, or another replica polls at once: the lease is given up); in webhook
        mode the hub answers 503 and Telegram sends them again."""
        poller, self._poller = self._poller, None
        if poller is not None:
            await poller.stop()  # stops polling first, then gives the lease up
        await self._stop_polling()

    async def stop(self, grace: float | None = None) -> None:
        """Stop receiving, drain the replies in flight (`ChatDispatch.drain`), disconnect."""
        app, self.app = self.app, None  # webhook updates now get 503 and are sent again later
        if app is None:
            return
        await self.menu.stop()
        poller, self._poller = self._poller, None
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if poller is not None:
            await poller.stop()  # gives the lease up: another replica polls at once
        await self.dispatch.drain(grace)
        if app.running:
            await app.stop()
        await app.shutdown()

    @property
    def busy(self) -> bool:
        """Whether a reply is being rendered right now."""
        return self.dispatch.busy

    def routes(self) -> Sequence[Any]:
        """The webhook route in webhook mode, nothing in polling mode."""
        if self.settings.mode != "webhook":
            return []
        from hub.connectors.telegram.webhook import webhook_route

        return [webhook_route(lambda request: self)]

    async def refresh_commands(self) -> None:
        """Publish built-in and global prompt commands with setMyCommands now."""
        await self.menu.refresh()

    async def _menu_entries(self) -> Entries:
        try:
            return await self.commands()
        except Exception:
            log.exception("could not list prompt commands; publishing the built-in ones")
            return builtin_commands()

    async def _publish_menu(self, entries: Entries) -> None:
        if self.app is None:
            return
        commands = [BotCommand(c, d) for c, d in telegram_commands(entries)]
        await self.app.bot.set_my_commands(commands)

    # --- updates --------------------------------------------------------------------------------

    async def handle_webhook(self, secret: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """Check and queue one webhook update; (HTTP status, JSON body)."""
        expected = self.settings.webhook_secret
        if expected is None or not hmac.compare_digest(
            (secret or "").encode(), expected.get_secret_value().encode()
        ):
            return 403, {"ok": False, "description": "Wrong secret token."}
        if self.app is None:
            return 503, {"ok": False, "description": "The Telegram connector is not running."}
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            update = Update.de_json(data, self.app.bot)
        # The library reads whatever it is given: a wrong type inside fails as AttributeError,
        # and nesting past the parser's limit as RecursionError. All are the sender's mistake.
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return 400, {"ok": False, "description": "The body is not a Telegram update."}
        await self.app.update_queue.put(update)
        return 200, {"ok": True}

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert self.me is not None
        message = update.message
        incoming = to_incoming(message, self.me)
        if message is None or incoming is None:
            return
        chat_id = message.chat.id

        def sink(stop_token: str | None) -> TelegramSink:
            return TelegramSink(
                context.bot,
                chat_id,
                budget=chat_budget(self.pools, chat_id),
                thread_id=int(incoming.thread_id) if incoming.thread_id else None,
                reply_to=message.message_id if incoming.is_group else None,
                stop_data=stop_token,
                drafts=self.drafts,
            )

        await self.dispatch.answer(incoming, sink)

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        text = await self.dispatch.stop(query.data or "", platform_user(query.from_user))
        await _answer(query, text)


async def _answer(query: CallbackQuery, text: str) -> None:
    try:
        await query.answer(text)
    except Exception as exc:  # an expired query must not break the handler
        log.info("could not answer a callback query", extra={"error": str(exc)})


async def _builtin_only() -> Sequence[tuple[str, str]]:
    return builtin_commands()


def global_prompt_commands(services: Services) -> CommandProvider:
    """Built-in commands plus the global prompt commands of the hub's prompt store."""
    store = services.stores.prompts

    async def commands() -> Sequence[tuple[str, str]]:
        prompts = await store.visible("")  # no user: only the global prompts are visible
        found = [(p.command, p.title or p.content) for p in prompts if p.scope == "global"]
        return [*builtin_commands(), *found]

    return commands
