"""`POST /webhooks/telegram`: the Litestar route of the Telegram connector's webhook mode.

No `from __future__ import annotations` here: Litestar reads the handler's annotations, which
must be real objects for a handler defined inside a function.
"""

import logging
from collections.abc import Callable
from typing import Any, Protocol

from litestar import Request, Response, post

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookTarget(Protocol):
    """A running connector that accepts webhook updates."""

    async def handle_webhook(
        self, secret: "str | None", body: bytes
    ) -> "tuple[int, dict[str, Any]]": ...


def webhook_route(find: "Callable[[Request[Any, Any, Any]], WebhookTarget | None]") -> Any:
    """The route handler; `find` returns the running connector for a request (None: 503)."""

    @post("/webhooks/telegram", status_code=200, include_in_schema=False)
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
