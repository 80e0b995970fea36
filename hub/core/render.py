"""render(events, sink): one streaming engine for every chat platform.

The engine reads reply events and writes them to a `MessageSink` as a message that grows in
place. Every write (send, edit, finish) first takes a unit of the sink's `EditBudget`, so edits
come as fast as the platform allows and no faster; text that arrives meanwhile is coalesced into
the next write. A retry-after pauses the chat for exactly that long and the next write carries
all text so far. Until the first text a typing indicator is renewed, and queue positions are
shown in a placeholder. While streaming, messages end with an in-progress marker and carry the
sink's controls (a Stop button); at the end every message is finished with its exact final part.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from hub.core.budget import Clock, LoopClock
from hub.core.models import Done, Failed, Notice, Queued, ReplyEvent, Started, Text
from hub.core.ports import (
    MessageSink,
    SinkMessageGone,
    SinkRateLimited,
    SinkRejectedMarkup,
    SinkText,
)
from hub.core.render_layout import Layout, append_block, len16

log = logging.getLogger(__name__)


def _queued_text(position: int) -> str:
    return "⏳ Queued: you're next" if position <= 0 else f"⏳ Queued: {position} ahead of you"


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Texts and retry limits of the renderer."""

    marker: str = " ▌"  # in-progress marker, appended after conversion
    waiting_text: str = "…"  # placeholder once generation started but no text yet
    queued_text: Callable[[int], str] = _queued_text
    empty_text: str = "(empty reply)"
    # Hold the first text this long, so a reply that arrives whole is written once, final.
    first_write_delay: float = 0.25
    final_attempts: int = 5  # tries per final write on errors other than rate limits
    error_backoff: float = 1.0  # seconds between those tries
    max_retry_after: float = 3600.0  # give up a write when asked to wait longer than this


@dataclass
class RenderResult:
    """What was delivered, and counters for logs, tests and benchmarks (times are clock time)."""

    text: str = ""  # the complete Markdown delivered, failure notice included
    parts: list[str] = field(default_factory=list)  # Markdown of each final message
    handles: list[Any] = field(default_factory=list)
    outcome: Done | Failed | None = None
    sends: int = 0
    edits: int = 0
    finishes: int = 0
    rate_limited: int = 0
    plain_fallbacks: int = 0
    errors: int = 0
    first_token_at: float | None = None
    first_visible_at: float | None = None
    delivered: bool = False  # every final part reached the platform


@dataclass
class _Msg:
    handle: Any = None  # None: (re)send needed
    shown: str | None = None  # Markdown last shown, marker included
    final: bool = False
    plain: bool = False


@dataclass(frozen=True, slots=True)
class _Op:
    index: int
    markdown: str
    final: bool
    is_text: bool = True  # False for the queue/waiting placeholder


async def render(
    events: AsyncIterator[ReplyEvent],
    sink: MessageSink,
    *,
    clock: Clock | None = None,
    options: RenderOptions | None = None,
) -> RenderResult:
    """Show a streaming reply in `sink`; returns once every final part is delivered."""
    return await _Renderer(sink, clock or LoopClock(), options or RenderOptions()).run(events)


