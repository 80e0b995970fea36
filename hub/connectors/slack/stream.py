"""Slack's native chat streams: one message as `chat.startStream`, `appendStream`s, `stopStream`.

Direct Web API calls, not slack_sdk's `chat_stream()` helper: the helper buffers by size only (256
characters, no time limit), so a slow reply would show nothing for long stretches, and its
buffer and state are private, so after a failed call the caller cannot tell what Slack has.
Here every call is given the message's whole Markdown so far (`total`) and sends what Slack does
not have yet: a call that failed is simply made again with the same or a longer text, and
`sent` is exactly what Slack acknowledged. Pacing is the caller's (`native.py`, `budgets.py`).

Streams take standard Markdown (`markdown_text`, at most 12,000 characters a call), which Slack
renders itself. Model output could still spell a mention there, so `<` before `!`, `@` or `#`,
and `@` before channel/here/everyone, get a zero-width space after them; text that might
become such a pattern with the next delta is held back until it is decided (or the stream stops).

Failures the caller acts on (all `SinkError`s, so a caller that only knows the port copes):
- `StreamUnavailable` at start: Slack refuses streams here (not an AI-enabled app, a channel
  type without streams, missing scope…). Nothing was posted; use chat.postMessage/chat.update.
- `StreamExpired` later: Slack closed the stream (its undocumented timeout,
  slackapi/python-slack-sdk#1859: `message_not_in_streaming_state`). The message exists with
  `sent`; finish it with chat.update on `ts`.
- `StreamStopped`: the person stopped the stream in Slack (`stopped_by_user`): cancel the reply.
- `SinkRateLimited` with Slack's Retry-After: that call did not land; call again later.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from hub.connectors.slack.calls import SlackCallFailed, SlackHandle, call_api
from hub.core.markup.slack import ZWSP, len16
from hub.core.ports import SinkError

CALL_LIMIT = 12_000  # markdown_text per call
# Refusals of a stream start that hold for the whole app (token, scopes, app type)…
REFUSED_EVERYWHERE = {
    "not_allowed_token_type", "missing_scope", "unknown_method", "not_authed", "access_denied",
    "team_access_not_granted",
}  # fmt: skip
# … and those that may hold only for this channel.
REFUSED_HERE = {
    "channel_type_not_supported", "missing_recipient_team_id", "missing_recipient_user_id",
    "invalid_arguments", "no_permission", "restricted_action",
}  # fmt: skip
_DANGER = re.compile(r"<(?=[!@#])|@(?=channel|here|everyone)", re.IGNORECASE)
_UNDECIDED = re.compile(r"(?:<|@[a-z]{0,8})$", re.IGNORECASE)


class StreamUnavailable(SinkError):
    """Slack refused to start a stream here; nothing was posted."""

    def __init__(self, error: str) -> None:
        super().__init__(f"slack: {error}")
        self.error = error
        self.everywhere = error in REFUSED_EVERYWHERE


class StreamExpired(SinkError):
    """Slack closed the stream; its message keeps what was sent."""


class StreamStopped(SinkError):
    """The person stopped the stream in Slack."""


def neutralize(markdown: str) -> str:
    """`markdown` that cannot form a mention: a zero-width space after each dangerous head."""
    return _DANGER.sub(lambda m: m.group(0) + ZWSP, markdown)


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


class ChatStream:
    """One streamed message in a thread. Not safe for concurrent calls: await each in turn."""

    def __init__(
        self, client: AsyncWebClient, channel: str, thread_ts: str, *, team_id: str, user_id: str
    ) -> None:
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.team_id, self.user_id = team_id, user_id
        self.ts: str | None = None
        self.received = ""  # the message's whole Markdown, as last given
        self.sent = ""  # what Slack acknowledged, as sent (zero-width spaces included)
        self.stopped = False

    def handle(self) -> SlackHandle:
        """The stream's message, for finishing it with chat.update after `StreamExpired`."""
        if self.ts is None:
            raise SinkError("slack: the stream has not started")
        return SlackHandle(self.ts)

    def _take(self, total: str) -> None:
        if not total.startswith(self.received):  # the renderer only ever extends a stream
            raise SinkError("slack: stream text diverged from what was given")
        self.received = total

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

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await call_api(call())
        except SlackCallFailed as exc:
            if exc.error == "message_not_in_streaming_state":
                raise StreamExpired(str(exc)) from exc
            if exc.error == "stopped_by_user":
                raise StreamStopped(str(exc)) from exc
            raise

    async def start(self, total: str = "") -> str:
        """Post the streaming message with `total` so far (as much as one call takes)."""
        self._take(total)
        piece = self._ready(final=False)
        first = _pieces(piece)[0] if piece else ""
        try:
            response = await self._call(
                lambda: self.client.chat_startStream(
                    channel=self.channel,
                    thread_ts=self.thread_ts,
                    markdown_text=first or None,
                    recipient_team_id=self.team_id,
                    recipient_user_id=self.user_id,
                )
            )
        except SlackCallFailed as exc:
            if exc.error in REFUSED_EVERYWHERE or exc.error in REFUSED_HERE:
                raise StreamUnavailable(exc.error) from exc
            raise
        ts = str(response.get("ts") or "")
        if not ts:
            raise SinkError("slack: chat.startStream returned no ts")
        self.ts, self.sent = ts, self.sent + first
        return ts

    async def show(self, total: str) -> None:
        """Append what Slack does not have of `total` yet (holding back an undecided tail)."""
        ts = self.handle().ts
        self._take(total)
        for piece in _pieces(self._ready(final=False)):
            await self._append(ts, piece)

    async def _append(self, ts: str, piece: str) -> None:
        await self._call(
            lambda: self.client.chat_appendStream(channel=self.channel, ts=ts, markdown_text=piece)
        )
        self.sent += piece

    async def stop(self, total: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        """Send the rest of `total`, everything held back included, and end the stream."""
        ts = self.handle().ts
        self._take(total)
        pieces = _pieces(self._ready(final=True))
        for piece in pieces[:-1]:
            await self._append(ts, piece)
        last = pieces[-1] if pieces else ""
        await self._call(
            lambda: self.client.chat_stopStream(
                channel=self.channel, ts=ts, markdown_text=last or None, blocks=blocks
            )
        )
        self.sent += last
        self.stopped = True
