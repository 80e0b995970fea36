"""Slack's native chat streams: one reply as `chat.startStream`, `appendStream`s, `stopStream`.

Direct Web API calls, not slack_sdk's `chat_stream()` helper: the helper buffers by size only (256
characters, no time limit), so a slow reply would show nothing for long stretches, and its
buffer and state are private, so after a failed call the caller cannot tell what Slack has.
Here every call sends what it is given (the renderer coalesces and paces), and `sent` is exactly
the Markdown Slack acknowledged.

Streams take standard Markdown (`markdown_text`, at most 12,000 characters a call), which Slack
renders itself. Model output could still spell a mention there, so `<` before `!`, `@` or `#`,
and `@` before channel/here/everyone, get a zero-width space after them; text that might
become such a pattern with the next delta is held back until it is decided (or the stream stops).

Failures the connector acts on (all `SinkError`s, so a caller that only knows the port copes):
- `StreamUnavailable` at start: Slack refuses streams here (not an AI-enabled app, a channel
  type without streams, missing scope…). Nothing was posted; use chat.postMessage/chat.update.
- `StreamExpired` later: Slack closed the stream (its undocumented timeout,
  slackapi/python-slack-sdk#1859: `message_not_in_streaming_state`). The message exists with
  `sent`; finish it with chat.update on `ts` (`SlackSink.finish(stream.handle(), …)`).
- `StreamStopped`: the person stopped the stream in Slack (`stopped_by_user`): cancel the reply.
- `SinkRateLimited` with Slack's Retry-After: that call did not land; the text is kept and goes
  with the next `append` (`flush()` sends it without new text), or with `stop`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from hub.connectors.slack.sink import SlackCallFailed, SlackHandle, call_api
from hub.core.budget import BudgetPools, ChatBudget
from hub.core.markup.slack import ZWSP, len16
from hub.core.ports import Rate, SinkError

# Per workspace: startStream and stopStream are Tier 2 (20+ a minute), appendStream Tier 4
# (100+). Slack counts any minute, so each rate's burst plus a minute of its pace stays under
# the tier: 10 at once then one every 6 s never puts more than 19 starts in a minute.
START_RATE = Rate(limit=10, period=60.0, burst=9)
APPEND_RATE = Rate(limit=50, period=60.0, burst=49)
STOP_RATE = Rate(limit=10, period=60.0, burst=9)
CALL_LIMIT = 12_000  # markdown_text per call
_REFUSED = {
    "channel_type_not_supported", "missing_recipient_team_id", "missing_recipient_user_id",
    "not_allowed_token_type", "missing_scope", "unknown_method", "invalid_arguments",
    "access_denied", "no_permission", "restricted_action", "not_authed", "team_access_not_granted",
}  # fmt: skip
_DANGER = re.compile(r"<(?=[!@#])|@(?=channel|here|everyone)", re.IGNORECASE)
_UNDECIDED = re.compile(r"(?:<|@[a-z]{0,8})$", re.IGNORECASE)


class StreamUnavailable(SinkError):
    """Slack refused to start a stream here; nothing was posted."""


class StreamExpired(SinkError):
    """Slack closed the stream; its message keeps what was sent."""


class StreamStopped(SinkError):
    """The person stopped the stream in Slack."""


def neutralize(markdown: str) -> str:
    """`markdown` that cannot form a mention: a zero-width space after each dangerous head."""
    return _DANGER.sub(lambda m: m.group(0) + ZWSP, markdown)


@dataclass
class StreamBudgets:
    """Per-method budgets for the workspace; None: not paced here."""

    start: ChatBudget | None = None
    append: ChatBudget | None = None
    stop: ChatBudget | None = None


def stream_budgets(pools: BudgetPools, team_id: str) -> StreamBudgets:
    """Each stream method's pool for the workspace (a 429 pauses that method's pool)."""
    return StreamBudgets(
        start=pools.budget((f"slack:{team_id}:startStream", START_RATE)),
        append=pools.budget((f"slack:{team_id}:appendStream", APPEND_RATE)),
        stop=pools.budget((f"slack:{team_id}:stopStream", STOP_RATE)),
    )


def _pieces(text: str) -> list[str]:
    """`text` in pieces Slack takes in one call (whole characters, at most CALL_LIMIT units)."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = len16(char)
        if size + width > CALL_LIMIT:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        pieces.append("".join(current))
    return pieces


