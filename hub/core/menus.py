"""Keeping a connector's native command menu in step with the prompt commands.

A prompt command added, edited or removed on any surface must reach the menus of running
connectors without a restart. `MenuWatcher` republishes a connector's menu:

- soon after a change made in this process (`PromptService.on_change`: chat `/prompt`, the Open
  WebUI routes), debounced so a burst of changes (an import) costs one call of the platform's
  menu API;
- and when its periodic look at the menu finds it changed, which catches changes made by
  another process on the same store (`chathub prompts`, other hub workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)

Entries = Sequence[tuple[str, str]]
DEBOUNCE = 2.0  # seconds: changes within this window are published together
POLL = 60.0  # seconds between looks for changes made by other processes


class MenuWatcher:
    """Calls `publish(entries)` whenever `entries()` changes; see the module docstring.

    `hooks` is the prompt service's `on_change` list (None: no in-process notifications).
    """

    def __init__(
        self,
        entries: Callable[[], Awaitable[Entries]],
        publish: Callable[[Entries], Awaitable[None]],
        *,
        hooks: list[Callable[[], Awaitable[None]]] | None = None,
        debounce: float = DEBOUNCE,
        poll: float = POLL,
    ) -> None:
        self._entries, self._publish = entries, publish
        self.hooks = hooks
        self._debounce, self._poll = debounce, poll
        self._published: list[tuple[str, str]] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Publish the menu now, then follow changes."""
        await self.refresh()
        if self.hooks is not None:
            self.hooks.append(self._changed)
        self._task = asyncio.create_task(self._run(), name="menu-watcher")

    async def stop(self) -> None:
        if self.hooks is not None and self._changed in self.hooks:
            self.hooks.remove(self._changed)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self, *, force: bool = True) -> bool:
        """Publish the current menu (unless unchanged and not `force`); True if published."""
        entries = list(await self._entries())
        if not force and entries == self._published:
            return False
        await self._publish(entries)
        self._published = entries
        return True

    async def _changed(self) -> None:
        self._wake.set()  # never make the change wait for a platform call

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
            # that arrives as the event is set, and stop() would then wait a whole debounce.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            if self._wake.is_set():
                await asyncio.sleep(self._debounce)  # gather the rest of a burst
                self._wake.clear()
            try:
                if await self.refresh(force=False):
                    log.info(
                        "command menu refreshed", extra={"commands": len(self._published or [])}
                    )
            except Exception as exc:  # the platform or the store is down: try again later
                log.warning("command menu refresh failed", extra={"error": str(exc)})
