"""uvicorn's httptools protocol with the limits it lacks: header time, header size, a cap.

What uvicorn 0.55 with httptools does on its own (read from its source): the keep-alive timer
runs only between requests, so a connection that never sends a request, or sends its headers
a byte at a time, stays open for ever; `limit_concurrency` counts idle connections too and
answers 503 to every new request once reached (so idle connections made `/health` fail); no
head size is enforced, and httptools joins a long header value by repeated `bytes +=`, so a
50 MB `Authorization` header cost seconds of CPU and hundreds of MB. When the process runs out
of descriptors, the event loop drops new connections outright.

`GuardedProtocol` adds, per connection:
- a header deadline: the request line and headers must arrive within `header_timeout` of the
  connection opening, or of the first byte of a later request on a kept-alive connection
  (408 if part of a request came, else just closed);
- a head size limit: past `max_header_bytes` before the headers end, 431 and close, without
  feeding the parser the rest;
- a fixed kernel send buffer (`send_buffer`), so a reply runs at most that far ahead of a slow
  reader (the kernel's auto-tuning lets it grow to 4 MB);
- a write deadline: a client that stops reading while staying connected fills its buffers and
  the hub's writes wait; once they have waited `write_timeout` seconds at a stretch, the
  connection is aborted, which the app sees as a disconnect: the reply is cancelled and its
  backend slot freed (a slow reader that keeps reading resets the clock each time it drains);
- a connection cap shared by all connections (`ConnectionGuard`), kept below the descriptor
  limit: a connection that would exceed it closes the oldest connection still waiting for its
  request's headers (idle or trickling), or, when every open connection is busy with a request,
  is answered 503 and closed. A client that sends its request at once is therefore always
  served within one header timeout, however many idle or slow connections there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hub.api.errors import error_body

log = logging.getLogger(__name__)

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
TOO_LARGE = "The request's headers are too large ({limit} bytes at most)."
TOO_SLOW = "The request's headers did not arrive within {timeout:g} s."
FULL = "The hub has too many requests in progress; try again shortly."
# After a refusal the client may still be sending (a 50 MB header): closing a socket with
# unread data makes the kernel send RST, and the client may never read the answer. So the rest
# is read and dropped (no parsing, no copies) until the client closes, for LINGER s at most.
LINGER = 5.0


class ConnectionGuard:
    """Limits and bookkeeping shared by the connections of one server."""

    def __init__(
        self,
        *,
        max_connections: int,
        header_timeout: float,
        max_header_bytes: int,
        send_buffer: int | None = None,
        write_timeout: float | None = None,
    ):
        self.max_connections = max_connections
        self.send_buffer = send_buffer
        self.write_timeout = write_timeout
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.open = 0
        # Connections waiting for a request's headers, oldest first: the ones to close when
        # the cap is reached (a dict keeps insertion order and removes in O(1)).
        self.waiting: dict[GuardedProtocol, None] = {}
        self.evicted = 0
        self.refused = 0
        self.timed_out = 0
        self.oversized = 0
        self.stalled = 0

    def make_room(self, newcomer: GuardedProtocol) -> bool:
        """Close the oldest waiting connection if the cap is reached; False if none can go."""
        if self.open <= self.max_connections:
            return True
        for victim in self.waiting:
            if victim is not newcomer:
                self.evicted += 1
                victim.close_waiting()
                return True
        return False


class GuardedProtocol(HttpToolsProtocol):
    """One HTTP/1.1 connection, within the limits of its server's `ConnectionGuard`."""

    guard: ConnectionGuard  # set on the subclass `guarded_protocol` makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._reading_head = True
        self._header_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._counted = False
        self._discarding = False

    # --- connection life -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self.guard
        if guard.send_buffer is not None:
            # The kernel grows a loopback or LAN send buffer to 4 MB: a reply would run that far
            # ahead of a slow reader, and the hub keeps what it generated meanwhile.
            sock = transport.get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, guard.send_buffer)
        guard.open += 1
        self._counted = True
        guard.waiting[self] = None
        self._arm_header_timer()
        if not guard.make_room(self):
            guard.refused += 1
            self._reply_and_close(503, FULL, b"", {"retry-after": "1"})

    def connection_lost(self, exc: Exception | None) -> None:
        self._leave()
        super().connection_lost(exc)

    def _leave(self) -> None:
        self._stop_header_timer()
        self._stop_stall_timer()
        self.guard.waiting.pop(self, None)
        if self._counted:
            self._counted = False
            self.guard.open -= 1

    def close_waiting(self) -> None:
        """Close this connection, which is waiting for a request (the cap needs its place)."""
        self._leave()
        if not self.transport.is_closing():
            self.transport.close()

    # --- the request head --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if not self._reading_head:
            super().data_received(data)
            return
        if self._header_timer is None:
            self._arm_header_timer()  # the first byte of a request on a kept-alive connection
        self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > self.guard.max_header_bytes:
            self.guard.oversized += 1
            message = TOO_LARGE.format(limit=self.guard.max_header_bytes)
            self._reply_and_close(431, message, self._url_so_far())

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._stop_header_timer()
        self.guard.waiting.pop(self, None)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # the next request's headers are already in
        super().on_response_complete()
        if pipelined or self.transport.is_closing():
            return
        # Idle until the next request: uvicorn's keep-alive timer runs until its first byte.
        self._reading_head = True
        self._head_bytes = 0
        self.guard.waiting[self] = None

    # --- the client reading what the hub writes -----------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        timeout = self.guard.write_timeout
        if timeout is not None and self._stall_timer is None:
            self._stall_timer = self.loop.call_later(timeout, self._write_stalled)

    def resume_writing(self) -> None:
        self._stop_stall_timer()
        super().resume_writing()

    def _stop_stall_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _write_stalled(self) -> None:
        self._stall_timer = None
        self.guard.stalled += 1
        log.info(
            "client stopped reading; connection closed and its reply cancelled",
            extra={"write_timeout_s": self.guard.write_timeout},
        )
        self.transport.abort()  # closing would wait for the client to read what is buffered

    # --- deadlines and refusals --------------------------------------------------------------

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.guard.header_timeout, self._header_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._reading_head:
            return
        self.guard.timed_out += 1
        if self._head_bytes:
            message = TOO_SLOW.format(timeout=self.guard.header_timeout)
            self._reply_and_close(408, message, self._url_so_far())
        else:
            self.close_waiting()

    def _url_so_far(self) -> bytes:
        url: bytes = getattr(self, "url", b"")  # set by httptools' first callback
        return url

    def _reply_and_close(
        self, status: int, message: str, url: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Answer before any request was handed to the app, then close the connection."""
        self._leave()
        if self.transport.is_closing():
            return
        if url:  # the request's path is known: answer in its route family's error shape
            path = url.split(b"?", 1)[0].decode("latin-1")
            body, kind = _json_bytes(error_body(path, status, message)), _JSON
        else:
            body, kind = message.encode(), _TEXT
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
        lines = [
            b"HTTP/1.1 %d %s" % (status, reason.get(status, b"Service Unavailable")),
            b"content-type: " + kind,
            b"content-length: %d" % len(body),
            b"connection: close",
            *(f"{k}: {v}".encode() for k, v in (headers or {}).items()),
        ]
        transport = self.transport
        transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._discarding = True
        self.loop.call_later(LINGER, transport.close)


def _json_bytes(value: Any) -> bytes:
    import msgspec

    return msgspec.json.encode(value)


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedProtocol]:
    """A protocol class for uvicorn (`Config(http=...)`) whose connections share `guard`."""
    return type("GuardedHttpToolsProtocol", (GuardedProtocol,), {"guard": guard})
