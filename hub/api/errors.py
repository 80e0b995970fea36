"""Error bodies per route family, and the exception handlers that produce them.

Three families share one exception type (`ApiError`) and one handler that picks the body shape
from the request path, so a handler can raise the same error on any prefix:

- `/ollama/v1/*`  OpenAI: `{"error": {"message", "type", "param", "code"}}`
- `/ollama/*`     Ollama: `{"error": "…"}`
- anything else   Open WebUI / FastAPI: `{"detail": "…"}`
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from hub.core.generation import backend_failed
from hub.core.models import Failed
from hub.core.ports import BackendError, DuplicateError, StoreError
from hub.core.stores.outage import BACKLOG_FULL, STORE_DOWN, STORE_RETRY_AFTER, BacklogFull

log = logging.getLogger(__name__)

# Failed.code -> HTTP status, for errors decided before the first byte is sent.
FAILED_STATUS: Mapping[str, int] = {
    "not_found": 404,
    "bad_request": 400,
    "forbidden": 403,
    "rate_limited": 429,
    "busy": 503,
    "limiter_unavailable": 503,
    "restarting": 503,
    "backend_down": 503,  # every backend that has the model is held back after failures
    "store_unavailable": 503,
    "unavailable": 502,
    "cancelled": 499,
}

_OPENAI_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error a client should see, with its status and optional extra headers."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def rate_limit_headers(failed: Failed) -> dict[str, str]:
    """`Retry-After` and IETF `RateLimit-*` headers for a refused request (seconds, rounded up)."""
    headers: dict[str, str] = {}
    if failed.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(failed.retry_after)))
    if failed.limit:
        headers["RateLimit-Limit"] = str(failed.limit)
        headers["RateLimit-Remaining"] = str(max(0, failed.remaining))
        headers["RateLimit-Reset"] = str(max(0, math.ceil(failed.reset_after)))
    return headers


def error_from_failed(failed: Failed) -> ApiError:
    """The HTTP error for a reply that failed before anything was streamed."""
    status = FAILED_STATUS.get(failed.code, 500)
    headers = rate_limit_headers(failed) if status in (429, 503) else None
    return ApiError(status, failed.reason, headers=headers)


def family(path: str) -> str:
    """Which error shape a path uses: "openai", "ollama" or "webui"."""
    if path.startswith("/ollama/v1/") or path == "/ollama/v1":
        return "openai"
    if path.startswith("/ollama/") or path == "/ollama":
        return "ollama"
    return "webui"


def openai_error(status: int, message: str) -> dict[str, Any]:
    kind = _OPENAI_TYPES.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def error_body(path: str, status: int, message: str) -> dict[str, Any]:
    shape = family(path)
    if shape == "openai":
        return openai_error(status, message)
    if shape == "ollama":
        return {"error": message}
    return {"detail": message}


def _message_of(exc: HTTPException) -> str:
    if isinstance(exc, ValidationException) and exc.extra:
        first = exc.extra[0] if isinstance(exc.extra, list) else exc.extra
        if isinstance(first, Mapping):
            where = first.get("key") or ""
            what = first.get("message") or exc.detail
            return f"Invalid request body: {where} {what}".replace("  ", " ").strip()
    return str(exc.detail)


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Render any exception in the body shape of the request's route family."""
    path = request.url.path
    headers: dict[str, str] = {}
    if isinstance(exc, BackendError):  # a route that asked the router itself (/api/show)
        exc = error_from_failed(backend_failed(exc))
    elif isinstance(exc, StoreError):
        exc = _store_error(exc, path)
    if isinstance(exc, ApiError):
        status, message, headers = exc.status, exc.message, exc.headers
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, _message_of(exc)
        headers = dict(exc.headers or {})
    else:
        log.exception("unhandled error", extra={"path": path, "method": request.method})
        status = HTTP_500_INTERNAL_SERVER_ERROR
        message = "The hub hit an internal error. Try again; if it persists, check the hub's logs."
    return Response(content=error_body(path, status, message), status_code=status, headers=headers)


def _store_error(exc: StoreError, path: str) -> ApiError:
    """A store failure as a client should see it: the database's name and address stay in the
    log; the client gets 503, `Retry-After` and a sentence (409 for a taken unique key)."""
    if isinstance(exc, DuplicateError):
        return ApiError(409, "That already exists.")
    if isinstance(exc, BacklogFull):
        message = BACKLOG_FULL
    else:
        log.warning("store error", extra={"path": path, "error": str(exc)})
        message = STORE_DOWN
    return ApiError(503, message, headers={"Retry-After": str(int(STORE_RETRY_AFTER))})


def exception_handlers() -> dict[type[Exception] | int, Any]:
    """Handlers to set on the API routers (and on the app, for unmatched paths)."""
    return {
        ApiError: handle_exception,
        HTTPException: handle_exception,
        Exception: handle_exception,
    }
