"""render(events, sink): one streaming engine for every chat platform.

The engine reads reply events and writes them to a `MessageSink` as a message that grows in
place. Every write (send, edit, finish, stream append) first takes a unit of the sink's
`EditBudget` for its kind, so writes come as fast as the platform allows and no faster; text
that arrives meanwhile is coalesced into the next write. A retry-after pauses its scope (the
chat, or everything sharing a workspace or the bot) for exactly that long and the next write
carries all text so far. Until the first text a typing indicator is renewed, and queue positions
are shown in a placeholder. While streaming, messages end with an in-progress marker and carry
the sink's controls (a Stop button); at the end every message is finished with its exact final
part. Where the sink offers a native stream (a `StreamingSink`'s `open_stream`) the message grows
through it, and the edit path takes over if the stream fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from hub.core.budget import Clock, LoopClock
from hub.core.models import Failed, ReplyEvent
from hub.core.ports import (
    MessageSink,
    SinkMessageGone,
    SinkRateLimited,
    SinkRejectedMarkup,
    SinkStreamUnavailable,
    SinkText,
    StreamingSink,
    WriteKind,
)
from hub.core.render_layout import Layout, len16
from hub.core.render_state import Msg, Op, RenderOptions, RenderResult, ReplyText

log = logging.getLogger(__name__)

# An append-only stream's part gains a closing fence line at the end: keep room for it.
_FENCE_ROOM = 16

__all__ = ["RenderOptions", "RenderResult", "render"]


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
        self.msgs: list[Msg] = []
        self.reply = ReplyText()
        self.ended = False
        self.finished = asyncio.Event()  # the events ended
        self.changed = asyncio.Event()
        self.held: WriteKind | None = None  # a budget unit taken when the events ended
        self.gave_up = False  # the platform asked to wait longer than max_retry_after
        self.next_typing = clock.now() if sink.typing_interval > 0 else None
        self.last_write = clock.now()
        self.reserve = len16(options.marker)

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
                self.reply.apply(event, self.result, self.clock.now())
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
            self.finished.set()
            self.changed.set()

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
            kind = self._kind(op)
            if not await self._acquire(kind):
                return
            if self.ended:
                self.held = kind
                return
            op = self._next_op()
            if op is not None and self._kind(op) == kind:
                await self._write(op)

    async def _acquire(self, kind: WriteKind) -> bool:
        """Take a unit for `kind`; False when the events ended first while waiting for an
        in-progress edit or stream append: a message's final write is a kind of its own, so
        that wait would be for nothing (a unit already reserved is left unused)."""
        if kind not in ("edit", "stream"):
            await self.sink.budget.acquire(kind)
            return True
        unit = asyncio.ensure_future(self.sink.budget.acquire(kind))
        ended = asyncio.ensure_future(self.finished.wait())
        try:
            await asyncio.wait({unit, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if unit.done():
            unit.result()
            return True
        unit.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await unit
        return False

    def _msg(self, index: int) -> Msg:
        while len(self.msgs) <= index:
            self.msgs.append(Msg())
        return self.msgs[index]

    def _kind(self, op: Op) -> WriteKind:
        """The kind of write `op` is; opens the message's native stream when it has none yet.
        A message's final write (a stream's end, the edit that finishes it) is a kind of its own."""
        msg = self._msg(op.index)
        if msg.stream is None and msg.handle is None and not msg.no_stream and not op.final:
            reply_to = self.msgs[op.index - 1].handle if op.index > 0 else None
            if isinstance(self.sink, StreamingSink):
                msg.stream = self.sink.open_stream(reply_to)
            msg.no_stream = msg.stream is None
        kind = msg.kind()
        if op.final and kind in ("stream", "edit"):
            return "stream_end" if kind == "stream" else "finish"
        return kind

    def _next_op(self) -> Op | None:
        if self.reply.content.strip():
            return self._text_op()
        if self.reply.queued is not None:
            text = self.opt.queued_text(self.reply.queued)
        elif self.msgs and self.reply.started:
            text = self.opt.waiting_text
        else:
            return None
        if self.msgs and self.msgs[0].shown == text + self.opt.marker:
            return None
        return Op(0, text, final=False, is_text=False)

    def _text_op(self) -> Op | None:
        display = self.layout.display(self.reply.content, self.reserve)
        parts = self.layout.parts
        for i, part in enumerate(parts):
            if i >= len(self.msgs) or not self.msgs[i].final:
                return Op(i, part.text, final=True)
        k = len(parts)
        msg = self.msgs[k] if k < len(self.msgs) else None
        if msg is not None and msg.stream is not None:
            return self._stream_op(k, msg)
        if not display.strip():
            return None
        if msg is not None and msg.shown == display + self.opt.marker:
            return None
        return Op(k, display, final=False)

    def _stream_op(self, index: int, msg: Msg) -> Op | None:
        """The next append to the in-progress message's native stream, if there is text for it.

        Streams show the raw tail (never a shortened one: what is appended stays), so when the
        tail does not fit the message they wait until it is carved into a part of its own.
        """
        assert msg.stream is not None
        end, reserve = len(self.reply.content), self.reserve
        if msg.stream.append_only:
            end = self.layout.stream_horizon(self.reply.content)
            reserve += _FENCE_ROOM
        else:
            self.layout.commit(self.reply.content)
        tail = self.layout.reopen + self.reply.content[self.layout.start : end]
        if len(tail) <= len(msg.streamed) or not tail.strip() or not tail.startswith(msg.streamed):
            return None
        if self.sink.measure(tail) > self.sink.max_len - reserve:
            return None
        return Op(index, tail, final=False, end=end)

    def _timer_wait(self) -> float:
        now = self.clock.now()
        waits = [float("inf")]
        if self.next_typing is not None:
            waits.append(self.next_typing - now)
        target = self._keepalive_target()
        if target is not None:
            waits.append(self.last_write + self._keepalive(self.msgs[target]) - now)
        return min(waits)

    def _keepalive(self, msg: Msg) -> float:
        return msg.stream.keepalive if msg.stream is not None else self.sink.keepalive

    def _keepalive_target(self) -> int | None:
        if not self.msgs:
            return None
        last = self.msgs[-1]
        if self._keepalive(last) <= 0 or last.final or last.shown is None:
            return None
        if last.handle is None and last.stream is None:
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
        msg = self.msgs[index]
        kind = msg.kind()
        await self.sink.budget.acquire(kind)
        if self.ended or msg.shown is None:
            self.held = kind if self.ended else None
            return
        if msg.stream is not None:
            text, is_text = msg.streamed or msg.status, bool(msg.streamed)
            op = Op(index, text, False, is_text=is_text, end=msg.stream_end, refresh=True)
        else:
            markdown = msg.shown[: len(msg.shown) - len(self.opt.marker)]
            op = Op(index, markdown, final=False)
        await self._write(op)

    def _hold(self, op: Op) -> float:
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

    def _text_for(self, op: Op, msg: Msg) -> SinkText:
        marker = "" if op.final else self.opt.marker
        if msg.plain:
            return SinkText(self.sink.plain(op.markdown) + marker, markup=False)
        return SinkText(self.sink.format(op.markdown, partial=not op.final) + marker)

    async def _call(self, op: Op) -> None:
        msg = self._msg(op.index)
        if msg.stream is not None:
            await self._call_stream(op, msg)
        else:
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

    async def _call_stream(self, op: Op, msg: Msg) -> None:
        stream = msg.stream
        assert stream is not None
        if op.final:
            msg.handle = await stream.finish(op.markdown, plain=msg.plain)
            msg.stream = None
            msg.shown = op.markdown
            self.result.finishes += 1
            return
        if not op.is_text:
            await stream.status(op.markdown)
            msg.status, msg.shown = op.markdown, op.markdown + self.opt.marker
        else:
            await stream.append(op.markdown[len(msg.streamed) :], plain=msg.plain)
            msg.streamed, msg.stream_end, msg.shown = op.markdown, op.end, op.markdown
            if stream.append_only:
                self.layout.floor = op.end
        self.result.appends += 1

    async def _write(self, op: Op) -> bool:
        """One attempt at `op` (budget already taken); False if it must be tried again."""
        try:
            await self._call(op)
            return True
        except SinkRateLimited as exc:
            self.result.rate_limited += 1
            self.sink.budget.pause(exc.retry_after, exc.scope, exc.method)
            log.info(
                "platform asked to wait", extra={"retry_after": exc.retry_after, "scope": exc.scope}
            )
            if exc.retry_after > self.opt.max_retry_after:
                log.error("platform asked to wait too long", extra={"retry_after": exc.retry_after})
                self.gave_up = True
        except SinkRejectedMarkup:
            self.result.plain_fallbacks += 1
            self.msgs[op.index].plain = True
        except SinkStreamUnavailable as exc:
            self._stream_failed(self.msgs[op.index], exc)
        except SinkMessageGone:
            self.msgs[op.index].handle = None
            self.msgs[op.index].final = False
        except Exception as exc:
            self.result.errors += 1
            log.warning("chat write failed", extra={"error": str(exc), "final": op.final})
        return False

    def _stream_failed(self, msg: Msg, exc: SinkStreamUnavailable) -> None:
        log.info("native stream failed; going on with edits", extra={"error": str(exc)})
        self.result.stream_fallbacks += 1
        msg.stream, msg.no_stream, msg.handle = None, True, exc.handle
        msg.streamed, msg.shown = "", None

    # --- the end --------------------------------------------------------------------------------

    async def _finalize(self) -> None:
        content = self.reply.final_content(self.opt, self.result.outcome)
        self.result.text = content
        parts = self.layout.final(content)
        self.result.parts = [p.text for p in parts]
        delivered = True
        for i, part in enumerate(parts):
            if i < len(self.msgs) and self.msgs[i].final:
                continue
            delivered = await self._deliver(Op(i, part.text, final=True)) and delivered
        for extra in self.msgs[len(parts) :]:
            if extra.handle is not None:
                with contextlib.suppress(Exception):
                    await self.sink.delete(extra.handle)
        self.result.handles = [m.handle for m in self.msgs[: len(parts)]]
        self.result.delivered = delivered

    async def _deliver(self, op: Op) -> bool:
        failures = 0
        while True:
            kind = self._kind(op)
            held, self.held = self.held, None
            if held != kind:
                await self.sink.budget.acquire(kind)
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
