"""The Slack `MessageSink`: one reply in a thread, streamed natively where Slack allows it, else
posted with chat.postMessage and grown with chat.update.

Native streams (`native.py`) are the sink's `open_stream`; the edit path is the fallback when
they are off, refused, out of start budget, or end early. On the edit path a message shows its
text in a section block, as mrkdwn sent `verbatim` (Slack then parses nothing itself: no bare
`@here`, only the links the converter wrote), and while the reply streams, a Stop button in an
actions block; `finish` sets the final text without the button. The top-level `text`
(notifications, screen readers) carries the same, safely escaped. The plain fallback, when
Slack refuses the markup, is a `plain_text` section, which Slack shows as is.

`typing()` sets the thread's assistant status ("is thinking…", `assistant.threads.setStatus`),
and `show_status` a queue position there; Slack clears it when the reply is posted. Where Slack
refuses the status, the connector's shared `StatusSupport` stops every sink from asking again.

Budgets: `budgets.py` (the renderer's writes through `ReplyBudget`; the status and stream
starts only when their tier has room at once).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from hub.connectors.slack.budgets import STATUS, ReplyBudget
from hub.connectors.slack.calls import SlackHandle, call_api
from hub.connectors.slack.events import STOP_ACTION
from hub.connectors.slack.native import SlackStream, StreamSupport
from hub.connectors.slack.stream import ChatStream
from hub.core.budget import ChatBudget
from hub.core.markup import slack as mrkdwn
from hub.core.ports import SinkError, SinkMessageGone, SinkRateLimited, SinkText

log = logging.getLogger(__name__)

STATUS_TEXT = "is thinking…"
STATUS_REFRESH = 20.0  # seconds; Slack keeps a status until the reply (or about 2 minutes)
STOP_LABEL = "⏹ Stop"
FALLBACK_LIMIT = 3_900  # top-level text: chat.update refuses more than 4,000 characters
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")
_WAITING = re.compile(r"[\s.…]*")  # the renderer's "waiting for the first token" placeholder

__all__ = ["SlackHandle", "SlackSink", "StatusSupport", "StreamSupport", "fallback_text"]


@dataclass
class StatusSupport:
    """Shared by a connector's sinks: once Slack refuses the status, nobody asks again."""

    available: bool = True


def fallback_text(text: SinkText) -> str:
    """The top-level `text`: mrkdwn as is, plain text escaped, cut to what chat.update takes."""
    out = text.text if text.markup else mrkdwn.escape(text.text)
    if mrkdwn.len16(out) <= FALLBACK_LIMIT:
        return out
    cut = out.encode("utf-16-le")[: 2 * (FALLBACK_LIMIT - 1)].decode("utf-16-le", "ignore")
    return _PARTIAL_ENTITY.sub("", cut) + "…"


class SlackSink:
    """One reply in one Slack thread (or channel, when `thread_ts` is None).

    `streams`: where native streams may be used (None: never); `recipient`: the person asking,
    who a stream is for; `on_stopped`: called when that person stops a stream in Slack.
    """

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
        streams: StreamSupport | None = None,
        team_id: str = "",
        recipient: str = "",
        on_stopped: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.stop_value = stop_value
        self.status = status if status is not None else StatusSupport()
        self.streams, self.team_id, self.recipient = streams, team_id, recipient
        self.on_stopped = on_stopped
        self.typing_interval = STATUS_REFRESH if thread_ts and self.status.available else 0.0
        self._stream: SlackStream | None = None
        self._status = ""  # the status line shown now (a queue position), "" = none
        self._budget = ReplyBudget(budget, self._opening)

    @property
    def budget(self) -> ReplyBudget:
        return self._budget

    def _opening(self) -> bool:
        return self._stream is not None and self._stream.opening

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

    # --- native streams -------------------------------------------------------------------------

    def open_stream(self, reply_to: Any = None) -> SlackStream | None:
        """A native stream for the next message, in threads where Slack allows streams."""
        if self.streams is None or not self.thread_ts or not self.streams.allows(self.channel):
            return None
        chat = ChatStream(
            self.client,
            self.channel,
            self.thread_ts,
            team_id=self.team_id,
            user_id=self.recipient,
        )
        self._stream = SlackStream(self, chat, self.streams, on_stopped=self.on_stopped)
        return self._stream

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
        self._status = ""  # Slack clears the thread's status when the app replies in it
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

    # --- the status line ------------------------------------------------------------------------

    async def typing(self) -> None:
        """Show (or refresh) the thread's status: "is thinking…", or the queue position."""
        await self.show_status(self._status or STATUS_TEXT)

    async def show_status(self, text: str) -> bool:
        """Show `text` as the thread's assistant status; False where Slack offers none.

        A status is cosmetic: when the workspace's status tier has no room right now, this one
        is left out (the next refresh or position shows).
        """
        if not self.thread_ts or not self.status.available:
            return False
        wanted = STATUS_TEXT if _WAITING.fullmatch(text) else text
        if not self._budget.take_now(STATUS):
            return True
        try:
            await call_api(
                self.client.assistant_threads_setStatus(
                    channel_id=self.channel, thread_ts=self.thread_ts, status=wanted
                )
            )
        except (SinkRateLimited, SinkMessageGone):
            raise
        except SinkError as exc:
            log.info("slack assistant status unavailable", extra={"error": str(exc)})
            self.status.available = False  # typing() goes on as a no-op (the renderer's timer)
            return False
        self._status = "" if wanted == STATUS_TEXT else wanted
        return True
