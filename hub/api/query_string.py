"""Query parameters given more than once are refused (issue 17, item 6).

No route takes a list in its query string, and Litestar, given `?skip=&skip=0.0`, used one of
the values and ignored the other (here the empty one, so the request was answered as if `skip`
were not there, although `0.0` is no integer). A parameter a route declares may appear once;
a second value is a 400 in the route family's error shape that names it. Parameters a route
does not declare are ignored, as before, however often they appear.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.params import ParameterKwarg

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler
    from litestar.types import ASGIApp, Receive, Scope, Send

# Handler arguments Litestar fills from the request itself, never from the query string.
_RESERVED = frozenset(
    {"request", "data", "state", "scope", "headers", "cookies", "query", "socket", "body"}
)
_declared: dict[int, frozenset[str]] = {}


def declared_query(handler: HTTPRouteHandler, path_params: frozenset[str]) -> frozenset[str]:
    """The query parameter names `handler` reads (cached per handler)."""
    names = _declared.get(id(handler))
    if names is not None:
        return names
    dependencies = set(handler.resolve_dependencies())
    found = set()
    for name, parameter in handler.parsed_fn_signature.parameters.items():
        if name in _RESERVED or name in dependencies or name in path_params:
            continue
        kwarg = parameter.kwarg_definition
        if isinstance(kwarg, ParameterKwarg):
            if kwarg.header or kwarg.cookie:
                continue
            found.add(kwarg.query or name)
        else:
            found.add(name)
    names = _declared[id(handler)] = frozenset(found)
    return names


def refuse_repeated_query(app: ASGIApp) -> ASGIApp:
    """Middleware: a declared query parameter given twice is a 400. (Middleware, not a
    `before_request` hook: the routers' own hooks would replace an app-wide one.)"""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("query_string", b"") if scope["type"] == ScopeType.HTTP else b""
        if raw:
            _check(raw, scope)
        await app(scope, receive, send)

    return checked


def _check(raw: bytes, scope: Scope) -> None:
    counts = Counter(key for key, _ in parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
    repeated = [key for key, n in counts.items() if n > 1]
    if not repeated:
        return
    handler: HTTPRouteHandler = scope["route_handler"]  # type: ignore[assignment]
    declared = declared_query(handler, frozenset(scope.get("path_params") or {}))
    for key in repeated:
        if key in declared:
            raise ClientException(f"The query parameter `{key}` is given more than once.")
