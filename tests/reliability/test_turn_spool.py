"""The spool behind `ConversationLog`: turns taken while the store is down reach it once it is
back, in order, none twice; a full spool refuses; a spool left by a stopped process is written
back at the next start. On the real SQLite store and the real spool file, with the store's
conversations behind a switch that makes them fail as an unreachable database does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.core.conversation_log import ConversationLog
from hub.core.models import Conversation, ConversationKey, PlatformUser, Turn
from hub.core.ports import ConversationStore, StoreError
from hub.core.stores.outage import BacklogFull, StoreOutage
from hub.core.stores.spool import FILE_NAME, TurnSpool
from hub.core.stores.sqlite import SqliteStores, open_sqlite

KEY = ConversationKey("telegram", "42", "", "42")
OTHER = ConversationKey("telegram", "43", "", "43")
DOWN = StoreError("MongoDB at 10.0.0.5:27017 failed: connection refused")
START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class Switchable:
    """`ConversationStore` in front of a real one: `down` makes every call fail; `lose_answer`
    makes the next append succeed in the store and fail on the way back."""

    inner: ConversationStore
    down: bool = False
    lose_answer: bool = False

    def _check(self) -> None:
        if self.down:
            raise DOWN

    async def active(self, key: ConversationKey, user_id: str) -> Conversation:
        self._check()
        return await self.inner.active(key, user_id)

    async def start_new(self, key: ConversationKey, user_id: str) -> Conversation:
        self._check()
        return await self.inner.start_new(key, user_id)

    async def append(self, conversation_id: str, turn: Turn, fence: int | None = None) -> Turn:
        self._check()
        stored = await self.inner.append(conversation_id, turn, fence=fence)
        if self.lose_answer:
            self.lose_answer = False
            raise DOWN
        return stored

    async def recent(self, conversation_id: str, limit: int) -> list[Turn]:
        self._check()
        return await self.inner.recent(conversation_id, limit)


@dataclass
class Kit:
    stores: SqliteStores
    conversations: Switchable
    make: Callable[..., Awaitable[ConversationLog]]

    async def texts(self, key: ConversationKey = KEY) -> list[tuple[str, str]]:
        conversation = await self.stores.conversations.active(key, key.user_id)
        turns = await self.stores.conversations.recent(conversation.id, 100)
        return [(t.role, t.text) for t in turns]


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[Kit]:
    stores = await open_sqlite(tmp_path / "data")
    switch = Switchable(stores.conversations)
    logs: list[ConversationLog] = []

    async def ping() -> None:
        if switch.down:
            raise DOWN

    async def make(limit: int = 100) -> ConversationLog:
        spool = TurnSpool(tmp_path / "data" / FILE_NAME)
        log = ConversationLog(switch, ping, StoreOutage(), spool, limit)
        await log.start()
        logs.append(log)
        return log

    yield Kit(stores, switch, make)
    for log in logs:
        await log.aclose()
    await stores.aclose()


_clock = iter(START + timedelta(seconds=i) for i in range(10_000))


def turn(role: Any, text: str) -> Turn:
    return Turn(role, text, created_at=next(_clock))


async def exchange(log: ConversationLog, key: ConversationKey, text: str) -> list[Turn]:
    """One message and its answer through `log`; returns the history the message saw."""
    session = await log.begin(key, key.user_id, 50)
    await log.append(session, turn("user", text))
    await log.append(session, turn("assistant", f"re: {text}"))
    return session.history


async def test_turns_taken_while_the_store_is_down_arrive_in_order(kit: Kit) -> None:
    log = await kit.make()
    await exchange(log, KEY, "one")
    kit.conversations.down = True
    seen = await exchange(log, KEY, "two")
    assert seen == []  # answered without the stored history
    seen = await exchange(log, KEY, "three")
    assert [t.text for t in seen] == ["two", "re: two"]  # what waits in the spool, though
    await exchange(log, OTHER, "elsewhere")
    assert log.waiting() == 6 and log.waiting(KEY) == 4
    kit.conversations.down = False
    assert await log.write_back()
    assert log.waiting() == 0
    expected = [("user", "one"), ("assistant", "re: one")]
    for text in ("two", "three"):
        expected += [("user", text), ("assistant", f"re: {text}")]
    assert await kit.texts() == expected
    assert await kit.texts(OTHER) == [("user", "elsewhere"), ("assistant", "re: elsewhere")]


async def test_a_write_whose_answer_was_lost_is_not_written_twice(kit: Kit) -> None:
    log = await kit.make()
    session = await log.begin(KEY, KEY.user_id, 50)
    await log.append(session, turn("user", "hello"))
    kit.conversations.lose_answer = True  # stored, but the hub hears an error
    await log.append(session, turn("assistant", "hi there"))
    assert log.waiting(KEY) == 1
    assert await log.write_back()
    assert await kit.texts() == [("user", "hello"), ("assistant", "hi there")]


async def test_a_newer_message_waits_for_the_spooled_turns_of_its_conversation(kit: Kit) -> None:
    log = await kit.make()
    kit.conversations.down = True
    await exchange(log, KEY, "while down")
    kit.conversations.down = False
    log.outage.recovered()  # the store answers; the writer has not run yet
    seen = await exchange(log, KEY, "after")
    assert [t.text for t in seen] == ["while down", "re: while down"]
    assert await kit.texts() == [
        ("user", "while down"),
        ("assistant", "re: while down"),
        ("user", "after"),
        ("assistant", "re: after"),
    ]


async def test_a_full_spool_refuses_the_message_instead_of_dropping_it(kit: Kit) -> None:
    log = await kit.make(limit=4)
    kit.conversations.down = True
    await exchange(log, KEY, "a")
    await exchange(log, OTHER, "b")
    with pytest.raises(BacklogFull) as refused:
        await log.begin(KEY, KEY.user_id, 50)
    assert "try again" in str(refused.value) and "10.0.0.5" not in str(refused.value)
    assert log.waiting() == 4


async def test_a_spool_left_by_a_stopped_process_is_written_at_the_next_start(kit: Kit) -> None:
    first = await kit.make()
    kit.conversations.down = True
    await exchange(first, KEY, "before the restart")
    await first.aclose()  # the process stops while the store is still down
    kit.conversations.down = False
    second = await kit.make()
    assert second.waiting() == 2
    assert await second.write_back()
    assert await kit.texts() == [
        ("user", "before the restart"),
        ("assistant", "re: before the restart"),
    ]


async def test_a_turn_the_store_refuses_for_good_does_not_block_the_others(kit: Kit) -> None:
    person = await kit.stores.users.for_identity(PlatformUser("telegram", "44"))
    gone = ConversationKey("telegram", "44", "", "44")
    log = await kit.make()
    session = await log.begin(gone, person.id, 50)
    kit.conversations.down = True
    await log.append(session, turn("user", "to a conversation that will be gone"))
    await exchange(log, OTHER, "fine")
    kit.conversations.down = False
    assert await kit.stores.users.delete(person.id)  # and their conversations with them
    assert await log.write_back()
    assert log.waiting() == 0
    assert await kit.texts(OTHER) == [("user", "fine"), ("assistant", "re: fine")]
