"""One `key=value` line per HTTP request (logger `hub.requests`, INFO), 404s and 401s included.

    request method=POST path=/ollama/api/chat status=200 ms=812 user=3f2a… model=alpha:latest
    prompt_tokens=31 completion_tokens=120

The line is written when the response is complete (for a stream, when its last chunk went
out). Routes add what they learn while the request runs (who called, which model answered,
the tokens) to the request's `RequestFacts`, found through a context variable. Never logged:
query strings, headers, bodies, keys or tokens; an API-key caller appears as the key's
fingerprint (`key=`), the same one its hub user is known by. `HUB_LOG_REQUESTS=false` turns
the lines off.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from hub.core.models import Done

log = logging.getLogger("hub.requests")

CLIENT_GONE = 499  # no response was started: the client left first (nginx's code for it)


@dataclass(slots=True)
class RequestFacts:
    """What the routes of one request found out, for its log line."""

    user: str | None = None
    key: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


_FACTS: ContextVar[RequestFacts | None] = ContextVar("hub_request_facts", default=None)


def _current() -> RequestFacts | None:
    return _FACTS.get()


def note_caller(*, user_id: str, key_fingerprint: str | None = None, person: bool = False) -> None:
    """Record who called: a signed-in user, or an API key (by fingerprint, never the key) and,
    for a trusted key, the `person` it named (`user=` and `key=` both)."""
    facts = _current()
    if facts is None:
        return
    if key_fingerprint is None or person:
        facts.user = user_id
    if key_fingerprint is not None:
        facts.key = key_fingerprint


def note_model(model: str | None) -> None:
    facts = _current()
    if facts is not None and model:
        facts.model = model


def note_done(done: Done) -> None:
    """Record the model that answered and the tokens it reported."""
    facts = _current()
    if facts is None:
        return
    if done.model:
        facts.model = done.model
    facts.prompt_tokens = done.metrics.prompt_tokens
    facts.completion_tokens = done.metrics.completion_tokens


class RequestLog:
    """ASGI wrapper around the whole app, so requests no route matched are logged too."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        facts = RequestFacts()
        path = scope["path"]  # as sent: routing may rewrite it (a trailing slash)
        token = _FACTS.set(facts)
        started = time.perf_counter()
        status = CLIENT_GONE

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            _FACTS.reset(token)
            elapsed = round((time.perf_counter() - started) * 1000)
            fields: dict[str, Any] = {
                "method": scope.get("method", ""),
                "path": path,
                "status": status,
                "ms": elapsed,
            }
            found = {
                "user": facts.user,
                "key": facts.key,
                "model": facts.model,
                "prompt_tokens": facts.prompt_tokens,
                "completion_tokens": facts.completion_tokens,
            }
            fields.update((name, value) for name, value in found.items() if value is not None)
            log.info("request", extra=fields)


def install_request_log(app: Litestar) -> None:
    """Log every HTTP request `app` serves (wraps its ASGI handler, inside Litestar's
    exception handling, so error responses carry their real status)."""
    app.asgi_handler = RequestLog(app.asgi_handler)
