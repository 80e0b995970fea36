"""How `chathub serve` runs its HTTP server: uvicorn with httptools and a guarded protocol.

The settings (`server:` in YAML, `HUB_SERVER__*`) bound what one connection may cost the
hub, so that idle or trickling connections can never starve the ones that matter (see
`hub/http_guard.py` for how each limit is kept). Nothing heavy is imported at module level:
`hub.settings` imports `ServerSettings` from here.
"""

from __future__ import annotations

import logging
import resource
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

# Descriptors kept for everything but client connections at the least (stores, Redis, the
# listening socket, logs) before the rest is split between clients and their upstream requests.
RESERVED_DESCRIPTORS = 128
MIN_CONNECTIONS = 16
# Seconds uvicorn waits, once the replies are drained at shutdown, for connections to close.
CLOSE_WAIT = 3


class ServerSettings(BaseModel):
    """Limits of the HTTP server (YAML `server:`, env `HUB_SERVER__*`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Seconds a client has to send a request's line and headers, from connecting (or from the
    # first byte of a later request on a kept-alive connection); then the connection is closed.
    header_timeout: float = Field(default=10.0, gt=0, le=300)
    # Seconds an idle kept-alive connection stays open between requests.
    keep_alive_timeout: int = Field(default=5, ge=1, le=3600)
    # Open client connections at most; unset: half of what the descriptor limit leaves
    # (each connection may need an upstream one too). Never more than the limit allows.
    max_connections: int | None = Field(default=None, ge=1)
    # Bytes of request line plus headers; a larger head is answered 431.
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Kernel send buffer per connection (SO_SNDBUF): how far a streamed reply may run ahead of
    # a slow reader. null leaves it to the kernel's auto-tuning (up to 4 MB per connection).
    send_buffer: int | None = Field(default=256 * 1024, ge=4096)
    # Seconds the hub's writes to a client may wait at a stretch (the client has stopped reading
    # but stays connected); then the connection is closed and its reply cancelled, which frees
    # its backend slot. null: wait for as long as the client stays connected.
    write_timeout: float | None = Field(default=120.0, gt=0)


def descriptor_limit() -> int:
    """The process's soft limit on open files (RLIMIT_NOFILE)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(settings: ServerSettings, limit: int | None = None) -> int:
    """How many client connections to allow: the setting, kept below the descriptor limit."""
    limit = descriptor_limit() if limit is None else limit
    most = max(MIN_CONNECTIONS, limit - RESERVED_DESCRIPTORS)
    if settings.max_connections is None:
        return max(MIN_CONNECTIONS, most // 2)
    if settings.max_connections > most:
        log.warning(
            "server.max_connections is above what the open-file limit allows; using the most "
            "it allows (raise `ulimit -n` / LimitNOFILE to allow more)",
            extra={"max_connections": settings.max_connections, "nofile": limit, "used": most},
        )
        return most
    return settings.max_connections


def uvicorn_config(app: Any, host: str, port: int, settings: ServerSettings) -> uvicorn.Config:
    """uvicorn's configuration for `app`, with the guarded httptools protocol."""
    import uvicorn

    from hub.http_guard import ConnectionGuard, guarded_protocol

    cap = connection_cap(settings)
    guard = ConnectionGuard(
        max_connections=cap,
        header_timeout=settings.header_timeout,
        max_header_bytes=settings.max_header_bytes,
        send_buffer=settings.send_buffer,
        write_timeout=settings.write_timeout,
    )
    log.info(
        "http limits",
        extra={
            "max_connections": cap,
            "header_timeout": settings.header_timeout,
            "keep_alive_timeout": settings.keep_alive_timeout,
            "max_header_bytes": settings.max_header_bytes,
            "send_buffer": settings.send_buffer,
            "write_timeout": settings.write_timeout,
        },
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(guard),
        log_config=None,
        lifespan="on",
        timeout_keep_alive=settings.keep_alive_timeout,
        # Only the last bytes of replies are left by then: hub/graceful.py drained them first.
        timeout_graceful_shutdown=CLOSE_WAIT,
        # No limit_concurrency: uvicorn answers 503 to every request once that many connections
        # are open, idle ones included, which is how idle connections took /health down.
        limit_concurrency=None,
    )
