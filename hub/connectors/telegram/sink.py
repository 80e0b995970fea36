"""The Telegram `MessageSink`: sendMessage/editMessageText in HTML, drafts in private chats.

In private chats a reply streams as a native draft (`sendMessageDraft`, python-telegram-bot
22.6+), the sink's `NativeStream`: an animated preview that Telegram drops after about 30 s
without an update, so the renderer refreshes a quiet draft every `DRAFT_REFRESH` seconds, and
the final part is sent with a real `sendMessage`. If drafts fail (older server, a local Bot API
without them) the renderer falls back to a normal message with edits, and the connector stops
trying drafts.

Drafts cannot carry buttons, so the Stop button appears only on edited messages (groups, or
private chats without drafts); `/stop` works everywhere.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError

from hub.core.budget import BudgetPools, ChatBudget
from hub.core.markup import telegram as tg
from hub.core.ports import (
    Rate,
    SinkError,
    SinkMessageGone,
    SinkRateLimited,
    SinkRejectedMarkup,
    SinkStreamUnavailable,
    SinkText,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# core.telegram.org/bots/faq: about 1 message per second per chat, 20 per minute per group,
# about 30 per second overall. The group rate is one below 20 so network jitter between our
# clock and Telegram's never puts 21 writes in one of its 60 s windows. The bot-wide pool lets
# 30 go at once, as python-telegram-bot's AIORateLimiter (aiolimiter, capacity 30) does, so
# many chats starting together all see their first text promptly.
PER_CHAT = Rate(limit=1, period=1.0)
PER_GROUP = Rate(limit=19, period=60.0)
PER_BOT = Rate(limit=30, period=1.0, burst=29)
DRAFT_REFRESH = 20.0
MARKER = " ▌"  # a draft is always in progress: it shows the renderer's marker
_MARKUP_ERRORS = ("can't parse entities", "can't find end tag", "unsupported start tag")
_GONE_ERRORS = ("message to edit not found", "message can't be edited", "message to delete")


def chat_budget(pools: BudgetPools, chat_id: int) -> ChatBudget:
    """Telegram's limits for one chat: its own rate, its group's, the bot's overall."""
    own = (f"tg:chat:{chat_id}", PER_CHAT)
    if chat_id < 0:
        return pools.budget(own, (f"tg:group:{chat_id}", PER_GROUP), ("tg:bot", PER_BOT))
    return pools.budget(own, ("tg:bot", PER_BOT))


@dataclass
class DraftSupport:
    """Shared by the connector's sinks: once drafts fail, nobody tries them again."""

    available: bool = True


@dataclass
class TelegramHandle:
    """A message of one reply."""

    message_id: int
    reply_to: int | None = None
    shown: SinkText | None = None


def retry_seconds(exc: RetryAfter) -> float:
    value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def call_api(call: Awaitable[T]) -> T | None:
    """Await a Bot API call, translating errors; None when "message is not modified"."""
    try:
        return await call
    except RetryAfter as exc:
        raise SinkRateLimited(retry_seconds(exc), str(exc)) from exc
    except BadRequest as exc:
        text = exc.message.lower()
        if "message is not modified" in text:
            return None
        if any(marker in text for marker in _MARKUP_ERRORS):
            raise SinkRejectedMarkup(exc.message) from exc
        if any(marker in text for marker in _GONE_ERRORS):
            raise SinkMessageGone(exc.message) from exc
        raise SinkError(exc.message) from exc
    except TelegramError as exc:
        raise SinkError(str(exc)) from exc


class DraftStream:
    """A reply streamed as a native draft (`sendMessageDraft`, private chats only).

    A draft is a preview: every update sends the whole text so far, and `finish` sends the real
    message, which replaces it (so the renderer may split where it likes: `append_only` is
    False). Telegram drops a draft after about 30 s without an update, hence `keepalive`. When
    drafts fail, every sink of the connector stops trying them (`DraftSupport`).
    """

    append_only = False
    keepalive = DRAFT_REFRESH

    def __init__(self, sink: TelegramSink, draft_id: int, reply_to: int | None) -> None:
        self.sink, self.draft_id, self.reply_to = sink, draft_id, reply_to
        self.markdown = ""

    async def status(self, text: str) -> None:
        await self._show(SinkText(self.sink.plain(text) + MARKER, markup=False))

    async def append(self, markdown: str, *, plain: bool = False) -> None:
        text = self.markdown + markdown
        await self._show(self.sink.text(text, partial=True, plain=plain))
        self.markdown = text

    async def finish(self, markdown: str, *, plain: bool = False) -> Any:
        final = self.sink.text(markdown, partial=False, plain=plain)
        return await self.sink.send_message(final, self.reply_to, final=True)

    async def _show(self, text: SinkText) -> None:
        sink = self.sink
        try:
            await call_api(
                sink.bot.send_message_draft(
                    sink.chat_id,
                    self.draft_id,
                    text.text + ("" if text.text.endswith(MARKER) else MARKER),
                    message_thread_id=sink.thread_id,
                    parse_mode=ParseMode.HTML if text.markup else None,
                )
            )
        except (SinkRateLimited, SinkRejectedMarkup):
            raise
        except SinkError as exc:
            log.warning("drafts unavailable, streaming with edits", extra={"error": str(exc)})
            if sink.drafts is not None:
                sink.drafts.available = False
            raise SinkStreamUnavailable(str(exc)) from exc


