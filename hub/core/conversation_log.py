"""Stored conversations as the pipeline uses them, through store outages: nothing is lost.

While the store answers, turns go straight to it. When it does not, a message from someone the
hub knows is still answered, without the stored history (only what waits in the spool of that
conversation), and its turns go to the spool (`stores/spool.py`). Once the store answers again
the spooled turns are written back, in the order they were taken, before any newer turn of the
same conversation; a turn the store already has (its write succeeded but the answer was lost)
is not written twice. When the spool is full, the message is refused and the person told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hub.core.fitting import past_messages
from hub.core.models import ChatMessage, ConversationKey, Turn
from hub.core.ports import ConversationStore, StaleWrite, StoreError
from hub.core.stores.common import to_utc
from hub.core.stores.outage import BacklogFull, StoreOutage
from hub.core.stores.spool import SpooledTurn, TurnSpool

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # how often the store is asked again while it is down
_BATCH = 100
_DEDUPE_WINDOW = 50  # newest stored turns a spooled turn is looked for before it is written
_CLOSE_WAIT = 5.0  # seconds a last write-back may take at shutdown


@dataclass
class Session:
    """One exchange's view of its conversation: `conversation_id` None when the store could
    not say which conversation it is (the spooled turns then go to the active one)."""

    key: ConversationKey
    user_id: str
    conversation_id: str | None
    history: list[Turn] = field(default_factory=list)


def history_to_send(
    session: Session, chain: tuple[ChatMessage, ...] | None, limit: int
) -> list[ChatMessage]:
    """The history to send: the branch the message continues (a reply chain), else the
    session's turns."""
    if chain is not None:
        return [m for m in chain if m.role in ("user", "assistant")][-limit:]
    return past_messages(session.history)


