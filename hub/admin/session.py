"""Running one admin command: open the store, do the work, close it, and map failures to exit
codes (1 the store is down, 2 bad input) with one line on stderr."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from hub.core.ports import StoreError

if TYPE_CHECKING:
    from hub.core.ports import Stores
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
    try:
        return await work(stores)
    except AdminError as exc:
        return fail(str(exc), 2)
    except StoreError as exc:
        return fail(str(exc), 1)
    finally:
        await stores.aclose()
