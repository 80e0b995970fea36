"""Errors the ports raise; their messages are safe to show or log."""

from __future__ import annotations


class StoreError(Exception):
    """The store could not do what was asked (unreachable, corrupt). The message is user-safe."""


class DuplicateError(StoreError):
    """A unique key is taken (prompt command, e-mail)."""


class StaleWrite(StoreError):
    """A turn carries a fence older than one the conversation already took: its reply lost
    the conversation (its lease expired while it could not be renewed) and another went on."""


class BackendError(Exception):
    """A model backend failed. `reason` is a sentence a user can act on.

    `kind` classifies it for failover and HTTP status: connect, timeout, http, not_found,
    dropped (the connection broke after the request was sent, before any output), protocol,
    busy, stream, incomplete (the stream ended without a finish reason), bad_request,
    unsupported (this backend cannot do what the request asks; another one may), overflow
    (`ContextOverflow`), down (the router holds every candidate back after failures; it is
    checked again in `retry_after` seconds).
    """

    def __init__(
        self,
        reason: str,
        *,
        kind: str = "http",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


class ContextOverflow(BackendError):
    """The request does not fit the model's context window: the request's fault, never the
    backend's, so it neither counts against the backend's health nor fails over.

    `window` is the window in tokens when the server stated it (or the hub knew it);
    `below` is set instead when only an upper bound was learned (a stream dropped right after
    a prompt of about that many tokens). `prompt_tokens` is the prompt's size as the server
    counted it, when it said.
    """

    def __init__(
        self,
        reason: str,
        *,
        window: int | None = None,
        below: int | None = None,
        prompt_tokens: int | None = None,
    ) -> None:
        super().__init__(reason, kind="overflow", status=400)
        self.window = window
        self.below = below
        self.prompt_tokens = prompt_tokens
