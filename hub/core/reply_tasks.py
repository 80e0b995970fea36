"""The replies `ChatService` is producing, and how shutdown ends them.

Each reply runs in a task of its own. At shutdown (`close_intake`, on SIGTERM) the hub takes no
new message and starts no new generation: every reply that has not begun streaming (waiting
for its conversation, for the limits or for a backend slot) is cancelled at once and refused;
replies already streaming may finish within the grace period (`drain`), and the rest are then
cancelled. A cancelled reply still stores what it had, flagged interrupted, and its last event
says the hub is restarting rather than that someone stopped it.
"""

from __future__ import annotations

import asyncio
import logging

from hub.core.cancel_safe import run_to_completion
from hub.core.generation import Run
from hub.core.models import Failed

log = logging.getLogger(__name__)

STOPPED = "Reply stopped."
RESTARTING = "The hub is restarting; try again in a moment."
RESTARTING_CUT = "The hub is restarting, so this reply was cut short; try again in a moment."
RESTART_RETRY_AFTER = 5.0  # seconds: about what a restart takes


class ReplyTasks:
    """Tasks producing replies, each with its `Run` once admitted (`note_run`)."""

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[None], Run | None] = {}
        self.closing = False

    def add(self, task: asyncio.Task[None]) -> None:
        self._tasks[task] = None
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    def note_run(self, run: Run) -> None:
        """The current task's generation (it has begun streaming once `run.backend` is set)."""
        task = asyncio.current_task()
        if task is not None and task in self._tasks:
            self._tasks[task] = run

    def __len__(self) -> int:
        return len(self._tasks)

    # --- the events of refused and cancelled replies ------------------------------------------

    @staticmethod
    def refusal(model: str | None = None) -> Failed:
        """What a message gets while the hub is shutting down."""
        return Failed(RESTARTING, code="restarting", retry_after=RESTART_RETRY_AFTER, model=model)

    def cancelled(self, partial: str = "", model: str | None = None) -> Failed:
        """The last event of a cancelled reply: stopped by a person, or cut by shutdown."""
        if not self.closing:
            return Failed(STOPPED, partial, code="cancelled", model=model)
        reason = RESTARTING_CUT if partial else RESTARTING
        return Failed(
            reason, partial, code="restarting", retry_after=RESTART_RETRY_AFTER, model=model
        )

    # --- shutdown -------------------------------------------------------------------------------

    def close_intake(self) -> int:
        """Take no new message, and cancel every reply that has not begun streaming (waiting
        in a queue, or not yet sent to a backend). Returns how many were cancelled."""
        self.closing = True
        waiting = [t for t, run in self._tasks.items() if run is None or run.backend is None]
        for task in waiting:
            task.cancel()
        if waiting:
            log.info("refusing replies that had not started", extra={"count": len(waiting)})
        return len(waiting)

    async def drain(self, grace: float) -> None:
        """`close_intake`, let the streaming replies finish for up to `grace` seconds, then
        cancel the rest and wait until each has stored what it had."""
        self.close_intake()
        if self._tasks and grace > 0:
            await asyncio.wait(list(self._tasks), timeout=grace)
        if self._tasks:
            log.info("cutting replies still streaming", extra={"count": len(self._tasks)})
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel every reply (each stores what it had) and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await run_to_completion(asyncio.wait(tasks))
