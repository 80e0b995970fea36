"""Graceful shutdown of `chathub serve`: what SIGTERM (or Ctrl-C) does, in order.

1. At once: the listening socket closes (new connections are refused), `/ready` answers 503,
   and any new request on a connection that was already open gets 503 with `Retry-After` in
   its route family's error shape (`/health` and `/metrics` keep answering). Connectors that
   can stop taking messages do (Telegram stops polling: what arrives meanwhile waits at
   Telegram for the next start).
2. `ChatService.drain`: every reply that has not begun streaming (waiting in a queue) is
   refused, so no new generation starts; replies streaming may finish within
   `chat.shutdown_grace`, and the rest end with a last line saying the hub is restarting
   (bots store them flagged interrupted).
3. Then uvicorn closes the connections, waiting at most `CLOSE_WAIT` seconds for replies'
   last bytes, and the connectors and services close.

A second signal skips the rest of the grace period: replies still streaming are cut at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec
import uvicorn
from litestar.enums import ScopeType

from hub.api.errors import error_body
from hub.core.reply_tasks import RESTART_RETRY_AFTER, RESTARTING

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

    from hub.runtime import Services

log = logging.getLogger(__name__)

# Paths that keep answering while the hub stops: liveness, readiness (503) and metrics.
OPEN_WHILE_STOPPING = frozenset({"/health", "/ready", "/metrics"})


@runtime_checkable
class StopsReceiving(Protocol):
    """A connector that can stop taking new messages before it stops (optional)."""

    async def stop_receiving(self) -> None: ...


def refuse_while_stopping(app: ASGIApp, services: Services) -> ASGIApp:
    """`app`, answering 503 to every new request once shutdown has begun."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not services.stopping:
            await app(scope, receive, send)
            return
        path = scope["path"]
        if path in OPEN_WHILE_STOPPING:
            await app(scope, receive, send)
            return
        body = msgspec.json.encode(error_body(path, 503, RESTARTING))
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(int(RESTART_RETRY_AFTER)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return guarded


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with the hub's shutdown sequence (module docstring) on a signal."""

    def __init__(self, config: uvicorn.Config, services: Services) -> None:
        super().__init__(config)
        self.services = services
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await super().serve(sockets=sockets)
        finally:
            if self._draining is not None and not self._draining.done():
                self._draining.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._draining

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The signal handler (runs between two steps of the loop, so it only schedules)."""
        self._captured_signals.append(sig)
        loop = self._loop
        if loop is None or loop.is_closed():
            super().handle_exit(sig, frame)
            return
        loop.call_soon_threadsafe(self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        if self._draining is None:
            self.services.stopping = True  # /ready turns 503, new requests are refused
            for server in self.servers:
                server.close()  # no new connections
            self._draining = asyncio.get_running_loop().create_task(self._drain())
            return
        log.info("second signal: cutting the replies still streaming", extra={"signal": sig})
        self._hurry.set()
        if sig == signal.SIGINT and self.should_exit:
            self.force_exit = True

    async def _drain(self) -> None:
        services, chat = self.services, self.services.chat
        grace = services.settings.chat.shutdown_grace
        log.info(
            "shutting down: new requests are refused, streaming replies get the grace period",
            extra={"replies": chat.in_progress, "grace_s": grace},
        )
        try:
            await asyncio.gather(_stop_receiving(services), self._drain_replies(grace))
        except Exception:  # shutting down must go on whatever failed here
            log.exception("draining at shutdown failed")
        finally:
            self.should_exit = True

    async def _drain_replies(self, grace: float) -> None:
        chat = self.services.chat
        draining = asyncio.ensure_future(chat.drain(grace))
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            await asyncio.wait({draining, hurry}, return_when=asyncio.FIRST_COMPLETED)
            if not draining.done():
                await chat.aclose()
                await draining
        finally:
            hurry.cancel()
        log.info("replies drained")


async def _stop_receiving(services: Services) -> None:
    connectors: dict[str, Any] = services.extras.get("connectors", {})
    for name, connector in connectors.items():
        if not isinstance(connector, StopsReceiving):
            continue
        try:
            await connector.stop_receiving()
        except Exception:
            log.exception("connector failed to stop receiving", extra={"connector": name})
        else:
            log.info("connector stopped receiving", extra={"connector": name})
