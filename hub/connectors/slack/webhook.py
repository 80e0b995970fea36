"""`POST /webhooks/slack`: Slack's HTTP deliveries (events, slash commands, button clicks) to the
connector's bolt app, in HTTP mode.

A thin adapter in the shape of slack_bolt's own (adapter/starlette/async_handler.py): the
Litestar request becomes an `AsyncBoltRequest`, `AsyncApp.async_dispatch` checks the signature
with the signing secret (401 for a bad one, and for requests more than 5 minutes old), answers
Slack's URL check, acknowledges, and starts the listeners; its `BoltResponse` becomes the
Litestar response. While the connector is not running the route answers 503, and Slack sends
the event again later.

No `from __future__ import annotations` here: Litestar reads the handler's annotations, which
must be real objects for a handler defined inside a function.
"""

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from litestar import Request, Response, post
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

PATH = "/webhooks/slack"


class BoltTarget(Protocol):
    """A running connector that takes Slack's HTTP deliveries."""

    async def handle_http(self, request: AsyncBoltRequest) -> "BoltResponse | None": ...


def to_bolt_request(request: "Request[Any, Any, Any]", body: bytes) -> AsyncBoltRequest:
    """The Litestar request as bolt's. bolt parses the body here: one that is not UTF-8, JSON
    or a form as its content type says raises ValueError (or AttributeError, TypeError)."""
    headers: dict[str, str | Sequence[str]] = {
        name: request.headers.getall(name) for name in request.headers
    }
    return AsyncBoltRequest(
        body=body.decode("utf-8"), query=request.url.query or "", headers=headers
    )


def to_litestar_response(answer: BoltResponse) -> "Response[bytes]":
    """bolt's answer as Litestar's (bolt sets no cookies outside its OAuth flow)."""
    headers = answer.first_headers_without_set_cookie()
    media_type = headers.pop("content-type", "text/plain;charset=utf-8")
    body = answer.body.encode("utf-8") if isinstance(answer.body, str) else bytes(answer.body)
    return Response(body, status_code=answer.status, headers=headers, media_type=media_type)


def _error(status: int, text: str) -> "Response[bytes]":
    """An error in bolt's own shape (`{"error": …}`, as its 401 for a bad signature)."""
    body = json.dumps({"error": text}).encode()
    return Response(body, status_code=status, media_type="application/json")


def webhook_route(find: "Callable[[Request[Any, Any, Any]], BoltTarget | None]") -> Any:
    """The route handler; `find` returns the running connector for a request (None: 503)."""

    @post(PATH, status_code=200, include_in_schema=False)
    async def slack_webhook(request: Request[Any, Any, Any]) -> Response[bytes]:
        connector = find(request)
        if connector is None:
            return _error(503, "The Slack connector is not running.")
        try:
            bolt_request = to_bolt_request(request, await request.body())
        except (ValueError, AttributeError, TypeError):
            return _error(400, "The body is not a Slack request.")
        answer = await connector.handle_http(bolt_request)
        if answer is None:
            return _error(503, "The Slack connector is not running.")
        return to_litestar_response(answer)

    return slack_webhook