class NativeStream:
    """One streamed reply in a thread. Not safe for concurrent calls: await each in turn."""

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        *,
        team_id: str,
        user_id: str,
        budgets: StreamBudgets | None = None,
    ) -> None:
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.team_id, self.user_id = team_id, user_id
        self.budgets = budgets or StreamBudgets()
        self.ts: str | None = None
        self.received = ""  # all Markdown given to the stream
        self.sent = ""  # what Slack acknowledged, as sent (zero-width spaces included)
        self.stopped = False

    def handle(self) -> SlackHandle:
        """The stream's message, for finishing it with chat.update after `StreamExpired`."""
        if self.ts is None:
            raise SinkError("slack: the stream has not started")
        return SlackHandle(self.ts)

    def _ready(self, final: bool) -> str:
        """Safe text to send now: all of it at the end, else all but an undecided tail."""
        text = self.received
        if not final:
            tail = _UNDECIDED.search(text)
            text = text[: tail.start()] if tail else text
        safe = neutralize(text)
        if not safe.startswith(self.sent):  # cannot happen: insertions follow a decided head
            raise SinkError("slack: stream text diverged from what was sent")
        return safe[len(self.sent) :]

    async def _call(self, budget: ChatBudget | None, call: Callable[[], Awaitable[Any]]) -> Any:
        if budget is not None:
            await budget.acquire()
        try:
            return await call_api(call())
        except SlackCallFailed as exc:
            if exc.error == "message_not_in_streaming_state":
                raise StreamExpired(str(exc)) from exc
            if exc.error == "stopped_by_user":
                raise StreamStopped(str(exc)) from exc
            raise

    async def start(self, markdown: str = "") -> str:
        """Post the streaming message (with `markdown` so far); returns its ts."""
        self.received += markdown
        piece = self._ready(final=False)
        first = _pieces(piece)[0] if piece else ""
        try:
            response = await self._call(
                self.budgets.start,
                lambda: self.client.chat_startStream(
                    channel=self.channel,
                    thread_ts=self.thread_ts,
                    markdown_text=first or None,
                    recipient_team_id=self.team_id,
                    recipient_user_id=self.user_id,
                ),
            )
        except SlackCallFailed as exc:
            if exc.error in _REFUSED:
                raise StreamUnavailable(str(exc)) from exc
            raise
        self.ts = str(response.get("ts") or "")
        if not self.ts:
            raise SinkError("slack: chat.startStream returned no ts")
        self.sent += first
        await self._append_ready()
        return self.ts

    async def append(self, delta: str) -> None:
        """Add `delta` (Markdown) to the message."""
        self.handle()  # raises before start
        self.received += delta
        await self._append_ready()

    async def flush(self) -> None:
        """Send what is pending (after a rate limit), holding back only an undecided tail."""
        self.handle()
        await self._append_ready()

    async def _append_ready(self) -> None:
        for piece in _pieces(self._ready(final=False)):
            await self._append_piece(piece)

    async def _append_piece(self, piece: str) -> None:
        ts = self.handle().ts
        await self._call(
            self.budgets.append,
            lambda: self.client.chat_appendStream(channel=self.channel, ts=ts, markdown_text=piece),
        )
        self.sent += piece

    async def stop(self, delta: str = "", *, blocks: list[dict[str, Any]] | None = None) -> None:
        """Add the last `delta` and everything held back, and end the stream."""
        ts = self.handle().ts
        self.received += delta
        pieces = _pieces(self._ready(final=True))
        for piece in pieces[:-1]:
            await self._append_piece(piece)
        last = pieces[-1] if pieces else ""
        await self._call(
            self.budgets.stop,
            lambda: self.client.chat_stopStream(
                channel=self.channel, ts=ts, markdown_text=last or None, blocks=blocks
            ),
        )
        self.sent += last
        self.stopped = True
