"""Malformed input on every route: a 4xx in the route family's own error shape, never a 5xx.

Each case is one the issue found failing (deep nesting → 500 with a traceback, integers over 8
bytes and NULs in keys → 500 on MongoDB, `skip` past 2^63-1 → 500 on both stores, a non-string
`user` on the OpenAI route → 500). Body routes are found from the app, so new ones are covered.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args, get_origin

import msgspec
import pytest

from hub.api.errors import family
from hub.api.json_body import MAX_DEPTH, NUL_KEY, TOO_BIG, TOO_DEEP
from tests.api.conftest import API_KEY, Hub
from tests.security.routes import error_message, http_routes

JSON = {"content-type": "application/json"}


async def _admin_token(hub: Hub) -> str:
    """A token whose user passes every route's guard (the first web account is admin)."""
    token: str | None = getattr(hub, "admin_token", None)
    if token is None:
        token, user = await hub.signup("Root")
        assert user["role"] == "admin"
        hub.admin_token = token  # type: ignore[attr-defined]
    return token


async def _post_raw(hub: Hub, method: str, path: str, body: str) -> tuple[int, Any]:
    token = API_KEY if path.startswith("/ollama") else await _admin_token(hub)
    async with hub.client(token) as http:
        response = await http.request(method, path, content=body, headers=JSON)
    return response.status_code, response.json()


def _nested(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


async def test_deep_nesting_is_refused_on_every_body_route(hub: Hub) -> None:
    body_routes = [r for r in http_routes(hub.app) if r.takes_body]
    assert len(body_routes) >= 11  # ollama 3, openai 1, webui 7 today; more may come
    for route in body_routes:
        for body in ("[" * 1000 + "]" * 1000, _nested(1000), _nested(MAX_DEPTH + 1)):
            status, answer = await _post_raw(hub, route.method, route.path, body)
            assert status == 400, (route, status, answer)
            assert error_message(route.family, answer) == TOO_DEEP, route


async def test_nesting_up_to_the_limit_is_accepted(any_store_hub: Hub) -> None:
    token = await _admin_token(any_store_hub)
    chat = json.loads(_nested(MAX_DEPTH - 1))  # + the {"chat": …} wrapper = MAX_DEPTH
    async with any_store_hub.client(token) as http:
        created = await http.post("/api/v1/chats/new", json={"chat": chat})
        assert created.status_code == 200, created.text
        again = await http.get(f"/api/v1/chats/{created.json()['id']}")
    assert again.json()["chat"] == chat


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"n": 9223372036854775808}', TOO_BIG),
        ('{"n": -9223372036854775809}', TOO_BIG),
        ('{"n": [1, 2, 99999999999999999999999999]}', TOO_BIG),
        ('{"a\\u0000b": 1}', NUL_KEY),
        ('{"x": {"\\u0000": true}}', NUL_KEY),
    ],
)
async def test_values_no_store_can_hold_are_refused(
    any_store_hub: Hub, value: str, problem: str
) -> None:
    status, answer = await _post_raw(
        any_store_hub, "POST", "/api/v1/chats/new", f'{{"chat":{value}}}'
    )
    assert (status, error_message("webui", answer)) == (400, problem)
    status, answer = await _post_raw(
        any_store_hub,
        "POST",
        "/ollama/api/chat",
        f'{{"model":"alpha","messages":[],"options":{value}}}',
    )
    assert (status, error_message("ollama", answer)) == (400, problem)


async def test_the_edges_of_what_is_stored_round_trip(any_store_hub: Hub) -> None:
    chat = {
        "max": 2**63 - 1,
        "min": -(2**63),
        "text": "NUL \x00 inside a string is kept",
        "$keys.with dots": ["kept", True, None, 1.5],
    }
    token = await _admin_token(any_store_hub)
    async with any_store_hub.client(token) as http:
        created = await http.post("/api/v1/chats/new", json={"chat": chat})
        assert created.status_code == 200, created.text
        stored = await http.get(f"/api/v1/chats/{created.json()['id']}")
    assert stored.json()["chat"] == chat


@pytest.mark.parametrize("skip", [2**63, 2**64, 10**30])
async def test_paging_past_64_bits_is_refused(any_store_hub: Hub, skip: int) -> None:
    token = await _admin_token(any_store_hub)
    async with any_store_hub.client(token) as http:
        response = await http.get("/api/v1/chats/", params={"skip": skip})
        last = await http.get("/api/v1/chats/", params={"skip": 2**63 - 1})
    assert response.status_code == 400, response.text
    assert "skip" in error_message("webui", response.json())
    assert (last.status_code, last.json()) == (200, [])


@pytest.mark.parametrize("user", [5, {"id": 1}, ["a"], True])
async def test_a_non_string_openai_user_field_is_a_400(hub: Hub, user: Any) -> None:
    body = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "user": user}
    async with hub.client(API_KEY) as http:
        response = await http.post("/ollama/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    assert "user" in error_message("openai", response.json())


def test_no_body_field_shares_a_name_with_a_dependency(hub: Hub) -> None:
    """Litestar reports a bad body field named like a dependency as a 500, not a 400."""
    for route in http_routes(hub.app):
        if not route.takes_body:
            continue
        body_type = route.handler.parsed_fn_signature.parameters["data"].annotation
        while get_origin(body_type) is Annotated:  # JSONBody[T] = Annotated[T, Body(...)]
            body_type = get_args(body_type)[0]
        if not (isinstance(body_type, type) and issubclass(body_type, msgspec.Struct)):
            continue  # a bare value or mapping: no named fields to clash
        fields = {f.encode_name for f in msgspec.structs.fields(body_type)}
        clash = fields & set(route.handler.resolve_dependencies())
        assert not clash, (route.method, route.path, clash)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/users/", "skip=&skip=0.0"),  # found by benchmarks/fuzz.py: answered 200
        ("/api/v1/users/", "limit=1&limit=2"),
        ("/api/v1/chats/", "skip=0&skip=1"),
        ("/ollama/api/pull", "backend=a&backend=b"),
    ],
)
async def test_a_query_parameter_given_twice_is_a_400(hub: Hub, path: str, query: str) -> None:
    """No route takes a list in its query: a repeated parameter is ambiguous (Litestar used
    one of the values, even one that is no integer), so it is refused, naming the parameter."""
    token = API_KEY if path.startswith("/ollama") else await _admin_token(hub)
    method = "POST" if path.endswith("/pull") else "GET"
    body = {"model": "alpha:latest", "stream": False} if method == "POST" else None
    async with hub.client(token) as http:
        response = await http.request(method, f"{path}?{query}", json=body)
        unknown = await http.get(f"{path}?x=1&x=2") if method == "GET" else None
    assert response.status_code == 400, response.text
    name = query.split("=")[0]
    assert f"`{name}`" in error_message(family(path), response.json())
    if unknown is not None:  # a parameter the route does not read is ignored, as before
        assert unknown.status_code == 200, unknown.text
