"""The Slack `MessageSink`: one reply in a thread, posted with chat.postMessage, grown with
chat.update.

A message shows its text in a section block, as mrkdwn sent `verbatim` (Slack then parses
nothing itself: no bare `@here`, only the links the converter wrote), and while the reply
streams, a Stop button in an actions block; `finish` sets the final text without the button. The
top-level `text` (notifications, screen readers) carries the same, safely escaped. The plain
fallback, when Slack refuses the markup, is a `plain_text` section, which Slack shows as is.

`typing()` sets the thread's assistant status ("is thinking…", `assistant.threads.setStatus`),
which Slack clears when the reply is posted. Where Slack refuses it, the connector's shared
`StatusSupport` stops every sink from asking again.

Slack's budgets (docs.slack.dev/apis/web-api/rate-limits): `chat.postMessage` about once a second
per channel; `chat.update` a Tier 3 pool of 50+ a minute for the whole workspace, shared by every
conversation. `thread_budget` draws every write from the channel's bucket and the workspace pool.
The client must not retry 429s itself (no `AsyncRateLimitErrorRetryHandler`): a 429 becomes
`SinkRateLimited` with Slack's `Retry-After`, and the renderer's budget waits exactly that long.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from hub.connectors.slack.events import STOP_ACTION
from hub.core.budget import BudgetPools, ChatBudget
from hub.core.markup import slack as mrkdwn
from hub.core.ports import (
    Rate,
    SinkError,
    SinkMessageGone,
    SinkRateLimited,
    SinkRejectedMarkup,
    SinkText,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Once a second per channel; the workspace's chat.update pool is "50+ per minute", counted by
# Slack over any minute: 40 a minute with a burst of 9 never puts more than 49 in one.
PER_CHANNEL = Rate(limit=1, period=1.0)
UPDATE_POOL = Rate(limit=40, period=60.0, burst=9)
STATUS_TEXT = "is thinking…"
STATUS_REFRESH = 20.0  # seconds; Slack keeps a status until the reply (or about 2 minutes)
STOP_LABEL = "⏹ Stop"
FALLBACK_LIMIT = 3_900  # top-level text: chat.update refuses more than 4,000 characters
_GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}
_REJECTED = {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long"}
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


class SlackCallFailed(SinkError):
    """A Web API call failed with Slack error `error` (or a network failure, `error` empty)."""

    def __init__(self, error: str, message: str = "") -> None:
        super().__init__(message or f"slack: {error or 'request failed'}")
        self.error = error


def thread_budget(pools: BudgetPools, team_id: str, channel: str) -> ChatBudget:
    """The writes of one reply: its channel's pace and the workspace's chat.update pool."""
    return pools.budget(
        (f"slack:{team_id}:{channel}", PER_CHANNEL), (f"slack:{team_id}:updates", UPDATE_POOL)
    )


@dataclass
class StatusSupport:
    """Shared by a connector's sinks: once Slack refuses the status, nobody asks again."""

    available: bool = True


@dataclass
class SlackHandle:
    """A posted message of one reply."""

    ts: str
    shown: SinkText | None = None


