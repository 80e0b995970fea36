"""ChatDispatch: in-flight accounting, Stop tokens and who may use them, draining at shutdown."""

from __future__ import annotations

import asyncio

from hub.core.access import Access, AccessSettings
from hub.core.budget import BudgetPools
from hub.core.dispatch import (
    INVALID,
    NOT_YOURS,
    NOTHING_TO_STOP,
    STOPPING,
    ChatDispatch,
)
from hub.core.models import IncomingMessage, PlatformUser
from hub.core.ports import MessageSink, Rate
from tests.support.chat import ScriptedChat
from tests.support.sinks import RecordingSink
from tests.support.wait import until

ASKER = PlatformUser("test", "1", "Ada")
OTHER = PlatformUser("test", "2", "Bob")
BOSS = PlatformUser("test", "9", "Root")


def msg(text: str = "hi", who: PlatformUser = ASKER, chat: str = "c1") -> IncomingMessage:
    return IncomingMessage("test", chat, who, text)


class Tokens:
    """A sink factory that remembers the Stop token each reply got."""

    def __init__(self) -> None:
        self.pools = BudgetPools()
        self.seen: list[str | None] = []
        self.sinks: list[RecordingSink] = []

    def __call__(self, token: str | None) -> MessageSink:
        self.seen.append(token)
        sink = RecordingSink(budget=self.pools.budget((f"c{len(self.sinks)}", Rate(50, 1.0))))
        self.sinks.append(sink)
        return sink


async def test_answer_renders_and_accounts_for_the_reply() -> None:
    text = " ".join(f"w{i}" for i in range(40))
    chat = ScriptedChat(lambda m: text, tokens_per_second=100)
    dispatch = ChatDispatch(chat)
    factory = Tokens()
    assert not dispatch.busy
    task = asyncio.create_task(dispatch.answer(msg(), factory))
    await until(lambda: chat.received != [])
    assert dispatch.busy and dispatch.in_flight == 1
    result = await task
    assert result is not None and result.text == text
    assert not dispatch.busy and dispatch.in_flight == 0
    [token] = factory.seen
    assert token is not None and len(token) <= 64 and token.startswith("stop:")
    assert await dispatch.stop(token, ASKER) == NOTHING_TO_STOP  # that reply has ended


async def test_only_the_asker_or_an_admin_may_stop() -> None:
    chat = ScriptedChat(lambda m: "word " * 500, tokens_per_second=50)
    dispatch = ChatDispatch(chat, access=Access(AccessSettings(admins=("9",))))
    factory = Tokens()
    first = asyncio.create_task(dispatch.answer(msg(), factory))
    await until(lambda: chat.received != [])
    [token] = factory.seen
    assert token is not None
    assert await dispatch.stop(token, OTHER) == NOT_YOURS
    assert chat.cancelled == 0
    assert await dispatch.stop("garbage", ASKER) == INVALID
    assert await dispatch.stop(token, ASKER) == STOPPING
    await first
    assert chat.cancelled == 1

    second = asyncio.create_task(dispatch.answer(msg(), factory))
    await until(lambda: len(chat.received) == 2)
    token = factory.seen[-1]
    assert token is not None and token != factory.seen[0]
    assert await dispatch.stop(factory.seen[0] or "", ASKER) == NOTHING_TO_STOP  # old button
    assert await dispatch.stop(token, BOSS) == STOPPING
    await second
    assert chat.cancelled == 2


async def test_drain_lets_short_replies_finish_and_stops_the_rest() -> None:
    chat = ScriptedChat(lambda m: "short" if m.text == "quick" else "long " * 10_000, 100)
    dispatch = ChatDispatch(chat, grace=0.5)
    factory = Tokens()
    quick = asyncio.create_task(dispatch.answer(msg("quick", chat="a"), factory))
    slow = asyncio.create_task(dispatch.answer(msg("slow", chat="b"), factory))
    await until(lambda: len(chat.received) == 2)
    await dispatch.drain()
    assert not dispatch.busy
    quick_result, slow_result = await quick, await slow
    assert quick_result is not None and quick_result.text == "short"
    assert slow_result is not None and "reply interrupted" in slow_result.text
    assert chat.cancelled == 1


async def test_reply_passes_events_through_with_accounting() -> None:
    chat = ScriptedChat(lambda m: "a b", tokens_per_second=100)
    dispatch = ChatDispatch(chat)
    seen = []
    async for event in dispatch.reply(msg()):
        seen.append(type(event).__name__)
        assert dispatch.busy
    assert seen[0] == "Started" and seen[-1] == "Done"
    assert not dispatch.busy
