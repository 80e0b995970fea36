"""The chat-platform port: where `render()` writes a streaming reply, and its edit budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

# What a platform's rate limit covers: this chat (or thread, or message), the channel or group
# it is in, the workspace or guild, or every write of the bot.
Scope = Literal["chat", "channel", "workspace", "bot"]
# Kinds of write a budget may limit apart: a new message, an edit of one in progress, the edit
# that sets a message's final text (`finish`), a native stream's append (or status), and a
# native stream's last write. The final writes are kinds of their own so a platform can serve
# them first (Slack: chat.stopStream has a tier of its own, and a reply's final chat.update
# must not queue behind other replies' progress edits).
WriteKind = Literal["send", "edit", "finish", "stream", "stream_end"]


class SinkError(Exception):
    """A platform call of a sink failed (network, unexpected answer). The message is log-safe."""


class SinkRateLimited(SinkError):
    """The platform asked to wait `retry_after` seconds (Telegram 429, Slack/Discord 429).

    `scope` is what the limit covers (a Slack workspace limit, a Discord global one); `method`
    the kind of write it limits, when the platform limits kinds apart (None = every write).
    """

    def __init__(
        self,
        retry_after: float,
        message: str = "",
        *,
        scope: Scope = "chat",
        method: WriteKind | None = None,
    ) -> None:
        super().__init__(message or f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after
        self.scope: Scope = scope
        self.method: WriteKind | None = method


class SinkRejectedMarkup(SinkError):
    """The platform refused the formatted text (Telegram "can't parse entities")."""


class SinkMessageGone(SinkError):
    """The message to edit no longer exists (deleted by a user); send a new one instead."""


class SinkStreamUnavailable(SinkError):
    """A native stream failed or expired; the renderer goes on with messages and edits.

    `handle` is the message the stream left behind, to edit from now on (a Slack stream's
    message), or None when nothing is shown yet (a Telegram draft): then a message is sent.
    """

    def __init__(self, message: str = "", *, handle: Any = None) -> None:
        super().__init__(message or "native streaming is unavailable")
        self.handle = handle


@dataclass(frozen=True, slots=True)
class LearnedLimit:
    """A limit a platform reported with a response (Discord `X-RateLimit-Remaining` and
    `-Reset-After`): `remaining` writes of `method` in `scope` until `reset_after` seconds."""

    remaining: int
    reset_after: float
    scope: Scope = "chat"
    method: WriteKind | None = None


@dataclass(frozen=True, slots=True)
class SinkText:
    """Text for a sink: platform markup, or plain text after the platform rejected the markup."""

    text: str
    markup: bool = True


class EditBudget(Protocol):
    """How often one chat may be written to: its own rate plus pools it shares with other chats.

    `acquire` waits until every bucket limiting `method` has room and takes one unit from each.
    `pause` holds every bucket of `scope` (shared with other chats of that scope) for exactly
    `seconds` after the platform answered with a retry-after; `learn` slows down to what the
    platform reported with a response.
    """

    async def acquire(self, method: WriteKind = "edit") -> None: ...

    def pause(self, seconds: float, scope: Scope = "chat", method: WriteKind | None = None) -> None:
        """Nothing covered by `scope` (and `method`, None = every kind) goes for `seconds`."""
        ...

    def learn(self, seen: LearnedLimit) -> None:
        """Spread the writes `seen` says remain over the time until its reset."""
        ...

    def describe(self) -> str:
        """For logs and benchmarks: "1/1.0s per chat; 30/1.0s per bot"."""
        ...


class NativeStream(Protocol):
    """One message the platform animates as text is appended: Slack `chat.startStream` /
    `appendStream` / `stopStream`, Telegram `sendMessageDraft` previews, a terminal.

    The renderer appends Markdown deltas (the sink converts them, or the platform does) and ends
    with `finish`, which is given the message's complete final Markdown: a stream that cannot
    take it as a continuation of what was appended edits the message after stopping instead.
    `plain` asks for plain text (the platform refused the markup). Errors as for sinks, plus
    `SinkStreamUnavailable`, after which the renderer goes on with messages and edits.
    """

    # True: what was appended stays on screen (Slack), so the renderer never splits a message
    # before text it has appended. False: a preview that the final message replaces (drafts).
    append_only: bool
    keepalive: float  # refresh an unchanged stream this often (`append("")`); 0 = never

    async def status(self, text: str) -> None:
        """Show a transient status before the first text (queue position, "thinking")."""
        ...

    async def append(self, markdown: str, *, plain: bool = False) -> None:
        """Add `markdown` at the end ("" refreshes the stream)."""
        ...

    async def finish(self, markdown: str, *, plain: bool = False) -> Any:
        """End the stream with `markdown` as the whole message; returns the message's handle."""
        ...


class MessageSink(Protocol):
    """Where `render()` writes one reply: a chat, thread or DM of one platform.

    Handles are opaque to the renderer. `send`/`edit` show an in-progress reply (with controls
    such as a Stop button); `finish` sets a message's final content and removes the controls.
    A "not modified" answer is success. Errors: `SinkRateLimited`, `SinkRejectedMarkup`,
    `SinkMessageGone`, other `SinkError`s. A sink whose platform streams natively is also a
    `StreamingSink`, and the edit path stays the fallback.
    """

    max_len: int  # per message, in the unit `measure` counts
    typing_interval: float  # seconds between typing renewals; 0 = the platform has none
    keepalive: float  # re-send unchanged in-progress content this often; 0 = never

    @property
    def budget(self) -> EditBudget:
        """The chat's write budget, shared with other replies in the same chat and pools."""
        ...

    def format(self, markdown: str, *, partial: bool = False) -> str:
        """Platform markup for `markdown`; `partial` while the reply is still streaming."""
        ...

    def plain(self, markdown: str) -> str:
        """The plain-text fallback for `markdown`."""
        ...

    def measure(self, markdown: str) -> int:
        """The length the platform counts for `markdown` once converted (and as plain text), in
        its own unit: UTF-16 code units on Telegram, characters on Slack and Discord."""
        ...

    async def send(self, text: SinkText, *, reply_to: Any = None, final: bool = False) -> Any:
        """Post a new message (replying to `reply_to`, or the sink's own default); its handle."""
        ...

    async def edit(self, handle: Any, text: SinkText) -> None:
        """Replace the in-progress content of a message."""
        ...

    async def finish(self, handle: Any, text: SinkText) -> Any:
        """Set the final content and remove controls; returns the (possibly new) handle."""
        ...

    async def delete(self, handle: Any) -> None: ...

    async def typing(self) -> None:
        """Show "typing…" (lasts a few seconds on most platforms)."""
        ...


@runtime_checkable
class StreamingSink(MessageSink, Protocol):
    """A sink that may show a message through the platform's native stream."""

    def open_stream(self, reply_to: Any = None) -> NativeStream | None:
        """A native stream for the next message (replying to `reply_to`), or None: use edits."""
        ...
