"""Store contract: what administrators do to users, usage reports and one-time settings
(runs on SQLite and MongoDB)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from hub.core.models import ConversationKey, PlatformUser, Prompt, Turn, User, WebChat
from hub.core.ports import DuplicateError, Stores


def _web(user_id: str, email: str, *, age_days: int = 0) -> User:
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=age_days)
    return User(id=user_id, name=user_id.title(), email=email, created_at=created)


async def test_all_lists_every_user_oldest_first(stores: Stores) -> None:
    await stores.users.create(_web("bea", "bea@example.com", age_days=2))
    await stores.users.create(_web("al", "al@example.com", age_days=1))
    bot = await stores.users.for_identity(PlatformUser("telegram", "12345", "Cy"))
    listed = await stores.users.all()
    assert [u.id for u in listed] == ["al", "bea", bot.id]
    assert listed[2] == bot


async def test_find_identity_never_creates(stores: Stores) -> None:
    assert await stores.users.find_identity("telegram", "12345") is None
    assert await stores.users.count() == 0
    bot = await stores.users.for_identity(PlatformUser("telegram", "12345", "Cy"))
    assert await stores.users.find_identity("telegram", "12345") == bot
    assert await stores.users.find_identity("slack", "12345") is None


async def test_identities_of_one_user_or_all(stores: Stores) -> None:
    web = await stores.users.create(_web("ann", "ann@example.com"))
    await stores.users.link_identity(web.id, "telegram", "7")
    await stores.users.link_identity(web.id, "discord", "8")
    other = await stores.users.for_identity(PlatformUser("slack", "U1"))
    mine = await stores.users.identities(web.id)
    assert [str(i) for i in mine] == ["discord:8", "telegram:7"]
    assert {i.user_id for i in mine} == {web.id}
    every = await stores.users.identities()
    assert [str(i) for i in every] == ["discord:8", "slack:U1", "telegram:7"]
    assert [i.user_id for i in every if i.platform == "slack"] == [other.id]


async def test_update_profile_changes_only_given_fields(stores: Stores) -> None:
    await stores.users.create(_web("ann", "ann@example.com"))
    await stores.users.create(_web("bob", "bob@example.com"))
    changed = await stores.users.update_profile("ann", name="Ann B", email="ANN.B@example.com")
    assert changed is not None
    assert (changed.name, changed.email) == ("Ann B", "ann.b@example.com")
    assert await stores.users.get("ann") == changed
    assert await stores.users.get_by_email("ann.b@example.com") == changed
    with pytest.raises(DuplicateError, match="already registered"):
        await stores.users.update_profile("ann", email="bob@example.com")
    image = await stores.users.update_profile("ann", profile_image_url="/me.png")
    assert image is not None and image.profile_image_url == "/me.png" and image.name == "Ann B"
    assert await stores.users.update_profile("ghost", name="x") is None


async def test_password_role_and_disabled_report_whether_the_user_exists(stores: Stores) -> None:
    await stores.users.create(_web("ann", "ann@example.com"))
    assert await stores.users.set_password("ann", "$argon2id$new") is True
    assert await stores.users.set_role("ann", "admin") is True
    assert await stores.users.set_disabled("ann", True) is True
    ann = await stores.users.get("ann")
    assert ann is not None
    assert (ann.password_hash, ann.role, ann.disabled) == ("$argon2id$new", "admin", True)
    assert (await stores.users.get_by_email("ann@example.com")) == ann
    assert await stores.users.set_disabled("ann", False) is True
    assert (await stores.users.get("ann")) == User(**{**_fields(ann), "disabled": False})
    for change in (
        stores.users.set_password("ghost", "h"),
        stores.users.set_role("ghost", "user"),
        stores.users.set_disabled("ghost", True),
    ):
        assert await change is False


def _fields(user: User) -> dict[str, object]:
    return {name: getattr(user, name) for name in User.__slots__}


async def test_a_new_user_is_enabled(stores: Stores) -> None:
    bot = await stores.users.for_identity(PlatformUser("telegram", "1"))
    web = await stores.users.create(_web("ann", "ann@example.com"))
    assert not bot.disabled and not web.disabled
    stored = await stores.users.get("ann")
    assert stored is not None and not stored.disabled


async def test_delete_removes_the_user_and_everything_personal(stores: Stores) -> None:
    ann = await stores.users.create(_web("ann", "ann@example.com"))
    await stores.users.link_identity(ann.id, "telegram", "7")
    bob = await stores.users.create(_web("bob", "bob@example.com"))
    key = ConversationKey("telegram", "7", "", "7")
    talk = await stores.conversations.active(key, ann.id)
    await stores.conversations.append(talk.id, Turn("user", "my secret"))
    bob_talk = await stores.conversations.active(ConversationKey("http", "b", "", "b"), bob.id)
    await stores.conversations.append(bob_talk.id, Turn("user", "bob's"))
    for owner in (ann.id, bob.id):
        await stores.chats.create(WebChat(f"chat-{owner}", owner, "t", {"m": 1}, 1, 1))
        await stores.prompts.create(Prompt(f"/p-{owner}", "t", "c", owner))
    await stores.prompts.create(Prompt("/shared", "t", "c", ann.id, "global"))
    await stores.usage.add(ann.id, "m", "2026-01-01", prompt_tokens=1, completion_tokens=2)

    assert await stores.users.delete(ann.id) is True
    assert await stores.users.get(ann.id) is None
    assert await stores.users.get_by_email("ann@example.com") is None
    assert await stores.users.find_identity("telegram", "7") is None
    assert await stores.users.identities(ann.id) == []
    assert await stores.conversations.recent(talk.id, 10) == []
    assert await stores.chats.get(f"chat-{ann.id}", ann.id) is None
    assert await stores.prompts.get_exact(f"/p-{ann.id}", ann.id, "personal") is None
    # What is shared or accounting stays, and other users keep everything.
    assert await stores.prompts.get("/shared", bob.id) is not None
    assert len(await stores.usage.for_user(ann.id, "2026-01-01")) == 1
    assert [t.text for t in await stores.conversations.recent(bob_talk.id, 10)] == ["bob's"]
    assert await stores.chats.get(f"chat-{bob.id}", bob.id) is not None
    assert await stores.prompts.get_exact(f"/p-{bob.id}", bob.id, "personal") is not None
    # The e-mail is free again, and the identity starts a new user on next sight.
    assert await stores.users.delete(ann.id) is False
    await stores.users.create(_web("ann2", "ann@example.com"))
    again = await stores.users.for_identity(PlatformUser("telegram", "7"))
    assert again.id != ann.id


async def test_usage_between_days_with_filters(stores: Stores) -> None:
    rows = [
        ("ann", "alpha", "2026-03-01", 1),
        ("ann", "beta", "2026-03-02", 2),
        ("bob", "alpha", "2026-03-02", 3),
        ("bob", "alpha", "2026-03-04", 4),
        ("ann", "alpha", "2026-02-28", 5),
    ]
    for user, model, day, tokens in rows:
        await stores.usage.add(user, model, day, prompt_tokens=tokens, completion_tokens=10)
    found = await stores.usage.between("2026-03-01", "2026-03-03")
    assert [(u.day, u.user_id, u.model, u.prompt_tokens) for u in found] == [
        ("2026-03-01", "ann", "alpha", 1),
        ("2026-03-02", "ann", "beta", 2),
        ("2026-03-02", "bob", "alpha", 3),
    ]
    assert found[0].completion_tokens == 10 and found[0].requests == 1
    only_bob = await stores.usage.between("2026-01-01", "2026-12-31", user_id="bob")
    assert [u.day for u in only_bob] == ["2026-03-02", "2026-03-04"]
    alpha = await stores.usage.between("2026-03-01", "2026-03-31", model="alpha")
    assert [(u.user_id, u.day) for u in alpha] == [
        ("ann", "2026-03-01"),
        ("bob", "2026-03-02"),
        ("bob", "2026-03-04"),
    ]
    both = await stores.usage.between("2026-02-01", "2026-03-31", user_id="ann", model="alpha")
    assert [u.day for u in both] == ["2026-02-28", "2026-03-01"]
    assert await stores.usage.between("2027-01-01", "2027-01-31") == []


async def test_put_new_stores_once(stores: Stores) -> None:
    assert await stores.settings.put_new("first", "ann") is True
    assert await stores.settings.put_new("first", "bob") is False
    assert await stores.settings.get("first") == "ann"
    await stores.settings.put("other", 1)
    assert await stores.settings.put_new("other", 2) is False
    assert await stores.settings.get("other") == 1


async def test_concurrent_put_new_has_exactly_one_winner(stores: Stores) -> None:
    won = await asyncio.gather(*(stores.settings.put_new("race", n) for n in range(12)))
    assert sum(won) == 1
    assert await stores.settings.get("race") == won.index(True)
