"""Store contract: prompts, Open WebUI chats, usage and settings (runs on SQLite and MongoDB)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.core.models import Prompt, WebChat
from hub.core.ports import DuplicateError, Stores

# --- prompts ----------------------------------------------------------------------------------


def _prompt(command: str, owner: str, scope: str = "personal", content: str = "") -> Prompt:
    return Prompt(
        command=command,
        title=f"{command} by {owner}",
        content=content or f"{command} says {{{{CLIPBOARD}}}}",
        owner_id=owner,
        scope="global" if scope == "global" else "personal",
    )


async def test_personal_prompt_shadows_global(stores: Stores) -> None:
    await stores.prompts.create(_prompt("/sum", "admin", "global", "global text"))
    await stores.prompts.create(_prompt("/sum", "ann", "personal", "ann's text"))
    ann = await stores.prompts.get("/sum", "ann")
    bob = await stores.prompts.get("/sum", "bob")
    assert ann is not None and bob is not None
    assert (ann.content, ann.scope) == ("ann's text", "personal")
    assert (bob.content, bob.scope) == ("global text", "global")
    assert await stores.prompts.get("/nothing", "ann") is None


async def test_visible_orders_by_command_and_shadows(stores: Stores) -> None:
    await stores.prompts.create(_prompt("/zeta", "admin", "global"))
    await stores.prompts.create(_prompt("/alpha", "admin", "global"))
    await stores.prompts.create(_prompt("/mid", "admin", "global", "global mid"))
    await stores.prompts.create(_prompt("/mid", "ann", "personal", "ann mid"))
    await stores.prompts.create(_prompt("/beta", "ann"))
    await stores.prompts.create(_prompt("/bobs", "bob"))
    ann = await stores.prompts.visible("ann")
    assert [p.command for p in ann] == ["/alpha", "/beta", "/mid", "/zeta"]
    assert next(p for p in ann if p.command == "/mid").content == "ann mid"
    bob = await stores.prompts.visible("bob")
    assert [(p.command, p.scope) for p in bob] == [
        ("/alpha", "global"),
        ("/bobs", "personal"),
        ("/mid", "global"),
        ("/zeta", "global"),
    ]
    assert [p.command for p in await stores.prompts.visible("carol")] == [
        "/alpha",
        "/mid",
        "/zeta",
    ]


async def test_duplicates_are_per_scope_and_owner(stores: Stores) -> None:
    await stores.prompts.create(_prompt("/x", "ann"))
    await stores.prompts.create(_prompt("/x", "bob"))  # another owner: fine
    await stores.prompts.create(_prompt("/x", "admin", "global"))  # the global scope: fine
    with pytest.raises(DuplicateError, match="/x"):
        await stores.prompts.create(_prompt("/x", "ann", content="again"))
    with pytest.raises(DuplicateError, match="/x"):
        # A global command is unique across every owner.
        await stores.prompts.create(_prompt("/x", "admin2", "global"))
    mine = await stores.prompts.get_exact("/x", "ann", "personal")
    assert mine is not None
    assert mine.content != "again"


async def test_prompt_round_trips(stores: Stores) -> None:
    created = await stores.prompts.create(_prompt("/tr", "ann", content="Übersetze: {{x}} 🌍"))
    fetched = await stores.prompts.get_exact("/tr", "ann", "personal")
    assert fetched == created
    assert fetched is not None
    assert fetched.created_at.utcoffset() is not None


async def test_update_and_delete_only_by_scope_and_owner(stores: Stores) -> None:
    original = await stores.prompts.create(_prompt("/p", "ann"))
    await stores.prompts.create(_prompt("/g", "admin", "global"))
    # Wrong owner or wrong scope: nothing changes.
    assert await stores.prompts.update("/p", "bob", "personal", title="t", content="c") is None
    assert await stores.prompts.update("/p", "ann", "global", title="t", content="c") is None
    assert not await stores.prompts.delete("/p", "bob", "personal")
    assert not await stores.prompts.delete("/g", "admin", "personal")
    assert await stores.prompts.get_exact("/p", "ann", "personal") == original
    updated = await stores.prompts.update("/p", "ann", "personal", title="New", content="Body")
    assert updated is not None
    assert (updated.title, updated.content) == ("New", "Body")
    assert updated.created_at == original.created_at
    assert updated.updated_at >= original.updated_at
    assert await stores.prompts.get_exact("/p", "ann", "personal") == updated
    assert await stores.prompts.delete("/p", "ann", "personal")
    assert await stores.prompts.get_exact("/p", "ann", "personal") is None
    assert not await stores.prompts.delete("/p", "ann", "personal")
    assert await stores.prompts.delete("/g", "admin", "global")
    assert await stores.prompts.visible("ann") == []


# --- Open WebUI chats -------------------------------------------------------------------------


def _chat_object(title: str) -> dict[str, Any]:
    return {
        "id": "",
        "title": title,
        "models": ["alpha:latest"],
        "options": {"temperature": 0.5, "seed": 7},
        "messages": [
            {"id": "m1", "role": "user", "content": "Grüße 👋", "timestamp": 1717000000},
            {
                "id": "m2",
                "role": "assistant",
                "content": "Hi",
                "done": True,
                "context": None,
                "info": {"eval_count": 3, "eval_duration": 1.5e9},
            },
        ],
        "history": {
            "messages": {"m1": {"parentId": None, "childrenIds": ["m2"]}},
            "currentId": "m2",
        },
        "tags": [],
        "timestamp": 1717000000123,
    }


def _chat(chat_id: str, user: str, updated: int, *, archived: bool = False) -> WebChat:
    return WebChat(
        id=chat_id,
        user_id=user,
        title=f"chat {chat_id}",
        chat=_chat_object(f"chat {chat_id}"),
        created_at=updated - 10,
        updated_at=updated,
        archived=archived,
    )


async def test_chat_object_round_trips_verbatim(stores: Stores) -> None:
    created = await stores.chats.create(_chat("c1", "ann", 1000))
    fetched = await stores.chats.get("c1", "ann")
    assert fetched == created
    assert fetched is not None
    assert fetched.chat == _chat_object("chat c1")
    assert list(fetched.chat) == list(_chat_object("x"))  # key order kept
    assert fetched.share_id is None
    assert not fetched.archived


async def test_chats_are_isolated_by_owner(stores: Stores) -> None:
    await stores.chats.create(_chat("c1", "ann", 1000))
    assert await stores.chats.get("c1", "bob") is None
    assert await stores.chats.list("bob") == []
    assert (
        await stores.chats.update("c1", "bob", {"title": "hijack"}, title="x", updated_at=2) is None
    )
    assert not await stores.chats.delete("c1", "bob")
    still = await stores.chats.get("c1", "ann")
    assert still is not None
    assert still.title == "chat c1"


async def test_list_newest_first_with_skip_limit_and_no_archived(stores: Stores) -> None:
    for i, updated in enumerate([300, 100, 500, 200, 400]):
        await stores.chats.create(_chat(f"c{i}", "ann", updated))
    await stores.chats.create(_chat("old-archived", "ann", 900, archived=True))
    await stores.chats.create(_chat("bobs", "bob", 999))
    listed = await stores.chats.list("ann")
    assert [c.updated_at for c in listed] == [500, 400, 300, 200, 100]
    page = await stores.chats.list("ann", skip=1, limit=2)
    assert [c.updated_at for c in page] == [400, 300]
    assert await stores.chats.list("ann", skip=5) == []
    assert await stores.chats.list("ann", limit=0) == []


async def test_update_replaces_chat_and_bumps_updated_at(stores: Stores) -> None:
    await stores.chats.create(_chat("a", "ann", 100))
    await stores.chats.create(_chat("b", "ann", 200))
    merged = {**_chat_object("Renamed"), "system": "be brief"}
    updated = await stores.chats.update("a", "ann", merged, title="Renamed", updated_at=300)
    assert updated is not None
    assert (updated.title, updated.updated_at, updated.created_at) == ("Renamed", 300, 90)
    assert updated.chat == merged
    assert await stores.chats.get("a", "ann") == updated
    assert [c.id for c in await stores.chats.list("ann")] == ["a", "b"]


async def test_delete_chat_and_duplicate_id(stores: Stores) -> None:
    await stores.chats.create(_chat("a", "ann", 100))
    with pytest.raises(DuplicateError):
        await stores.chats.create(_chat("a", "ann", 200))
    assert await stores.chats.delete("a", "ann")
    assert await stores.chats.get("a", "ann") is None
    assert not await stores.chats.delete("a", "ann")


async def test_create_chat_assigns_an_id_when_missing(stores: Stores) -> None:
    chat = await stores.chats.create(_chat("", "ann", 100))
    assert chat.id
    assert await stores.chats.get(chat.id, "ann") == chat


# --- usage and settings -----------------------------------------------------------------------


async def test_usage_accumulates_per_user_model_and_day(stores: Stores) -> None:
    day, next_day = "2025-06-01", "2025-06-02"
    await stores.usage.add("ann", "m1", day, prompt_tokens=10, completion_tokens=5)
    await stores.usage.add("ann", "m1", day, prompt_tokens=1, completion_tokens=2)
    await stores.usage.add("ann", "m0", day, prompt_tokens=3, completion_tokens=0)
    await stores.usage.add("ann", "m1", next_day, prompt_tokens=100, completion_tokens=100)
    await stores.usage.add("bob", "m1", day, prompt_tokens=7, completion_tokens=7)
    rows = await stores.usage.for_user("ann", day)
    assert [(u.model, u.requests, u.prompt_tokens, u.completion_tokens) for u in rows] == [
        ("m0", 1, 3, 0),
        ("m1", 2, 11, 7),
    ]
    assert rows[1].total_tokens == 18
    assert [u.requests for u in await stores.usage.for_user("ann", next_day)] == [1]
    assert await stores.usage.for_user("carol", day) == []


async def test_concurrent_usage_adds_are_not_lost(stores: Stores) -> None:
    await asyncio.gather(
        *(
            stores.usage.add("ann", "m", "2025-06-01", prompt_tokens=1, completion_tokens=2)
            for _ in range(20)
        )
    )
    (row,) = await stores.usage.for_user("ann", "2025-06-01")
    assert (row.requests, row.prompt_tokens, row.completion_tokens) == (20, 20, 40)


async def test_usage_adds_several_requests_at_once(stores: Stores) -> None:
    # BufferedUsage writes a sum of replies in one call.
    await stores.usage.add("ann", "m", "2025-06-02", prompt_tokens=9, completion_tokens=8)
    await stores.usage.add(
        "ann", "m", "2025-06-02", prompt_tokens=30, completion_tokens=60, requests=3
    )
    (row,) = await stores.usage.for_user("ann", "2025-06-02")
    assert (row.requests, row.prompt_tokens, row.completion_tokens) == (4, 39, 68)


async def test_usage_marks_estimated_tokens(stores: Stores) -> None:
    # Replies from a server that reports no usage are counted with the hub's estimate.
    await stores.usage.add("ann", "m", "2025-06-03", prompt_tokens=10, completion_tokens=5)
    await stores.usage.add(
        "ann", "m", "2025-06-03", prompt_tokens=40, completion_tokens=110, estimated_tokens=150
    )
    (row,) = await stores.usage.for_user("ann", "2025-06-03")
    assert (row.total_tokens, row.estimated_tokens) == (165, 150)


async def test_settings_get_and_put(stores: Stores) -> None:
    assert await stores.settings.get("default_models") is None
    await stores.settings.put("default_models", "alpha:latest,beta")
    assert await stores.settings.get("default_models") == "alpha:latest,beta"
    value = {"list": [1, 2.5, None, True], "nested": {"ü": "✓"}}
    await stores.settings.put("default_models", value)
    assert await stores.settings.get("default_models") == value
    await stores.settings.put("other", 3)
    assert await stores.settings.get("other") == 3
    assert await stores.settings.get("default_models") == value
