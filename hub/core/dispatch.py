"""ChatDispatch: how every chat connector answers a message, in one place.

A connector turns a platform event into an `IncomingMessage` and hands it over with a way to
build the reply's sink; the dispatch does the rest:

- the access check (`hub.core.access`): a refused message never reaches a model; its sender
  gets one short refusal in private chats and silence in groups;
- accounting of the replies in flight, so `busy` and shutdown know what is still being written;
- `render()` of `ChatService`'s events into the sink (typing, queue notices, throttled edits);
- Stop tokens: an opaque string for the reply's Stop control (Telegram callback data ≤ 64 bytes,
  a Slack action value, a Discord custom id), decoded and authorised by `stop()`: only the
  person who asked, or an admin, may stop a reply, and a refused person's Stop is ignored;
- draining at shutdown: replies in flight may finish within the grace period; the rest are
  stopped, which stores them flagged as interrupted, and their messages end with a notice.

Edges that print events themselves (the console) use `reply()`, which keeps the accounting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

from hub.core.access import Access
from hub.core.budget import Clock, LoopClock
from hub.core.cancel_safe import run_to_completion
from hub.core.coordination.local import LocalStops
from hub.core.models import ConversationKey, IncomingMessage, Notice, PlatformUser, ReplyEvent
from hub.core.ports import MessageSink, StopEntry, StopRegistry
from hub.core.render import RenderOptions, RenderResult, render

log = logging.getLogger(__name__)

STOP_PREFIX = "stop:"
STOPPING = "Stopping…"
NOTHING_TO_STOP = "Nothing to stop."
NOT_YOURS = "Only the person who asked can stop this reply."
INVALID = "This button is no longer valid."
AFTER_STOP_WAIT = 5.0  # seconds stopped replies get to write their final "interrupted" message

# Builds the reply's sink; gets the reply's Stop token (None: the sink shows no Stop control).
SinkFactory = Callable[[str | None], MessageSink]


class ChatLike(Protocol):
    """What the dispatch needs of `ChatService`."""

    def reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]: ...

    async def stop(self, key: ConversationKey) -> bool: ...


def new_stop_token() -> str:
    """`stop:` and 12 random URL-safe characters: 17 characters fit every platform.

    A token names one reply, not a conversation, so an old button never stops a newer reply,
    and a token whose reply ended is simply unknown.
    """
    return STOP_PREFIX + secrets.token_urlsafe(9)


def is_stop_token(data: str) -> bool:
    return data.startswith(STOP_PREFIX) and len(data) > len(STOP_PREFIX)


class ChatDispatch:
    """Answers one connector's messages into sinks; see the module docstring."""

    def __init__(
        self,
        chat: ChatLike,
        *,
        access: Access | None = None,
        clock: Clock | None = None,
        options: RenderOptions | None = None,
        grace: float = 10.0,
        stops: StopRegistry | None = None,
    ) -> None:
        self.chat = chat
        self.clock: Clock = clock or LoopClock()
        self.options = options
        self.grace = grace
        self.access = access or Access()
        # Shared by every replica (Redis) so a Stop reaches the reply wherever it runs.
        self._stops: StopRegistry = stops if stops is not None else LocalStops()
        self._replies: Counter[ConversationKey] = Counter()
        self._idle = asyncio.Event()
        self._idle.set()

    # --- answering ------------------------------------------------------------------------------

    async def answer(self, msg: IncomingMessage, make_sink: SinkFactory) -> RenderResult | None:
        """Answer `msg` into the sink `make_sink` builds; None when nothing was rendered."""
        verdict = await self.access.check(msg)
        if not verdict.allowed:
            if not verdict.reply:
                return None
            return await self.say(verdict.reply, make_sink(None))
        token = new_stop_token()
        entry = StopEntry(msg.key, msg.user.platform_user_id, msg.workspace_id)
        try:
            with self._in_flight(msg.key):
                await self._stops.issue(token, entry)
                sink = make_sink(token)
                return await render(
                    self.chat.reply(msg), sink, clock=self.clock, options=self.options
                )
        except Exception:
            log.exception(
                "chat reply failed", extra={"platform": msg.platform, "chat_id": msg.chat_id}
            )
            return None
        finally:
            # Shielded: a token left behind would stop the conversation's next reply.
            await run_to_completion(self._stops.revoke(token))

    async def say(self, text: str, sink: MessageSink) -> RenderResult:
        """Deliver one message of the hub's own (a refusal, a notice) through the renderer."""
        return await render(_notice(text), sink, clock=self.clock, options=self.options)

    async def reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        """`ChatService.reply(msg)` with the access check and in-flight accounting, for edges
        that print events themselves; a refusal comes as one `Notice` (or nothing)."""
        verdict = await self.access.check(msg)
        if not verdict.allowed:
            if verdict.reply:
                yield Notice(verdict.reply)
            return
        with self._in_flight(msg.key):
            events = self.chat.reply(msg)
            try:
                async for event in events:
                    yield event
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()

    @contextlib.contextmanager
    def _in_flight(self, key: ConversationKey) -> Iterator[None]:
        self._replies[key] += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._replies[key] -= 1
            if self._replies[key] <= 0:
                del self._replies[key]
            if not self._replies:
                self._idle.set()

    @property
    def busy(self) -> bool:
        """Whether a reply is being written right now."""
        return bool(self._replies)

    @property
    def in_flight(self) -> int:
        return sum(self._replies.values())

    # --- stopping -------------------------------------------------------------------------------

    def is_stop_token(self, data: str) -> bool:
        return is_stop_token(data)

    async def stop(self, token: str, by: PlatformUser) -> str:
        """Stop the reply `token` names if `by` may; returns the text to show `by`."""
        if not self.is_stop_token(token):
            return INVALID
        running = await self._stops.lookup(token)
        if running is None:
            return NOTHING_TO_STOP
        if not self.access.allows(by.platform_user_id, running.key.chat_id, running.workspace):
            log.info("stop refused by the allow lists", extra={"by": by.platform_user_id})
            return ""  # ignored, like everything else from someone who may not use the bot
        if by.platform_user_id != running.asker and not await self.access.is_admin(by):
            return NOT_YOURS
        stopped = await self.chat.stop(running.key)
        if stopped:
            log.info(
                "reply stopped from its Stop control",
                extra={"platform": by.platform, "by": by.platform_user_id},
            )
        return STOPPING if stopped else NOTHING_TO_STOP

    async def stop_conversation(self, key: ConversationKey) -> bool:
        """Stop the reply being written in `key` (the console's /stop and Ctrl-C)."""
        return await self.chat.stop(key)

    # --- shutdown -------------------------------------------------------------------------------

    async def drain(self, grace: float | None = None) -> None:
        """Let replies in flight finish for `grace` seconds, then stop the rest.

        A stopped reply is stored flagged as interrupted and its message ends with a notice;
        this waits a few more seconds for those last writes.
        """
        wait = self.grace if grace is None else grace
        if self._replies and wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._idle.wait()
        if not self._replies:
            return
        log.info("stopping replies still running at shutdown", extra={"count": self.in_flight})
        for key in list(self._replies):
            with contextlib.suppress(Exception):
                await self.chat.stop(key)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(AFTER_STOP_WAIT):
                await self._idle.wait()


async def _notice(text: str) -> AsyncIterator[ReplyEvent]:
    yield Notice(text)
