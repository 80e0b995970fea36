"""Errors the ports raise; their messages are safe to show or log."""

from __future__ import annotations


class StoreError(Exception):
    """The store could not do what was asked (unreachable, corrupt). The message is user-safe."""


class DuplicateError(StoreError):
    """A unique key is taken (prompt command, e-mail)."""


class BackendError(Exception):
    """A model backend failed. `reason` is a sentence a user can act on.

    `kind` classifies it for failover and HTTP status: connect, timeout, http, not_found,
    protocol, busy, stream, bad_request, unsupported (this backend cannot do what the request
    asks; another one may).
    """

    def __init__(self, reason: str, *, kind: str = "http", status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.status = status
