"""Turning HTTP chat requests into the core's `IncomingMessage`.

HTTP clients send their whole history, so the message carries it in `history` and the pipeline
forwards it as given (it keeps no conversation for them, so requests of one user run side by
side). The chat id is the hub user id (per-chat limits act per HTTP user), or the Open WebUI chat
a trusted key forwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hub.api.auth import Caller
from hub.core.models import ChatMessage, IncomingMessage, PlatformUser, User

HTTP_PLATFORM = "http"


def drop_open_assistant(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Drop a trailing empty assistant message.

    The Open WebUI frontend ends every history with the empty assistant message it is about to
    fill; it carries nothing, and some backends read it as a prefill or reject it.
    """
    if messages:
        last = messages[-1]
        if last.role == "assistant" and not last.content and not last.extra.get("tool_calls"):
            return messages[:-1]
    return messages


def last_user_text(messages: Iterable[ChatMessage]) -> str:
    text = ""
    for message in messages:
        if message.role == "user":
            text = message.content
    return text


def http_message(
    caller: User | Caller,
    model: str,
    history: list[ChatMessage],
    *,
    options: Mapping[str, Any] | None = None,
    passthrough: Mapping[str, Any] | None = None,
    route: str = "chat",
) -> IncomingMessage:
    """An `IncomingMessage` for one HTTP chat request by `caller`.

    The chat is the caller's Open WebUI chat when a trusted key names it (per-chat limits and
    routing rules then see each chat), else the user. A service key's request may wait for a
    reply slot rather than be refused (`limits.concurrent_wait`).
    """
    if isinstance(caller, User):
        caller = Caller(caller)
    user = caller.user
    history = drop_open_assistant(history)
    return IncomingMessage(
        platform=HTTP_PLATFORM,
        chat_id=caller.chat_id or user.id,
        user=PlatformUser(HTTP_PLATFORM, user.id, user.name),
        text=last_user_text(history),
        hub_user_id=user.id,
        model=model,
        history=tuple(history),
        options=dict(options or {}),
        passthrough={k: v for k, v in (passthrough or {}).items() if v is not None},
        command=route,
        may_wait=caller.service,
    )
