"""The OpenAPI document as the hub really answers, added to what Litestar writes from the
handlers' signatures:

- every operation's error statuses, each with its route family's error body (`errors.py`:
  OpenAI's nested object, Ollama's `{"error"}`, Open WebUI's `{"detail"}`), and `Retry-After`
  where the hub sends it;
- the streamed media type of a route whose handler says it streams (`opt={STREAMS: …}`:
  NDJSON for Ollama, SSE for OpenAI), next to its JSON answer;
- `security: []` on routes that need no sign-in (found from their dependencies).

Routes are read from the app itself, so a route added later is documented the same way.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hub.api.auth import ollama_user, webui_active_user, webui_admin, webui_user
from hub.api.errors import family

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.handlers import HTTPRouteHandler

STREAMS = "streams"  # handler opt: the media type of its streamed 200 answer
SAME_BODY_WHEN_DOWN = "same_body_when_down"  # handler opt: its 503 has the 200's body (/ready)
_AUTH = (ollama_user, webui_user, webui_active_user, webui_admin)
_PARAM = re.compile(r"\{(\w+):[^}]+\}")

_TEXT = {"type": "string"}
BODIES: dict[str, dict[str, Any]] = {
    "openai": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {"message": _TEXT, "type": _TEXT, "param": {}, "code": {}},
            }
        },
    },
    "ollama": {"type": "object", "required": ["error"], "properties": {"error": _TEXT}},
    "webui": {"type": "object", "required": ["detail"], "properties": {"detail": _TEXT}},
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": _TEXT}
}
_WHY = {
    400: "The request is malformed: the message says what is wrong",
    401: "No valid sign-in token (or API key, on /ollama routes)",
    403: "Signed in, but not allowed this (a pending account, not an admin, a cookie "
    "without a JSON content type)",
    404: "No such thing (path, model, chat, prompt, user)",
    405: "The path does not take this method",
    409: "It exists already",
    413: "The request body is too large",
    429: "A rate limit or quota was reached; see Retry-After and RateLimit-*",
    502: "The model server failed",
    503: "The hub is restarting, its database or limiter is not answering, or no model "
    "server can answer now; see Retry-After",
}


def _statuses(path: str, *, authenticated: bool, takes_body: bool) -> list[int]:
    statuses = [400, 404, 405, 503]
    if authenticated:
        statuses += [401, 403]
    if takes_body:
        statuses += [409, 413]
    if family(path) != "webui":  # model routes: limits, and the model servers behind them
        statuses += [429, 502]
    return sorted(statuses)


def _authenticated(handler: HTTPRouteHandler) -> bool:
    parameters = handler.parsed_fn_signature.parameters
    for name, provider in handler.resolve_dependencies().items():
        if name in parameters and getattr(provider, "dependency", None) in _AUTH:
            return True
    return False


def _document_operation(operation: dict[str, Any], path: str, handler: HTTPRouteHandler) -> None:
    authenticated = _authenticated(handler)
    if not authenticated:
        operation["security"] = []
    responses: dict[str, Any] = operation.setdefault("responses", {})
    takes_body = "data" in handler.parsed_fn_signature.parameters
    error = {"application/json": {"schema": BODIES[family(path)]}}
    for status in _statuses(path, authenticated=authenticated, takes_body=takes_body):
        if not _undocumented(responses.get(str(status))):
            continue  # the route documents this status itself (doc_shapes.py)
        answer: dict[str, Any] = {"description": _WHY[status], "content": error}
        if status in (429, 503):
            answer["headers"] = _RETRY_AFTER
        responses[str(status)] = answer
    opt = handler.opt
    ok = responses.get(str(handler.status_code))
    if ok is not None and opt.get(STREAMS):
        ok.setdefault("content", {})[str(opt[STREAMS])] = {"schema": _TEXT}
        ok["description"] = f"The reply: streamed as {opt[STREAMS]}, or one JSON object"
    if ok is not None and opt.get(SAME_BODY_WHEN_DOWN):
        responses["503"] = {**ok, "description": _WHY[503], "headers": {}}


def _undocumented(response: dict[str, Any] | None) -> bool:
    """Whether a status is missing, or only has Litestar's own 400 (a body the hub never
    sends: its validation errors are in the family's shape)."""
    if response is None:
        return True
    for media in response.get("content", {}).values():
        if "status_code" in media.get("schema", {}).get("properties", {}):
            return True
    return False


def document_responses(schema: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """Add the hub's real answers to `schema` (Litestar's document, changed in place and
    returned; doing it again changes nothing)."""
    paths: dict[str, Any] = schema.get("paths", {})
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not handler.include_in_schema:
                continue
            path = _PARAM.sub(r"{\1}", route.path)
            item = paths.get(path) or paths.get(path.rstrip("/") or "/")
            if item is None:
                continue
            for method in handler.http_methods:
                operation = item.get(method.lower())
                if operation is not None:
                    _document_operation(operation, path, handler)
    return schema
