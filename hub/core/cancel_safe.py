"""Writes that cancelling the caller cannot cut halfway (a turn stored, a lease given back)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def run_to_completion(aw: Awaitable[T]) -> T:
    """Await `aw` so that cancelling the caller cannot abandon it halfway.

    The work runs in its own task behind `asyncio.shield`. If the caller is cancelled meanwhile,
    this still waits for the work to finish (a half-done write is worse than a late one) and then
    re-raises the cancellation.
    """
    task = asyncio.ensure_future(aw)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                continue
        if not task.cancelled():
            task.exception()  # mark it retrieved; the cancellation wins
        raise
