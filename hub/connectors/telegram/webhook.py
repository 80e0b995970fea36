"""`POST /webhooks/telegram`: the Litestar route of the Telegram connector's webhook mode.

No `from __future__ import annotations` here: Litestar reads the handler's annotations, which
must be real objects for a handler defined inside a function.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from litestar import Request, Response, post
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookTarget(Protocol):
    """A running connector that accepts webhook updates."""

    async def handle_webhook(
        self, secret: "str | None", body: bytes
    ) -> "tuple[int, dict[str, Any]]": ...


class WebhookAnswer(msgspec.Struct, omit_defaults=True):
    """What the route answers Telegram: `{"ok": true}`, or `ok: false` and why."""

    ok: bool
    description: str | None = None


_ANSWERS = {
    200: "The update was queued.",
    400: "The body is not a Telegram update.",
    403: "The secret token header is missing or wrong.",
    503: "The Telegram connector is not running, or the hub is restarting.",
}


@dataclass
class UpdateOperation(Operation):
    """The route reads its body itself (after checking the secret): documented here, as an
    update object, so schema-driven tests send it one."""

    def __post_init__(self) -> None:
        update = Schema(type=OpenAPIType.OBJECT, description="A Telegram Update object")
        content = {"application/json": OpenAPIMediaType(schema=update)}
        self.request_body = RequestBody(content=content, required=True)
        # While the hub stops, its guard answers 503 for every route in the `detail` shape.
        down = (self.responses or {}).get("503")
        media = None
        if isinstance(down, OpenAPIResponse) and down.content:
            media = down.content.get("application/json")
        if media is not None and media.schema is not None:
            stopping = Schema(
                type=OpenAPIType.OBJECT,
                required=["detail"],
                properties={"detail": Schema(type=OpenAPIType.STRING)},
            )
            media.schema = Schema(any_of=[media.schema, stopping])


def webhook_route(find: "Callable[[Request[Any, Any, Any]], WebhookTarget | None]") -> Any:
    """The route handler; `find` returns the running connector for a request (None: 503)."""

    @post(
        "/webhooks/telegram",
        status_code=200,
        operation_class=UpdateOperation,
        responses={
            status: ResponseSpec(WebhookAnswer, description=why, generate_examples=False)
            for status, why in _ANSWERS.items()
        },
    )
    async def telegram_webhook(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        connector = find(request)
        if connector is None:
            body = {"ok": False, "description": "The Telegram connector is not running."}
            return Response(body, status_code=503)
        status, body = await connector.handle_webhook(
            request.headers.get(SECRET_HEADER), await request.body()
        )
        return Response(body, status_code=status)

    return telegram_webhook
