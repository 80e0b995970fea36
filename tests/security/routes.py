"""Every HTTP route of a hub app, found from the app itself so routes added later are covered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler

from hub.api.errors import family


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with path parameters filled in
    handler: HTTPRouteHandler

    @property
    def family(self) -> str:
        return family(self.path)

    @property
    def takes_body(self) -> bool:
        return "data" in self.handler.parsed_fn_signature.parameters


_PARAM = re.compile(r"\{(\w+):\w+\}")


def http_routes(app: Litestar) -> Iterator[Route]:
    """(method, path, handler) for each route the hub serves, OPTIONS and the docs left out."""
    for route in app.routes:
        if route.path.startswith("/schema"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                yield Route(method, _PARAM.sub(r"\1", route.path), handler)


def error_message(route_family: str, body: Any) -> str:
    """The message of an error body, asserting it has the family's shape."""
    if route_family == "openai":
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
        message = body["error"]["message"]
    elif route_family == "ollama":
        assert set(body) == {"error"}, body
        message = body["error"]
    else:
        assert set(body) == {"detail"}, body
        message = body["detail"]
    assert isinstance(message, str) and message
    return message
