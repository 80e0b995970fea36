"""Store contract: users and platform identities (runs on SQLite and MongoDB)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.core.models import PlatformUser, User
from hub.core.ports import DuplicateError, StoreError, Stores


async def test_three_platforms_map_to_three_hub_users(stores: Stores) -> None:
    people = [
        PlatformUser("telegram", "1001", "Ann", "en"),
        PlatformUser("slack", "U1001", "Ann S"),
        PlatformUser("discord", "1001", "ann#1"),  # same id as on Telegram, other platform
    ]
    users = [await stores.users.for_identity(who) for who in people]
    assert len({u.id for u in users}) == 3
    assert [u.name for u in users] == ["Ann", "Ann S", "ann#1"]
    assert users[0].language == "en"
    assert users[0].role == "user"
    assert await stores.users.count() == 3
    # Seen again: the same hub user, not a new one.
    again = await stores.users.for_identity(PlatformUser("telegram", "1001", "Renamed"))
    assert again == users[0]
    assert await stores.users.count() == 3


async def test_identity_without_display_name_gets_a_readable_name(stores: Stores) -> None:
    user = await stores.users.for_identity(PlatformUser("slack", "U9"))
    assert user.name
    assert "U9" in user.name


async def test_concurrent_first_sight_creates_one_user(stores: Stores) -> None:
    who = PlatformUser("telegram", "42", "Bo")
    users = await asyncio.gather(*(stores.users.for_identity(who) for _ in range(8)))
    assert len({u.id for u in users}) == 1
    assert await stores.users.count() == 1


async def test_link_identity_moves_an_identity(stores: Stores) -> None:
    slack_user = await stores.users.for_identity(PlatformUser("slack", "U1", "Ann"))
    web = await stores.users.create(User(id="web-ann", name="Ann", email="ann@example.com"))
    await stores.users.link_identity(web.id, "slack", "U1")
    assert (await stores.users.for_identity(PlatformUser("slack", "U1"))).id == web.id
    # A new identity can be linked too, and then resolves to that user on first sight.
    await stores.users.link_identity(web.id, "telegram", "7")
    assert (await stores.users.for_identity(PlatformUser("telegram", "7"))).id == web.id
    # The old hub user still exists; only the identity moved.
    assert await stores.users.get(slack_user.id) == slack_user


async def test_link_identity_to_unknown_user_is_refused(stores: Stores) -> None:
    with pytest.raises(StoreError, match="no user"):
        await stores.users.link_identity("nobody", "slack", "U1")


async def test_create_and_get_user(stores: Stores) -> None:
    created_at = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    user = User(
        id="u-1",
        name="Ann",
        role="admin",
        email="Ann@Example.COM",
        password_hash="$argon2id$v=19$hash",
        language="de",
        profile_image_url="/img/a.png",
        created_at=created_at,
    )
    stored = await stores.users.create(user)
    assert stored.email == "ann@example.com"  # e-mails match case-insensitively
    fetched = await stores.users.get("u-1")
    assert fetched == stored
    assert fetched is not None
    assert fetched.created_at.tzinfo is not None
    assert fetched.created_at.utcoffset() == timedelta(0)
    # Same instant, to the millisecond (BSON's precision, applied by every store).
    assert fetched.created_at == datetime(2024, 5, 1, 10, 30, 15, 123000, tzinfo=UTC)
    assert await stores.users.get_by_email("ANN@example.com") == stored
    assert await stores.users.get_by_email("bob@example.com") is None
    assert await stores.users.get("u-2") is None


async def test_duplicate_email_is_refused(stores: Stores) -> None:
    await stores.users.create(User(id="a", name="A", email="same@example.com"))
    with pytest.raises(DuplicateError, match=r"same@example\.com"):
        await stores.users.create(User(id="b", name="B", email="Same@example.com"))
    assert await stores.users.get("b") is None
    assert await stores.users.count() == 1


async def test_users_without_email_do_not_collide(stores: Stores) -> None:
    await stores.users.create(User(id="a", name="A"))
    await stores.users.create(User(id="b", name="B"))
    await stores.users.for_identity(PlatformUser("telegram", "1"))
    assert await stores.users.count() == 3


async def test_duplicate_user_id_is_refused(stores: Stores) -> None:
    await stores.users.create(User(id="a", name="A", email="a@example.com"))
    with pytest.raises(DuplicateError, match="id a"):
        await stores.users.create(User(id="a", name="A2", email="other@example.com"))


async def test_create_assigns_an_id_when_missing(stores: Stores) -> None:
    user = await stores.users.create(User(id="", name="Anon"))
    assert user.id
    assert await stores.users.get(user.id) == user


async def test_set_model_and_role_persist(stores: Stores) -> None:
    user = await stores.users.for_identity(PlatformUser("discord", "9", "Cy"))
    await stores.users.set_model(user.id, "llama3.2:3b")
    await stores.users.set_role(user.id, "admin")
    fetched = await stores.users.get(user.id)
    assert fetched is not None
    assert (fetched.model, fetched.role) == ("llama3.2:3b", "admin")
    await stores.users.set_model(user.id, None)
    fetched = await stores.users.get(user.id)
    assert fetched is not None
    assert fetched.model is None
    assert fetched.role == "admin"


async def test_count_starts_at_zero(stores: Stores) -> None:
    assert await stores.users.count() == 0
    await stores.users.create(User(id="x", name="X"))
    assert await stores.users.count() == 1


async def test_ping_and_description(stores: Stores) -> None:
    await stores.ping()
    assert stores.description.startswith(("SQLite at ", "MongoDB at "))
