"""Slack Web API calls, with Slack's errors translated into the sink port's.

The client must not retry 429s itself (no `AsyncRateLimitErrorRetryHandler`): a 429 becomes
`SinkRateLimited` with Slack's `Retry-After`, and the renderer's budget waits exactly that long.
Its scope is the workspace: Slack's answer does not say which of its limits was hit (the
method's tier, or the channel's one-a-second), so every write of the workspace waits it out.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError

from hub.core.ports import (
    SinkError,
    SinkMessageGone,
    SinkRateLimited,
    SinkRejectedMarkup,
    SinkText,
)

T = TypeVar("T")

_GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}
_REJECTED = {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long"}


class SlackCallFailed(SinkError):
    """A Web API call failed with Slack error `error` (or a network failure, `error` empty)."""

    def __init__(self, error: str, message: str = "") -> None:
        super().__init__(message or f"slack: {error or 'request failed'}")
        self.error = error


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
            raise SinkRateLimited(
                retry_after(exc), "slack: ratelimited", scope="workspace"
            ) from exc
        if error in _GONE:
            raise SinkMessageGone(f"slack: {error}") from exc
        if error in _REJECTED:
            raise SinkRejectedMarkup(f"slack: {error}") from exc
        raise SlackCallFailed(error) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SlackCallFailed("", f"slack: {type(exc).__name__}") from exc