class TelegramSink:
    """One reply in one Telegram chat (and forum topic)."""

    max_len = tg.MAX_LEN
    typing_interval = 4.0  # "typing" lasts 5 s
    keepalive = 0.0  # messages stay; only drafts need refreshing (DraftStream)

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        budget: ChatBudget,
        thread_id: int | None = None,
        reply_to: int | None = None,
        stop_data: str | None = None,
        drafts: DraftSupport | None = None,
    ) -> None:
        self.bot, self.chat_id, self.budget = bot, chat_id, budget
        self.thread_id, self.reply_to, self.stop_data = thread_id, reply_to, stop_data
        self.drafts = drafts if drafts is not None and chat_id > 0 else None
        self._draft_ids = itertools.count(secrets.randbelow(2**30) + 1)

    # --- formatting -----------------------------------------------------------------------------

    def format(self, markdown: str, *, partial: bool = False) -> str:
        return tg.to_html(markdown, partial=partial)

    def plain(self, markdown: str) -> str:
        return tg.to_plain(markdown)

    def measure(self, markdown: str) -> int:
        return tg.measure(markdown)

    def text(self, markdown: str, *, partial: bool, plain: bool) -> SinkText:
        if plain:
            return SinkText(self.plain(markdown), markup=False)
        return SinkText(self.format(markdown, partial=partial))

    # --- writes ---------------------------------------------------------------------------------

    def open_stream(self, reply_to: Any = None) -> DraftStream | None:
        """A draft in private chats while drafts work; None (edits) elsewhere."""
        if self.drafts is None or not self.drafts.available:
            return None
        target = reply_to.message_id if isinstance(reply_to, TelegramHandle) else self.reply_to
        return DraftStream(self, next(self._draft_ids), target)

    def _keyboard(self, final: bool) -> InlineKeyboardMarkup | None:
        if final or self.stop_data is None:
            return None
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton("⏹ Stop", callback_data=self.stop_data)]]
        )

    async def send(self, text: SinkText, *, reply_to: Any = None, final: bool = False) -> Any:
        target = reply_to.message_id if isinstance(reply_to, TelegramHandle) else self.reply_to
        return await self.send_message(text, target, final)

    async def send_message(self, text: SinkText, target: int | None, final: bool) -> Any:
        reply = ReplyParameters(target, allow_sending_without_reply=True) if target else None
        sent = await call_api(
            self.bot.send_message(
                self.chat_id,
                text.text,
                parse_mode=ParseMode.HTML if text.markup else None,
                message_thread_id=self.thread_id,
                reply_parameters=reply,
                reply_markup=self._keyboard(final),
            )
        )
        if sent is None:
            raise SinkError("sendMessage returned no message")
        return TelegramHandle(message_id=sent.message_id, reply_to=target, shown=text)

    async def edit(self, handle: Any, text: SinkText) -> None:
        assert isinstance(handle, TelegramHandle)
        if handle.shown == text:
            return  # Telegram would answer "message is not modified"
        await self._edit(handle, text, final=False)

    async def _edit(self, handle: TelegramHandle, text: SinkText, *, final: bool) -> None:
        await call_api(
            self.bot.edit_message_text(
                text.text,
                chat_id=self.chat_id,
                message_id=handle.message_id,
                parse_mode=ParseMode.HTML if text.markup else None,
                reply_markup=self._keyboard(final),
            )
        )
        handle.shown = text

    async def finish(self, handle: Any, text: SinkText) -> Any:
        assert isinstance(handle, TelegramHandle)
        await self._edit(handle, text, final=True)  # no reply_markup: the Stop button goes
        return handle

    async def delete(self, handle: Any) -> None:
        assert isinstance(handle, TelegramHandle)
        await call_api(self.bot.delete_message(self.chat_id, handle.message_id))

    async def typing(self) -> None:
        await call_api(
            self.bot.send_chat_action(
                self.chat_id, ChatAction.TYPING, message_thread_id=self.thread_id
            )
        )