class ConversationLog:
    """Conversations through `conversations`, spooling turns while the store is down.

    `spool` None: nothing is spooled, and a message during an outage is refused (told to try
    again). `limit`: turns the spool may hold, about (each exchange checks for room for two).
    """

    def __init__(
        self,
        conversations: ConversationStore,
        ping: Callable[[], Awaitable[None]],
        outage: StoreOutage,
        spool: TurnSpool | None = None,
        limit: int = 0,
    ) -> None:
        self._conversations = conversations
        self._ping = ping
        self.outage = outage
        self._spool = spool
        self._limit = limit
        self._lock = asyncio.Lock()  # one write-back at a time keeps the order
        self._runner: asyncio.Task[None] | None = None

    def waiting(self, key: ConversationKey | None = None) -> int:
        """Turns in the spool: of conversation `key`, or all of them."""
        return self._spool.waiting(key) if self._spool is not None else 0

    # --- what the pipeline calls ----------------------------------------------------------------

    async def begin(self, key: ConversationKey, user_id: str, limit: int) -> Session:
        """The conversation of `key` and its newest `limit` turns; raises `StoreError` (or
        `BacklogFull`) when the message cannot be taken."""
        if self.waiting(key) and not self.outage.down:
            await self.write_back()  # its earlier turns must reach the store first
        if not self.outage.down and not self.waiting(key):
            try:
                conversation = await self._conversations.active(key, user_id)
                history = await self._conversations.recent(conversation.id, limit)
                return Session(key, user_id, conversation.id, history)
            except StoreError as exc:
                self.outage.failed(exc)
        if self._spool is None:
            raise StoreError("the store is down and no spool is configured")
        if self._spool.waiting() + 2 > self._limit:
            log.error("spool full: refusing a message", extra={"waiting": self._spool.waiting()})
            raise BacklogFull
        pending = await self._spool.of(key)
        known = [p.conversation_id for p in pending if p.conversation_id is not None]
        history = [p.turn for p in pending][-limit:] if limit > 0 else []
        return Session(key, user_id, known[-1] if known else None, history)

    async def append(self, session: Session, turn: Turn, fence: int | None = None) -> Turn:
        """Store `turn` (or spool it, while the store is down or turns of this conversation
        still wait); raises `StoreError` only if neither can take it, and `StaleWrite` when
        `fence` (the conversation lease's, with several replicas) is older than the store's."""
        if (
            session.conversation_id is not None
            and not self.outage.down
            and not self.waiting(session.key)
        ):
            try:
                return await self._conversations.append(session.conversation_id, turn, fence=fence)
            except StaleWrite:
                raise  # the store answered: a newer reply has the conversation
            except StoreError as exc:
                self.outage.failed(exc)
        if self._spool is None:
            raise StoreError("the store is down and no spool is configured")
        await self._spool.add(session.key, session.user_id, session.conversation_id, turn)
        self.outage.trouble.set()
        return turn

    # --- writing spooled turns back ---------------------------------------------------------------

    async def write_back(self) -> bool:
        """Write every spooled turn to the store, oldest first; False if the store failed."""
        if self._spool is None or not self._spool.waiting():
            return True
        async with self._lock:
            actives: dict[ConversationKey, str] = {}
            while batch := await self._spool.oldest(_BATCH):
                for spooled in batch:
                    if not await self._write(spooled, actives):
                        return False
                    await self._spool.remove(spooled)
            log.info("spooled turns written to the store")
            return True

    async def _write(self, spooled: SpooledTurn, actives: dict[ConversationKey, str]) -> bool:
        try:
            conversation_id = spooled.conversation_id or actives.get(spooled.key)
            if conversation_id is None:
                conversation = await self._conversations.active(spooled.key, spooled.user_id)
                conversation_id = actives[spooled.key] = conversation.id
            if not await self._stored(conversation_id, spooled.turn):
                await self._conversations.append(conversation_id, spooled.turn)
            return True
        except StoreError as exc:
            if not await self._answers():
                self.outage.failed(exc)
                return False
            # The store answers but will not take this turn (its conversation was deleted
            # meanwhile): keeping it would hold back every turn after it for good.
            log.error(
                "dropping a spooled turn the store refuses",
                extra={"conversation": spooled.conversation_id, "error": str(exc)},
            )
            return True

    async def _stored(self, conversation_id: str, turn: Turn) -> bool:
        """Whether the store has `turn` already (written before its answer was lost)."""
        at = to_utc(turn.created_at)
        recent = await self._conversations.recent(conversation_id, _DEDUPE_WINDOW)
        return any(
            t.role == turn.role and t.text == turn.text and to_utc(t.created_at) == at
            for t in recent
        )

    async def _answers(self) -> bool:
        try:
            await self._ping()
        except StoreError:
            return False
        return True

    # --- the background writer ------------------------------------------------------------------

    async def start(self) -> None:
        """Read a spool left by a previous process and start writing turns back."""
        if self._spool is not None:
            await self._spool.open()
            if self._spool.waiting():
                self.outage.trouble.set()
        self._runner = asyncio.create_task(self._run(), name="spool-writer")

    async def _run(self) -> None:
        trouble = self.outage.trouble
        while True:
            await trouble.wait()
            if await self._answers():
                self.outage.recovered()
                try:
                    if await self.write_back():
                        trouble.clear()
                        if self.waiting():  # spooled while the last batch was written
                            trouble.set()
                        continue
                except Exception:  # keep the writer alive whatever one round did
                    log.exception("writing spooled turns back failed")
            await asyncio.sleep(RETRY_SECONDS)

    async def aclose(self) -> None:
        """Stop the writer, try a last write-back, close the spool."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        if self.waiting() and not self.outage.down:
            with contextlib.suppress(StoreError, TimeoutError):
                await asyncio.wait_for(self.write_back(), _CLOSE_WAIT)
        if self.waiting():
            log.warning(
                "turns left in the spool for the next start", extra={"count": self.waiting()}
            )
        if self._spool is not None:
            await self._spool.aclose()