def retry_after(exc: SlackApiError) -> float:
    """Slack's `Retry-After` (integer seconds); 1 if it is missing or odd."""
    headers: Any = getattr(exc.response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(1.0, float(value))
    except (TypeError, ValueError):
        return 1.0


def api_error(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "")
    except (AttributeError, TypeError):
        return ""


async def call_api(call: Awaitable[T]) -> T:
    """Await a Web API call, translating Slack's errors into the sink port's."""
    try:
        return await call
    except SlackApiError as exc:
        error = api_error(exc)
        if error == "ratelimited" or getattr(exc.response, "status_code", 0) == 429:
            raise SinkRateLimited(retry_after(exc), "slack: ratelimited") from exc
        if error in _GONE:
            raise SinkMessageGone(f"slack: {error}") from exc
        if error in _REJECTED:
            raise SinkRejectedMarkup(f"slack: {error}") from exc
        raise SlackCallFailed(error) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SlackCallFailed("", f"slack: {type(exc).__name__}") from exc


def fallback_text(text: SinkText) -> str:
    """The top-level `text`: mrkdwn as is, plain text escaped, cut to what chat.update takes."""
    out = text.text if text.markup else mrkdwn.escape(text.text)
    if mrkdwn.len16(out) <= FALLBACK_LIMIT:
        return out
    cut = out.encode("utf-16-le")[: 2 * (FALLBACK_LIMIT - 1)].decode("utf-16-le", "ignore")
    return _PARTIAL_ENTITY.sub("", cut) + "…"


class SlackSink:
    """One reply in one Slack thread (or channel, when `thread_ts` is None)."""

    max_len = mrkdwn.MAX_LEN
    keepalive = 0.0

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str | None,
        *,
        budget: ChatBudget,
        stop_value: str | None = None,
        status: StatusSupport | None = None,
    ) -> None:
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.budget, self.stop_value = budget, stop_value
        self.status = status if status is not None else StatusSupport()
        self.typing_interval = STATUS_REFRESH if thread_ts and self.status.available else 0.0

    # --- formatting -----------------------------------------------------------------------------

    def format(self, markdown: str, *, partial: bool = False) -> str:
        return mrkdwn.to_mrkdwn(markdown, partial=partial)

    def plain(self, markdown: str) -> str:
        return mrkdwn.to_plain(markdown)

    def measure(self, markdown: str) -> int:
        return mrkdwn.measure(markdown)

    def blocks(self, text: SinkText, *, final: bool) -> list[dict[str, Any]]:
        """The section with the text, and (while streaming) the Stop button."""
        body = text.text if text.text.strip() else "…"
        shown: dict[str, Any] = (
            {"type": "mrkdwn", "text": body, "verbatim": True}
            if text.markup
            else {"type": "plain_text", "text": body, "emoji": False}
        )
        out: list[dict[str, Any]] = [{"type": "section", "text": shown}]
        if not final and self.stop_value is not None:
            button = {
                "type": "button",
                "action_id": STOP_ACTION,
                "text": {"type": "plain_text", "text": STOP_LABEL},
                "style": "danger",
                "value": self.stop_value,
            }
            out.append({"type": "actions", "block_id": "hub_controls", "elements": [button]})
        return out

    # --- writes ---------------------------------------------------------------------------------

    async def send(self, text: SinkText, *, reply_to: Any = None, final: bool = False) -> Any:
        # Every part of a reply goes in the same thread, so `reply_to` needs no handling.
        response = await call_api(
            self.client.chat_postMessage(
                channel=self.channel,
                thread_ts=self.thread_ts,
                text=fallback_text(text),
                blocks=self.blocks(text, final=final),
                unfurl_links=False,
                unfurl_media=False,
            )
        )
        ts = response.get("ts")
        if not ts:
            raise SinkError("slack: chat.postMessage returned no ts")
        return SlackHandle(str(ts), shown=text)

    async def edit(self, handle: Any, text: SinkText) -> None:
        assert isinstance(handle, SlackHandle)
        if handle.shown == text:
            return  # Slack would accept it, but it would spend the update pool for nothing
        await self._update(handle, text, final=False)

    async def finish(self, handle: Any, text: SinkText) -> Any:
        assert isinstance(handle, SlackHandle)
        await self._update(handle, text, final=True)  # no actions block: the Stop button goes
        return handle

    async def _update(self, handle: SlackHandle, text: SinkText, *, final: bool) -> None:
        await call_api(
            self.client.chat_update(
                channel=self.channel,
                ts=handle.ts,
                text=fallback_text(text),
                blocks=self.blocks(text, final=final),
            )
        )
        handle.shown = text

    async def delete(self, handle: Any) -> None:
        assert isinstance(handle, SlackHandle)
        await call_api(self.client.chat_delete(channel=self.channel, ts=handle.ts))

    async def typing(self) -> None:
        """Set the thread's assistant status; stop asking everywhere once Slack refuses it."""
        if not self.thread_ts or not self.status.available:
            return
        try:
            await call_api(
                self.client.assistant_threads_setStatus(
                    channel_id=self.channel, thread_ts=self.thread_ts, status=STATUS_TEXT
                )
            )
        except (SinkRateLimited, SinkMessageGone):
            raise
        except SinkError as exc:
            log.info("slack assistant status unavailable", extra={"error": str(exc)})
            self.status.available = False
            self.typing_interval = 0.0
            raise
