"""Running one admin command: open the store, do the work, close it, and map failures to exit
codes (1 the store is down, 2 bad input) with one line on stderr."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from hub.core.ports import StoreError
from hub.core.prompts import PROMPTS_TOPIC

if TYPE_CHECKING:
    from hub.core.coordination.redis_link import RedisLink
    from hub.core.ports import ChangeFeed, Stores
    from hub.settings import HubSettings

Work = Callable[["Stores"], Awaitable[int]]


class AdminError(Exception):
    """The command cannot do what was asked (unknown user, bad file). The message says why."""


def fail(message: str, code: int) -> int:
    print(f"chathub: {message}", file=sys.stderr)
    return code


def run_with_stores(settings: HubSettings, work: Work) -> int:
    """Run `work` on the configured store; the process exit code."""
    return asyncio.run(_run(settings, work))


async def _run(settings: HubSettings, work: Work) -> int:
    from hub.bootstrap import open_stores

    try:
        stores = await open_stores(settings)
    except StoreError as exc:
        return fail(str(exc), 1)
    announcer = await _announcer(settings, stores)
    try:
        code = await work(stores)
        if announcer is not None:
            await announcer.publish(PROMPTS_TOPIC, "changed")  # running hubs refresh menus
        return code
    except AdminError as exc:
        return fail(str(exc), 2)
    except StoreError as exc:
        return fail(str(exc), 1)
    finally:
        await stores.aclose()
        if announcer is not None:
            await announcer.aclose()


async def _announcer(settings: HubSettings, stores: Stores) -> _Announcer | None:
    """With Redis, running hubs hear of this command's changes at once (users dropped from
    their caches, menus refreshed) instead of when their caches expire."""
    if settings.redis_url is None:
        return None
    from hub.core.coordination.redis_feed import RedisFeed
    from hub.core.coordination.redis_link import RedisLink
    from hub.core.stores.fronted import FrontedStores

    url = settings.redis_url.get_secret_value()
    link = RedisLink.connect(url, namespace=settings.coordination.namespace)
    feed = RedisFeed(link)
    if isinstance(stores, FrontedStores):
        stores.follow(feed)
    return _Announcer(feed, link)


class _Announcer:
    def __init__(self, feed: ChangeFeed, link: RedisLink) -> None:
        self._feed, self._link = feed, link

    async def publish(self, topic: str, payload: str) -> None:
        await self._feed.publish(topic, payload)

    async def aclose(self) -> None:
        await self._link.aclose()