class _Renderer:
    def __init__(self, sink: MessageSink, clock: Clock, options: RenderOptions) -> None:
        self.sink, self.clock, self.opt = sink, clock, options
        self.result = RenderResult()
        self.layout = Layout(sink)
        self.msgs: list[_Msg] = []
        self.content = ""  # reply text and notices, as Markdown; only ever appended to
        self.reply = ""  # model text only, to reconcile with Done.text
        self.queued: int | None = None
        self.started = False
        self.ended = False
        self.changed = asyncio.Event()
        self.held_token = False
        self.gave_up = False  # the platform asked to wait longer than max_retry_after
        self.next_typing = clock.now() if sink.typing_interval > 0 else None
        self.last_write = clock.now()

    async def run(self, events: AsyncIterator[ReplyEvent]) -> RenderResult:
        reader = asyncio.create_task(self._read(events))
        try:
            await self._stream()
        finally:
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self._finalize()
        return self.result

    # --- events -------------------------------------------------------------------------------

    async def _read(self, events: AsyncIterator[ReplyEvent]) -> None:
        try:
            async for event in events:
                self._apply(event)
                self.changed.set()
        except Exception:
            log.exception("reply stream failed", extra={"sink": type(self.sink).__name__})
            self.result.outcome = Failed("The reply failed unexpectedly.")
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            self.ended = True
            self.changed.set()

    def _apply(self, event: ReplyEvent) -> None:
        if isinstance(event, Text):
            if not event.delta:
                return
            if self.result.first_token_at is None:
                self.result.first_token_at = self.clock.now()
            if self.content and not self.reply:
                self.content = append_block(self.content, "")  # reply after a notice
            self.content += event.delta
            self.reply += event.delta
        elif isinstance(event, Notice):
            if event.text.strip():
                self.content = append_block(self.content, event.text)
        elif isinstance(event, Queued):
            self.queued = event.position
        elif isinstance(event, Started):
            self.started, self.queued = True, None
        elif isinstance(event, Done):
            self.result.outcome = event
            if event.text.startswith(self.reply) and event.text != self.reply:
                self.content += event.text[len(self.reply) :]
                self.reply = event.text
        elif isinstance(event, Failed):
            self.result.outcome = event

    # --- streaming ------------------------------------------------------------------------------

    async def _stream(self) -> None:
        while not self.ended and not self.gave_up:
            self.changed.clear()
            if self._timer_wait() <= 0:
                await self._timers()
                continue
            op = self._next_op()
            if op is None:
                await self._idle()
                continue
            hold = self._hold(op)
            if hold > 0:
                await self._idle(hold)
                continue
            await self.sink.budget.acquire()
            if self.ended:
                self.held_token = True
                return
            op = self._next_op()
            if op is not None:
                await self._write(op)

    def _next_op(self) -> _Op | None:
        if self.content.strip():
            return self._text_op()
        if self.queued is not None:
            text = self.opt.queued_text(self.queued)
        elif self.msgs and self.started:
            text = self.opt.waiting_text
        else:
            return None
        if self.msgs and self.msgs[0].shown == text + self.opt.marker:
            return None
        return _Op(0, text, final=False, is_text=False)

    def _text_op(self) -> _Op | None:
        reserve = len16(self.opt.marker)
        display = self.layout.display(self.content, reserve)
        parts = self.layout.parts
        for i, part in enumerate(parts):
            if i >= len(self.msgs) or not self.msgs[i].final:
                return _Op(i, part.text, final=True)
        k = len(parts)
        if not display.strip():
            return None
        shown = display + self.opt.marker
        if k < len(self.msgs) and self.msgs[k].shown == shown:
            return None
        return _Op(k, display, final=False)

    def _timer_wait(self) -> float:
        now = self.clock.now()
        waits = [float("inf")]
        if self.next_typing is not None:
            waits.append(self.next_typing - now)
        if self._keepalive_target() is not None:
            waits.append(self.last_write + self.sink.keepalive - now)
        return min(waits)

    def _keepalive_target(self) -> int | None:
        if self.sink.keepalive <= 0 or not self.msgs:
            return None
        last = self.msgs[-1]
        if last.final or last.handle is None or last.shown is None:
            return None
        return len(self.msgs) - 1

    async def _timers(self) -> None:
        now = self.clock.now()
        if self.next_typing is not None and self.next_typing <= now:
            self.next_typing = now + self.sink.typing_interval
            try:
                await self.sink.typing()
            except Exception as exc:  # typing is cosmetic; never let it stop a reply
                log.debug("typing failed", extra={"error": str(exc)})
            return
        index = self._keepalive_target()
        if index is None:
            return
        await self.sink.budget.acquire()
        msg = self.msgs[index]
        if self.ended or msg.shown is None:
            self.held_token = self.ended
            return
        markdown = msg.shown[: len(msg.shown) - len(self.opt.marker)]
        await self._write(_Op(index, markdown, final=False))

    def _hold(self, op: _Op) -> float:
        first = self.result.first_token_at
        if not op.is_text or self.result.first_visible_at is not None or first is None:
            return 0.0
        return first + self.opt.first_write_delay - self.clock.now()

    async def _idle(self, limit: float = float("inf")) -> None:
        timeout = min(self._timer_wait(), limit)
        waiter = asyncio.ensure_future(self.changed.wait())
        tasks: set[asyncio.Future[Any]] = {waiter}
        if timeout != float("inf"):
            tasks.add(asyncio.ensure_future(self.clock.sleep(timeout)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    # --- writing ------------------------------------------------------------------------------

    def _text_for(self, op: _Op, msg: _Msg) -> SinkText:
        marker = "" if op.final else self.opt.marker
        if msg.plain:
            return SinkText(self.sink.plain(op.markdown) + marker, markup=False)
        return SinkText(self.sink.format(op.markdown, partial=not op.final) + marker)

    async def _call(self, op: _Op) -> None:
        while len(self.msgs) <= op.index:
            self.msgs.append(_Msg())
        msg = self.msgs[op.index]
        text = self._text_for(op, msg)
        if msg.handle is None:
            reply_to = self.msgs[op.index - 1].handle if op.index > 0 else None
            msg.handle = await self.sink.send(text, reply_to=reply_to, final=op.final)
            self.result.sends += 1
        elif op.final:
            msg.handle = await self.sink.finish(msg.handle, text)
            self.result.finishes += 1
        else:
            await self.sink.edit(msg.handle, text)
            self.result.edits += 1
        msg.shown = op.markdown + ("" if op.final else self.opt.marker)
        msg.final = op.final
        self.last_write = self.clock.now()
        if self.result.first_visible_at is None and op.is_text:
            self.result.first_visible_at = self.last_write
            self.next_typing = None

    async def _write(self, op: _Op) -> bool:
        """One attempt at `op` (budget already taken); False if it must be tried again."""
        try:
            await self._call(op)
            return True
        except SinkRateLimited as exc:
            self.result.rate_limited += 1
            self.sink.budget.pause(exc.retry_after)
            log.info("platform asked to wait", extra={"retry_after": exc.retry_after})
            if exc.retry_after > self.opt.max_retry_after:
                log.error("platform asked to wait too long", extra={"retry_after": exc.retry_after})
                self.gave_up = True
        except SinkRejectedMarkup:
            self.result.plain_fallbacks += 1
            self.msgs[op.index].plain = True
        except SinkMessageGone:
            self.msgs[op.index].handle = None
            self.msgs[op.index].final = False
        except Exception as exc:
            self.result.errors += 1
            log.warning("chat write failed", extra={"error": str(exc), "final": op.final})
        return False

    # --- the end --------------------------------------------------------------------------------

    def _final_content(self) -> str:
        outcome = self.result.outcome
        content = self.content
        if isinstance(outcome, Failed):
            reason = outcome.reason.strip() or "unknown error"
            if self.reply.strip():
                if reason[:1].isupper() and reason[1:2].islower():
                    reason = reason[0].lower() + reason[1:]
                return append_block(content, f"⚠ reply interrupted: {reason}")
            return append_block(content, f"⚠ {reason}")
        if not content.strip() and isinstance(outcome, Done):
            return self.opt.empty_text
        return content

    async def _finalize(self) -> None:
        content = self._final_content()
        self.result.text = content
        parts = self.layout.final(content)
        self.result.parts = [p.text for p in parts]
        delivered = True
        for i, part in enumerate(parts):
            if i < len(self.msgs) and self.msgs[i].final:
                continue
            delivered = await self._deliver(_Op(i, part.text, final=True)) and delivered
        for extra in self.msgs[len(parts) :]:
            if extra.handle is not None:
                with contextlib.suppress(Exception):
                    await self.sink.delete(extra.handle)
        self.result.handles = [m.handle for m in self.msgs[: len(parts)]]
        self.result.delivered = delivered

    async def _deliver(self, op: _Op) -> bool:
        failures = 0
        while True:
            if self.held_token:
                self.held_token = False
            else:
                await self.sink.budget.acquire()
            errors = self.result.errors
            if self.gave_up:
                return False
            if await self._write(op):
                return True
            if self.result.errors > errors:
                failures += 1
                if failures >= self.opt.final_attempts:
                    log.error("giving up a final chat write", extra={"part": op.index})
                    return False
                await self.clock.sleep(self.opt.error_backoff)
