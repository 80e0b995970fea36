"""The renderer's options, its result, and what it knows about each message it writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.core.models import Done, Failed, Notice, Queued, ReplyEvent, Started, Text
from hub.core.ports import NativeStream, WriteKind
from hub.core.render_layout import append_block


def queued_text(position: int) -> str:
    return "⏳ Queued: you're next" if position <= 0 else f"⏳ Queued: {position} ahead of you"


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Texts and retry limits of the renderer."""

    marker: str = " ▌"  # in-progress marker, appended after conversion
    waiting_text: str = "…"  # placeholder once generation started but no text yet
    queued_text: Callable[[int], str] = queued_text
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
    appends: int = 0  # native stream appends (and status updates)
    rate_limited: int = 0
    plain_fallbacks: int = 0
    stream_fallbacks: int = 0  # native streams that failed and went on with edits
    errors: int = 0
    first_token_at: float | None = None
    first_visible_at: float | None = None
    delivered: bool = False  # every final part reached the platform


@dataclass
class Msg:
    """One message of the reply as the renderer last wrote it."""

    handle: Any = None  # None: (re)send needed
    shown: str | None = None  # Markdown last shown, marker included
    final: bool = False
    plain: bool = False
    stream: NativeStream | None = None  # the native stream showing this message, if any
    streamed: str = ""  # the Markdown appended to `stream` so far
    status: str = ""  # the stream's status line (queue position), before any text
    stream_end: int = 0  # offset in the reply's content up to which `streamed` reaches
    no_stream: bool = False  # edits only (no stream offered, or it failed)

    def kind(self) -> WriteKind:
        if self.stream is not None:
            return "stream"
        return "send" if self.handle is None else "edit"


@dataclass(frozen=True, slots=True)
class Op:
    """One write: message `index` to show `markdown` (`final`: its exact last content)."""

    index: int
    markdown: str
    final: bool
    is_text: bool = True  # False for the queue/waiting placeholder
    end: int = 0  # for stream appends: the content offset `markdown` reaches
    refresh: bool = False  # re-show unchanged content (keepalive)


class ReplyText:
    """What the events said so far: the Markdown to show, the queue position, the outcome."""

    def __init__(self) -> None:
        self.content = ""  # reply text and notices, as Markdown; only ever appended to
        self.model_text = ""  # model text only, to reconcile with Done.text
        self.queued: int | None = None
        self.started = False

    def apply(self, event: ReplyEvent, result: RenderResult, now: float) -> None:
        if isinstance(event, Text):
            if not event.delta:
                return
            if result.first_token_at is None:
                result.first_token_at = now
            if self.content and not self.model_text:
                self.content = append_block(self.content, "")  # reply after a notice
            self.content += event.delta
            self.model_text += event.delta
        elif isinstance(event, Notice):
            if event.text.strip():
                self.content = append_block(self.content, event.text)
        elif isinstance(event, Queued):
            self.queued = event.position
        elif isinstance(event, Started):
            self.started, self.queued = True, None
        elif isinstance(event, Done):
            result.outcome = event
            if event.text.startswith(self.model_text) and event.text != self.model_text:
                self.content += event.text[len(self.model_text) :]
                self.model_text = event.text
        elif isinstance(event, Failed):
            result.outcome = event

    def final_content(self, options: RenderOptions, outcome: Done | Failed | None) -> str:
        """The complete Markdown to deliver: a failure ends with a notice saying why."""
        content = self.content
        if isinstance(outcome, Failed):
            reason = outcome.reason.strip() or "unknown error"
            if self.model_text.strip():
                if reason[:1].isupper() and reason[1:2].islower():
                    reason = reason[0].lower() + reason[1:]
                return append_block(content, f"⚠ reply interrupted: {reason}")
            return append_block(content, f"⚠ {reason}")
        if not content.strip() and isinstance(outcome, Done):
            return options.empty_text
        return content
