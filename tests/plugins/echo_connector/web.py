"""The echo platform's one route: `POST /echo/messages` → the connector's answer."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.exceptions import HTTPException

from echo_connector import PLATFORM, EchoConnector


@post("/echo/messages", status_code=200)
async def message_route(request: Request[Any, Any, Any], data: dict[str, str]) -> dict[str, str]:
    connector = request.app.state.services.extras.get("connectors", {}).get(PLATFORM)
    if not isinstance(connector, EchoConnector) or not connector.running:
        raise HTTPException(status_code=503, detail="The echo connector is not running.")
    if not data.get("text"):
        raise HTTPException(status_code=400, detail='Send {"user": …, "text": …}.')
    reply = await connector.answer(data.get("user") or "someone", data["text"])
    return {"reply": reply}
