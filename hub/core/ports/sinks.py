"""The chat-platform port: where `render()` writes a streaming reply, and its edit budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class SinkError(Exception):
    """A platform call of a sink failed (network, unexpected answer). The message is log-safe."""


class SinkRateLimited(SinkError):
    """The platform asked to wait `retry_after` seconds (Telegram 429, Slack/Discord 429)."""

    def __init__(self, retry_after: float, message: str = "") -> None:
        super().__init__(message or f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after


class SinkRejectedMarkup(SinkError):
    """The platform refused the formatted text (Telegram "can't parse entities")."""


class SinkMessageGone(SinkError):
    """The message to edit no longer exists (deleted by a user); send a new one instead."""


@dataclass(frozen=True, slots=True)
class SinkText:
    """Text for a sink: platform markup, or plain text after the platform rejected the markup."""

    text: str
    markup: bool = True


class EditBudget(Protocol):
    """How often one chat may be written to: its own rate plus pools it shares with other chats.

    `acquire` waits until every bucket has room and takes one unit from each; `pause` stops the
    chat for exactly `seconds` after the platform answered with a retry-after.
    """

    async def acquire(self) -> None: ...

    def pause(self, seconds: float) -> None: ...

    def describe(self) -> str:
        """For logs and benchmarks: "1/1.0s per chat; 30/1.0s per bot"."""
        ...


class MessageSink(Protocol):
    """Where `render()` writes one reply: a chat, thread or DM of one platform.

    Handles are opaque to the renderer. `send`/`edit` show an in-progress reply (with controls
    such as a Stop button); `finish` sets a message's final content and removes the controls.
    A "not modified" answer is success. Errors: `SinkRateLimited`, `SinkRejectedMarkup`,
    `SinkMessageGone`, other `SinkError`s.
    """

    max_len: int  # per message, in the unit `measure` counts
    typing_interval: float  # seconds between typing renewals; 0 = the platform has none
    keepalive: float  # re-send unchanged in-progress content this often (drafts); 0 = never

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
        """The length the platform counts for `markdown` once converted (and as plain text)."""
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
