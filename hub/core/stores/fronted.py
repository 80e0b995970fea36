"""Memory in front of a store for the two calls every reply makes: look the user up, count usage.

Without it each HTTP request or bot message costs the store two or three round trips that
decide nothing (SQLite runs them one at a time through its worker thread), and under a burst
of requests they queue behind each other. With it:

- `CachedUsers` remembers users for a few seconds. A change made through this process (`/model`,
  a role change, disabling or deleting a user) drops the entry at once. Following a change feed
  (`follow`: Redis, with several replicas), it announces its changes and drops what other
  replicas (or `chathub users` from the command line) announce, also at once; without one, their
  changes are seen within `USER_CACHE_SECONDS`.
  While the store is down (`StoreOutage`), people it has seen are served as last seen, so they
  are still answered; someone it has never seen is refused until the store is back.
- `BufferedUsage` adds usage up in memory and writes it once per `USAGE_FLUSH_SECONDS`, one
  statement per user, model and day. Reads (`for_user`) and closing write what is pending
  first; counts a failed write could not store are kept for the next attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from hub.core.models import Identity, PlatformUser, Usage, User, UserRole
from hub.core.ports import (
    ChangeFeed,
    ConversationStore,
    JobStore,
    PromptStore,
    SettingStore,
    StoreError,
    Stores,
    UsageStore,
    UserStore,
    WebChatStore,
)
from hub.core.stores.outage import StoreOutage

log = logging.getLogger(__name__)

T = TypeVar("T")

USER_CACHE_SECONDS = 5.0
USAGE_FLUSH_SECONDS = 1.0
USERS_TOPIC = "users"  # payload "u <user id>" or "i <platform> <platform user id>"


class CachedUsers:
    """A `UserStore` that remembers users by id and identity for `ttl` seconds."""

    def __init__(
        self,
        inner: UserStore,
        ttl: float = USER_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        outage: StoreOutage | None = None,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._clock = clock
        self._outage = outage or StoreOutage(clock)
        self._by_id: dict[str, tuple[float, User]] = {}
        self._by_identity: dict[tuple[str, str], tuple[float, User]] = {}
        self._feed: ChangeFeed | None = None

    def follow(self, feed: ChangeFeed) -> None:
        """Announce this process's changes on `feed` and drop what others announce."""
        self._feed = feed
        feed.subscribe(USERS_TOPIC, self._changed_elsewhere)

    def _changed_elsewhere(self, payload: str) -> None:
        kind, _, rest = payload.partition(" ")
        if kind == "u":
            self._forget(rest)
        elif kind == "i":
            platform, _, platform_user_id = rest.partition(" ")
            self._by_identity.pop((platform, platform_user_id), None)
        else:  # "": the feed may have missed changes; anything cached may be stale
            self._by_id.clear()
            self._by_identity.clear()

    async def _announce(self, payload: str) -> None:
        if self._feed is not None:
            await self._feed.publish(USERS_TOPIC, payload)

    def _fresh(self, entry: tuple[float, User] | None) -> User | None:
        if entry is None or entry[0] < self._clock():
            return None
        return entry[1]

    def _remember(self, user: User, identity: tuple[str, str] | None = None) -> User:
        entry = (self._clock() + self._ttl, user)
        self._by_id[user.id] = entry
        if identity is not None:
            self._by_identity[identity] = entry
        if len(self._by_id) > 10_000:  # users that stopped writing; keep memory bounded
            self._by_id.clear()
            self._by_identity.clear()
        return user

    def _forget(self, user_id: str) -> None:
        self._by_id.pop(user_id, None)
        stale = [k for k, (_, user) in self._by_identity.items() if user.id == user_id]
        for identity in stale:
            del self._by_identity[identity]

    async def for_identity(self, who: PlatformUser) -> User:
        identity = (who.platform, who.platform_user_id)
        entry = self._by_identity.get(identity)
        user = self._fresh(entry)
        if user is not None:
            return user
        last_seen = entry[1] if entry is not None else None
        found = await self._ask(lambda: self._inner.for_identity(who), last_seen)
        return found if found is last_seen else self._remember(found, identity)

    async def get(self, user_id: str) -> User | None:
        entry = self._by_id.get(user_id)
        user = self._fresh(entry)
        if user is not None:
            return user
        last_seen = entry[1] if entry is not None else None
        found = await self._ask(lambda: self._inner.get(user_id), last_seen)
        return found if found is None or found is last_seen else self._remember(found)

    async def _ask(self, lookup: Callable[[], Awaitable[T]], last_seen: User | None) -> T | User:
        """The store's answer; while the store is down, `last_seen` (when there is one)."""
        if last_seen is not None and self._outage.down:
            return last_seen  # known to be down: don't wait out its timeout again
        try:
            return await lookup()
        except StoreError as exc:
            self._outage.failed(exc)
            if last_seen is None:
                raise
            return last_seen

    async def get_by_email(self, email: str) -> User | None:
        return await self._inner.get_by_email(email)  # sign-in only: always the stored hash

    async def create(self, user: User) -> User:
        return await self._inner.create(user)

    async def _changing(self, user_id: str, change: Awaitable[T]) -> T:
        """Run a change of `user_id`, dropping what is cached of them before and after."""
        self._forget(user_id)
        try:
            return await change
        finally:
            self._forget(user_id)  # a read during the write may have cached the old value
            await self._announce(f"u {user_id}")

    async def set_model(self, user_id: str, model: str | None) -> None:
        await self._changing(user_id, self._inner.set_model(user_id, model))

    async def set_role(self, user_id: str, role: UserRole) -> bool:
        return await self._changing(user_id, self._inner.set_role(user_id, role))

    async def update_profile(
        self,
        user_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        profile_image_url: str | None = None,
    ) -> User | None:
        change = self._inner.update_profile(
            user_id, name=name, email=email, profile_image_url=profile_image_url
        )
        return await self._changing(user_id, change)

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        return await self._changing(user_id, self._inner.set_password(user_id, password_hash))

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        return await self._changing(user_id, self._inner.set_disabled(user_id, disabled))

    async def delete(self, user_id: str) -> bool:
        return await self._changing(user_id, self._inner.delete(user_id))

    async def all(self) -> list[User]:
        return await self._inner.all()

    async def find_identity(self, platform: str, platform_user_id: str) -> User | None:
        return await self._inner.find_identity(platform, platform_user_id)

    async def identities(self, user_id: str | None = None) -> list[Identity]:
        return await self._inner.identities(user_id)

    async def count(self) -> int:
        return await self._inner.count()

    async def link_identity(self, user_id: str, platform: str, platform_user_id: str) -> None:
        self._by_identity.pop((platform, platform_user_id), None)
        try:
            await self._inner.link_identity(user_id, platform, platform_user_id)
        finally:
            self._by_identity.pop((platform, platform_user_id), None)
            await self._announce(f"i {platform} {platform_user_id}")


