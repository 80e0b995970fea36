"""The memory in front of the stores: cached users and buffered usage, over a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.core.models import PlatformUser, Usage
from hub.core.ports import StoreError, Stores
from hub.core.stores.fronted import BufferedUsage, CachedUsers, FrontedStores
from hub.core.stores.sqlite import open_sqlite

DAY = "2026-11-21"
WHO = PlatformUser("telegram", "42", "Ada")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def inner(tmp_path: Path) -> AsyncIterator[Stores]:
    stores = await open_sqlite(tmp_path)
    yield stores
    await stores.aclose()


async def test_a_cached_user_is_read_once_then_again_after_the_ttl(inner: Stores) -> None:
    clock = Clock()
    users = CachedUsers(inner.users, ttl=5.0, clock=clock)
    user = await users.for_identity(WHO)
    # Another replica changes the stored user: this process sees it once the entry expires.
    await inner.users.set_model(user.id, "llama3:8b")
    cached = await users.get(user.id)
    assert cached is not None and cached.model is None
    assert (await users.for_identity(WHO)).model is None
    clock.now += 5.1
    fresh = await users.get(user.id)
    assert fresh is not None and fresh.model == "llama3:8b"
    assert (await users.for_identity(WHO)).model == "llama3:8b"


async def test_changes_through_the_cache_are_seen_at_once(inner: Stores) -> None:
    users = CachedUsers(inner.users, ttl=3600, clock=Clock())
    user = await users.for_identity(WHO)
    assert await users.get(user.id) is not None
    await users.set_model(user.id, "qwen3:4b")
    await users.set_role(user.id, "admin")
    for seen in (await users.get(user.id), await users.for_identity(WHO)):
        assert seen is not None
        assert (seen.model, seen.role) == ("qwen3:4b", "admin")


async def test_linking_an_identity_moves_it_at_once(inner: Stores) -> None:
    users = CachedUsers(inner.users, ttl=3600, clock=Clock())
    first = await users.for_identity(WHO)
    other = await users.for_identity(PlatformUser("slack", "U1", "Ada"))
    await users.link_identity(other.id, WHO.platform, WHO.platform_user_id)
    assert (await users.for_identity(WHO)).id == other.id != first.id


async def test_unknown_users_are_not_cached(inner: Stores) -> None:
    users = CachedUsers(inner.users, ttl=3600, clock=Clock())
    assert await users.get("nobody") is None
    created = await inner.users.for_identity(WHO)
    assert await users.get(created.id) is not None


async def test_usage_is_summed_and_written_once_per_interval(inner: Stores) -> None:
    usage = BufferedUsage(inner.usage, interval=3600)
    for completion in (10, 20, 30):
        await usage.add("u1", "m", DAY, prompt_tokens=5, completion_tokens=completion)
    await usage.add("u1", "other", DAY, prompt_tokens=1, completion_tokens=1)
    assert await inner.usage.for_user("u1", DAY) == []  # nothing written yet
    rows = await usage.for_user("u1", DAY)  # a read writes what is pending first
    assert rows == [
        Usage("u1", "m", DAY, requests=3, prompt_tokens=15, completion_tokens=60),
        Usage("u1", "other", DAY, requests=1, prompt_tokens=1, completion_tokens=1),
    ]
    await usage.add("u1", "m", DAY, prompt_tokens=1, completion_tokens=2)
    await usage.aclose()  # closing writes the rest
    assert (await inner.usage.for_user("u1", DAY))[0] == Usage(
        "u1", "m", DAY, requests=4, prompt_tokens=16, completion_tokens=62
    )


async def test_the_timer_writes_usage_without_a_read(inner: Stores) -> None:
    usage = BufferedUsage(inner.usage, interval=0.01)
    await usage.add("u1", "m", DAY, prompt_tokens=1, completion_tokens=1)
    for _ in range(200):
        if await inner.usage.for_user("u1", DAY):
            break
        await asyncio.sleep(0.01)
    assert await inner.usage.for_user("u1", DAY) == [
        Usage("u1", "m", DAY, requests=1, prompt_tokens=1, completion_tokens=1)
    ]
    await usage.aclose()


class FlakyUsage:
    """A usage store that refuses the first `failures` writes, as a store that went away."""

    def __init__(self, inner: Stores, failures: int) -> None:
        self.inner = inner.usage
        self.failures = failures

    async def add(
        self,
        user_id: str,
        model: str,
        day: str,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        requests: int = 1,
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("The store is unreachable.")
        await self.inner.add(
            user_id,
            model,
            day,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            requests=requests,
        )

    async def for_user(self, user_id: str, day: str) -> list[Usage]:
        return await self.inner.for_user(user_id, day)


async def test_counts_a_failed_write_could_not_store_are_kept(inner: Stores) -> None:
    usage = BufferedUsage(FlakyUsage(inner, failures=1), interval=3600)
    await usage.add("u1", "m", DAY, prompt_tokens=3, completion_tokens=4)
    with pytest.raises(StoreError):
        await usage.flush()
    await usage.add("u1", "m", DAY, prompt_tokens=1, completion_tokens=1)
    assert await usage.for_user("u1", DAY) == [
        Usage("u1", "m", DAY, requests=2, prompt_tokens=4, completion_tokens=5)
    ]
    await usage.aclose()


async def test_fronted_stores_write_pending_usage_when_closed(tmp_path: Path) -> None:
    stores = FrontedStores(await open_sqlite(tmp_path))
    await stores.usage.add("u1", "m", DAY, prompt_tokens=2, completion_tokens=3)
    await stores.aclose()
    reopened = await open_sqlite(tmp_path)
    try:
        assert await reopened.usage.for_user("u1", DAY) == [
            Usage("u1", "m", DAY, requests=1, prompt_tokens=2, completion_tokens=3)
        ]
    finally:
        await reopened.aclose()


async def test_disabling_or_deleting_through_the_cache_is_seen_at_once(inner: Stores) -> None:
    users = CachedUsers(inner.users, ttl=3600, clock=Clock())
    user = await users.for_identity(WHO)
    assert await users.get(user.id) is not None
    assert await users.set_disabled(user.id, True)
    for seen in (await users.get(user.id), await users.for_identity(WHO)):
        assert seen is not None and seen.disabled
    renamed = await users.update_profile(user.id, name="Ada L")
    assert renamed is not None
    cached = await users.get(user.id)
    assert cached is not None and cached.name == "Ada L"
    assert await users.delete(user.id)
    assert await users.get(user.id) is None
    # The identity now starts a new, enabled user instead of the deleted one.
    fresh = await users.for_identity(WHO)
    assert fresh.id != user.id and not fresh.disabled
