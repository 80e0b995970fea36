"""The Telegram sink against the fake Bot API, through the real python-telegram-bot `Bot`.

Two variants: a supergroup (edits, Stop button) and a private chat with native drafts.
"""

from __future__ import annotations

from telegram import Bot

from hub.connectors.telegram.sink import DraftSupport, TelegramSink, chat_budget
from hub.core.budget import BudgetPools
from hub.core.markup import telegram as tg
from hub.core.markup.split import split_markdown
from hub.core.ports import MessageSink, Scope, WriteKind
from tests.contract.sink_harness import Failure, Shown, Write
from tests.fakes.telegram import NOT_MODIFIED, FakeTelegram

_KINDS: dict[str, WriteKind] = {
    "sendMessage": "send",
    "editMessageText": "edit",
    "sendMessageDraft": "stream",
}
_MARKUP_ERROR = "Bad Request: can't parse entities: unsupported start tag"


class TelegramHarness:
    max_len = tg.MAX_LEN
    scopes: tuple[Scope, ...] = ("chat",)  # Telegram's 429 names no wider scope

    def __init__(self, *, drafts: bool) -> None:
        self.drafts = drafts
        self.name = "telegram-dm-drafts" if drafts else "telegram-group"
        self.stop_control = not drafts  # drafts cannot carry buttons
        failures: set[Failure] = {"rate_limited", "markup"}
        if not drafts:
            failures.add("not_modified")
        self.failures = frozenset(failures)
        self.fake = FakeTelegram()
        self.pools = BudgetPools()
        self.support = DraftSupport(available=drafts)
        self.bot: Bot | None = None

    async def start(self) -> None:
        await self.fake.start()
        self.bot = Bot(self.fake.token, base_url=self.fake.base_url)
        await self.bot.initialize()

    async def close(self) -> None:
        if self.bot is not None:
            await self.bot.shutdown()
        await self.fake.stop()

    def chat(self, n: int) -> str:
        return str(4200 + n) if self.drafts else str(-100700 - n)

    def sink(self, chat: str, *, thread: str = "", stop_token: str | None = None) -> MessageSink:
        assert self.bot is not None
        chat_id = int(chat)
        return TelegramSink(
            self.bot,
            chat_id,
            budget=chat_budget(self.pools, chat_id),
            thread_id=int(thread) if thread else None,
            stop_data=stop_token,
            drafts=self.support,
        )

    def sibling(self, chat: str, scope: Scope) -> tuple[str, str]:
        # Forum topics of one group, and replies in one private chat, share the chat's limit.
        return chat, "" if self.drafts else "77"

    def fail_next(
        self, kind: WriteKind, failure: Failure, *, retry_after: float = 0.0, scope: Scope = "chat"
    ) -> None:
        method = {"send": "sendMessage", "edit": "editMessageText", "stream": "sendMessageDraft"}
        if failure == "rate_limited":
            self.fake.fail_next(method[kind], retry_after=retry_after)
        elif failure == "markup":
            self.fake.fail_next(method[kind], description=_MARKUP_ERROR)
        else:
            self.fake.fail_next(method[kind], description=NOT_MODIFIED)

    def expected(self, markdown: str) -> list[str]:
        return [tg.visible(tg.to_html(p.text)) for p in split_markdown(markdown, 4096, tg.measure)]

    def plain(self, markdown: str) -> str:
        return tg.to_plain(markdown)

    def shown(self, chat: str) -> list[Shown]:
        return [
            Shown(m.text, m.parse_mode is not None, m.reply_markup is not None)
            for m in self.fake.chat_messages(int(chat))
        ]

    def writes(self, chat: str) -> list[Write]:
        return [
            Write(c.t, _KINDS[c.method], c.status)
            for c in self.fake.calls
            if c.method in _KINDS and str(c.params.get("chat_id")) == chat
        ]

    def length(self, text: str) -> int:
        return tg.len16(text)

    def flood_violations(self) -> int:
        return self.fake.enforced_429