@dataclass(slots=True)
class _Counts:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0

    def add(self, other: _Counts) -> None:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.estimated_tokens += other.estimated_tokens


class BufferedUsage:
    """A `UsageStore` that sums usage in memory and writes it every `interval` seconds."""

    def __init__(self, inner: UsageStore, interval: float = USAGE_FLUSH_SECONDS) -> None:
        self._inner = inner
        self._interval = interval
        self._pending: dict[tuple[str, str, str], _Counts] = {}
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one flush at a time keeps the counts in order

    async def add(
        self,
        user_id: str,
        model: str,
        day: str,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        requests: int = 1,
        estimated_tokens: int = 0,
    ) -> None:
        counts = self._pending.setdefault((user_id, model, day), _Counts())
        counts.add(_Counts(requests, prompt_tokens, completion_tokens, estimated_tokens))
        if self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())

    async def for_user(self, user_id: str, day: str) -> list[Usage]:
        await self.flush()
        return await self._inner.for_user(user_id, day)

    async def between(
        self, first_day: str, last_day: str, *, user_id: str | None = None, model: str | None = None
    ) -> list[Usage]:
        await self.flush()
        return await self._inner.between(first_day, last_day, user_id=user_id, model=model)

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self._interval)
        finally:
            self._timer = None
        with contextlib.suppress(StoreError):  # logged by flush; the counts wait for the next
            await self.flush()

    async def flush(self) -> None:
        """Write every pending count now; raise `StoreError` (keeping the counts) if one fails."""
        async with self._lock:
            pending, self._pending = self._pending, {}
            items = list(pending.items())
            for index, ((user_id, model, day), counts) in enumerate(items):
                try:
                    await self._inner.add(
                        user_id,
                        model,
                        day,
                        prompt_tokens=counts.prompt_tokens,
                        completion_tokens=counts.completion_tokens,
                        requests=counts.requests,
                        estimated_tokens=counts.estimated_tokens,
                    )
                except BaseException as exc:
                    self._keep(items[index:])
                    if isinstance(exc, StoreError):
                        log.error("could not store usage", extra={"error": str(exc)})
                    raise

    def _keep(self, items: list[tuple[tuple[str, str, str], _Counts]]) -> None:
        for key, counts in items:
            self._pending.setdefault(key, _Counts()).add(counts)
        if self._timer is None and self._pending:
            with contextlib.suppress(RuntimeError):  # no loop left at shutdown
                self._timer = asyncio.get_running_loop().create_task(self._flush_later())

    async def aclose(self) -> None:
        """Write what is pending and stop the timer."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        try:
            await self.flush()
        finally:
            if self._timer is not None:  # flush failed and re-armed: nothing will run it now
                self._timer.cancel()
                self._timer = None


class FrontedStores:
    """`Stores` with `CachedUsers` and `BufferedUsage` in front of the inner ones."""

    def __init__(self, inner: Stores) -> None:
        self.inner = inner
        self.outage = StoreOutage()
        self.users: UserStore = CachedUsers(inner.users, outage=self.outage)
        self.usage_buffer = BufferedUsage(inner.usage)
        self.usage: UsageStore = self.usage_buffer
        self.conversations: ConversationStore = inner.conversations
        self.prompts: PromptStore = inner.prompts
        self.chats: WebChatStore = inner.chats
        self.settings: SettingStore = inner.settings
        self.jobs: JobStore = inner.jobs
        self.description = inner.description

    def follow(self, feed: ChangeFeed) -> None:
        """Keep the user cache in step with the other replicas through `feed`."""
        if isinstance(self.users, CachedUsers):
            self.users.follow(feed)

    async def ping(self) -> None:
        await self.inner.ping()

    async def aclose(self) -> None:
        try:
            await self.usage_buffer.aclose()
        except StoreError:
            log.error("usage counted since the last write is lost: the store failed at shutdown")
        finally:
            await self.inner.aclose()
