"""Failover rules: which backend errors move a request to the next candidate, and the messages
a user sees when a reply breaks off or when no candidate could answer."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from hub.core.ports import BackendChunk, BackendError
from hub.core.routing.state import Attempt, Target
from hub.core.wording import SEE_MODELS

log = logging.getLogger(__name__)

# Statuses that mean the request itself is wrong: every other backend would refuse it too.
_REQUEST_FAULT_STATUSES = frozenset({400, 413, 422})


class EarlyFailure(Exception):
    """A target failed before its first token; the router moves on to the next candidate."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__(attempt.reason)
        self.attempt = attempt


class TargetsLost(Exception):
    """Every target of a waiting request went down; the router re-plans it."""


def is_request_fault(error: BackendError) -> bool:
    """Whether the error is the request's own fault, so failing over would not help."""
    if error.kind in ("bad_request", "overflow"):
        return True
    return error.kind == "http" and error.status in _REQUEST_FAULT_STATUSES


def as_backend_error(target: Target, exc: Exception) -> BackendError:
    """Wrap anything a backend adapter raised that is not a `BackendError` (an adapter bug)."""
    if isinstance(exc, BackendError):
        return exc
    log.error(
        "backend raised an unexpected error",
        extra={"backend": target.state.name, "model": target.model},
        exc_info=exc,
    )
    return BackendError(
        f"The model server '{target.state.name}' failed unexpectedly ({type(exc).__name__}).",
        kind="protocol",
    )


async def first_chunk(
    target: Target,
    chunks: AsyncIterator[BackendChunk],
    on_failure: Callable[[Target, BackendError], None],
    classify: Callable[[BackendError], BackendError] = lambda error: error,
) -> BackendChunk:
    """The first chunk of a reply, or `EarlyFailure` (after `on_failure`) so the caller fails
    over. `classify` may recognise an error as what it really is (a dropped stream as a context
    overflow). A request fault is raised as it is: no other backend would accept the request."""
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        error = BackendError(
            f"The model server '{target.state.name}' ended the reply without any output.",
            kind="protocol",
        )
    except Exception as exc:
        error = as_backend_error(target, exc)
    error = classify(error)
    if is_request_fault(error):
        raise error
    on_failure(target, error)
    raise EarlyFailure(Attempt(target, error.reason, error.kind))


def broke_off(target: Target, error: BackendError) -> BackendError:
    """The error for a reply that failed after its first token (never failed over)."""
    return BackendError(
        f"The reply from {target.model} on '{target.state.name}' broke off: {error.reason}",
        kind="stream",
        status=error.status,
    )


def exhausted(
    name: str,
    failed: Sequence[Attempt],
    down: Sequence[Target],
    retry_in: Callable[[Target], float],
) -> BackendError:
    """The error when no candidate could answer, saying what was tried and what is down."""
    if failed and not down and all(a.kind == "not_found" for a in failed):
        where = ", ".join(a.target.state.name for a in failed)
        return BackendError(
            f"The model '{name}' is not available on any model server (asked: {where}). "
            + SEE_MODELS.chat,
            kind="not_found",
        )
    if failed and not down and all(a.kind == "unsupported" for a in failed):
        # The request asks for something none of the candidates can do: trying later won't help.
        return BackendError(" ".join(dict.fromkeys(a.reason for a in failed)), kind="bad_request")
    if down and not failed:
        return _held_back(down, retry_in)

    def wait(target: Target) -> int:
        return max(1, math.ceil(retry_in(target)))

    parts = [f"{a.target.label}: {a.reason.rstrip('.')}" for a in failed]
    for target in down:
        reason = target.state.last_error.rstrip(".") or "repeated failures"
        parts.append(f"{target.label} is unavailable ({reason}), retrying in {wait(target)} s")
    detail = "; ".join(parts) if parts else "no model server is configured for it"
    error = BackendError(
        f"No model server could answer with '{name}' ({detail}). Please try again in a minute.",
        kind="unavailable",
    )
    if down:  # some could answer again soon: a retry may succeed (503 rather than 502)
        error.kind, error.retry_after = "down", min(wait(t) for t in down)
    return error


def _held_back(down: Sequence[Target], retry_in: Callable[[Target], float]) -> BackendError:
    """Every candidate is held back after failures: name the backends and when each is
    checked again (a model server that is down is not a model that does not exist)."""
    waits: dict[str, int] = {}
    reasons: dict[str, str] = {}
    for target in down:
        name = target.state.name
        wait = max(1, math.ceil(retry_in(target)))
        waits[name] = min(wait, waits.get(name, wait))
        reasons[name] = target.state.last_error.rstrip(".") or "repeated failures"
    sentences = [
        f"Backend '{name}' is unavailable ({reasons[name]}), retrying in {wait} s."
        for name, wait in waits.items()
    ]
    return BackendError(" ".join(sentences), kind="down", retry_after=min(waits.values()))


async def close_quietly(chunks: AsyncIterator[Any]) -> None:
    """Close a backend stream (which closes the upstream request); errors here are moot."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:  # the reply is over either way; closing must not mask the real outcome
        log.debug("closing a backend stream failed", exc_info=True)
