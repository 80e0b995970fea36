"""The socket `chathub serve` listens on, bound before anything starts so that a bad address
or a port in use is one line (uvicorn would log it and exit 3); `serve --workers N` binds it
once and hands it to every worker."""

from __future__ import annotations

import errno
import socket

from hub.settings import SettingsError


class StartupError(Exception):
    """A dependency could not be reached at start-up. The message says which and what to do."""


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so a bad address is one line (uvicorn would log it and
    exit 3). Raises StartupError (in use: exit 1) or SettingsError (not ours: exit 2)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise SettingsError(f"HUB_HOST: cannot listen on {host!r} ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"{host}:{port} is already in use by another process; stop it or set HUB_PORT"
            ) from None
        reason = f"cannot listen on {host}:{port} ({exc.strerror})"
        raise SettingsError(f"HUB_HOST/HUB_PORT: {reason}") from None
    sock.set_inheritable(True)
    return sock
