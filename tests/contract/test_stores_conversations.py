"""Store contract: conversations and turns (runs on SQLite and MongoDB)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from hub.core.models import ConversationKey, Turn
from hub.core.ports import StaleWrite, StoreError, Stores

KEY = ConversationKey("telegram", "chat-1", "", "1001")


async def test_active_is_idempotent(stores: Stores) -> None:
    first = await stores.conversations.active(KEY, "hub-user")
    second = await stores.conversations.active(KEY, "hub-user")
    assert first == second
    assert first.active
    assert first.key == KEY
    assert first.user_id == "hub-user"
    assert first.created_at.tzinfo is not None


async def test_concurrent_active_opens_one_conversation(stores: Stores) -> None:
    found = await asyncio.gather(*(stores.conversations.active(KEY, "u") for _ in range(8)))
    assert len({c.id for c in found}) == 1


async def test_keys_differ_by_every_part(stores: Stores) -> None:
    keys = [
        KEY,
        ConversationKey("slack", "chat-1", "", "1001"),
        ConversationKey("telegram", "chat-2", "", "1001"),
        ConversationKey("telegram", "chat-1", "thread-9", "1001"),
        ConversationKey("telegram", "chat-1", "", "1002"),
        # Parts that would collide if the key were joined with ':' naively.
        ConversationKey("telegram", "chat-1:", "", "1001"),
        ConversationKey("telegram", "chat-1", ":", "1001"),
    ]
    ids = [(await stores.conversations.active(k, "u")).id for k in keys]
    assert len(set(ids)) == len(keys)


async def test_start_new_keeps_the_old_one_and_isolates_turns(stores: Stores) -> None:
    old = await stores.conversations.active(KEY, "u")
    await stores.conversations.append(old.id, Turn("user", "hello"))
    new = await stores.conversations.start_new(KEY, "u")
    assert new.id != old.id
    assert new.active
    assert await stores.conversations.active(KEY, "u") == new
    assert await stores.conversations.recent(new.id, 10) == []
    await stores.conversations.append(new.id, Turn("user", "fresh start"))
    # The old conversation is still stored with its own turns.
    assert [t.text for t in await stores.conversations.recent(old.id, 10)] == ["hello"]
    assert [t.text for t in await stores.conversations.recent(new.id, 10)] == ["fresh start"]


async def test_start_new_without_an_active_one(stores: Stores) -> None:
    new = await stores.conversations.start_new(KEY, "u")
    assert await stores.conversations.active(KEY, "u") == new


async def test_append_and_recent_order_and_limit(stores: Stores) -> None:
    conversation = await stores.conversations.active(KEY, "u")
    for i in range(12):
        role = "user" if i % 2 == 0 else "assistant"
        stored = await stores.conversations.append(conversation.id, Turn(role, f"turn {i}"))
        assert stored.id
        assert stored.text == f"turn {i}"
    last5 = await stores.conversations.recent(conversation.id, 5)
    assert [t.text for t in last5] == [f"turn {i}" for i in range(7, 12)]
    everything = await stores.conversations.recent(conversation.id, 100)
    assert [t.text for t in everything] == [f"turn {i}" for i in range(12)]
    assert len({t.id for t in everything}) == 12
    assert await stores.conversations.recent(conversation.id, 0) == []


async def test_turn_fields_round_trip(stores: Stores) -> None:
    conversation = await stores.conversations.active(KEY, "u")
    created = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    user_turn = Turn(
        "user",
        "Translate: Grüße 👋",
        created_at=created,
        typed_text="/translate Grüße 👋",
    )
    reply = Turn(
        "assistant",
        "Greetings 👋 (partial",
        created_at=created + timedelta(seconds=2),
        model="llama3.2:3b",
        backend="gpu-1",
        prompt_tokens=31,
        completion_tokens=7,
        interrupted=True,
    )
    stored = [await stores.conversations.append(conversation.id, t) for t in (user_turn, reply)]
    fetched = await stores.conversations.recent(conversation.id, 2)
    assert fetched == stored
    got_user, got_reply = fetched
    assert got_user.typed_text == "/translate Grüße 👋"
    assert not got_user.interrupted
    assert got_reply.interrupted
    assert (got_reply.prompt_tokens, got_reply.completion_tokens) == (31, 7)
    assert (got_reply.model, got_reply.backend) == ("llama3.2:3b", "gpu-1")
    assert got_user.created_at == datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    assert got_reply.created_at.utcoffset() == timedelta(0)


async def test_concurrent_appends_keep_order_without_duplicates(stores: Stores) -> None:
    conversation = await stores.conversations.active(KEY, "u")
    other = await stores.conversations.active(ConversationKey("slack", "c", "", "x"), "u2")
    texts = [f"m{i}" for i in range(30)]
    results = await asyncio.gather(
        *(stores.conversations.append(conversation.id, Turn("user", t)) for t in texts),
        *(stores.conversations.append(other.id, Turn("user", t)) for t in texts[:5]),
    )
    fetched = await stores.conversations.recent(conversation.id, 100)
    assert sorted(t.text for t in fetched) == sorted(texts)  # each exactly once
    assert len({t.id for t in fetched}) == len(texts)
    assert {t.id for t in results[:30]} == {t.id for t in fetched}
    assert len(await stores.conversations.recent(other.id, 100)) == 5
    # Order is stable: reading again gives the same sequence, and later appends go last.
    assert await stores.conversations.recent(conversation.id, 100) == fetched
    await stores.conversations.append(conversation.id, Turn("assistant", "after"))
    again = await stores.conversations.recent(conversation.id, 100)
    assert again[:-1] == fetched
    assert again[-1].text == "after"


async def test_append_to_unknown_conversation_is_refused(stores: Stores) -> None:
    with pytest.raises(StoreError, match="no conversation"):
        await stores.conversations.append("no-such-conversation", Turn("user", "x"))


async def test_recent_of_unknown_conversation_is_empty(stores: Stores) -> None:
    assert await stores.conversations.recent("no-such-conversation", 10) == []


async def test_a_turn_with_an_older_fence_is_refused(stores: Stores) -> None:
    """A reply whose conversation lease was taken over must not write after the newer one."""
    convo = await stores.conversations.active(KEY, "u1")
    now = datetime.now(UTC)
    await stores.conversations.append(convo.id, Turn("user", "a", created_at=now), fence=5)
    await stores.conversations.append(convo.id, Turn("user", "b", created_at=now), fence=7)
    await stores.conversations.append(convo.id, Turn("assistant", "c", created_at=now), fence=7)
    with pytest.raises(StaleWrite):
        await stores.conversations.append(convo.id, Turn("assistant", "x", created_at=now), fence=6)
    await stores.conversations.append(convo.id, Turn("user", "d", created_at=now))  # unfenced
    assert [t.text for t in await stores.conversations.recent(convo.id, 10)] == ["a", "b", "c", "d"]
    with pytest.raises(StoreError) as missing:
        await stores.conversations.append("nope", Turn("user", "x", created_at=now), fence=9)
    assert not isinstance(missing.value, StaleWrite)
