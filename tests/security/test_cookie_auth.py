"""Browser-safe cookie auth: a forged cross-site request cannot change anything.

A browser attaches the `token` cookie to requests any other site makes. Reproduced first: a
cookie-authenticated `text/plain` POST with a JSON body (what an HTML form or a no-cors fetch
can send) created a prompt and a chat.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx
import pytest

from tests.api.conftest import Hub
from tests.security.routes import error_message, http_routes

PROMPT = {"command": "/forged", "title": "t", "content": "c"}
FORM_LIKE = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]


def cookie_client(hub: Hub, token: str) -> httpx.AsyncClient:
    return hub.client(cookies={"token": token})


async def _listed(hub: Hub, token: str) -> tuple[list[str], int]:
    async with hub.client(token) as http:
        prompts = [p["command"] for p in (await http.get("/api/v1/prompts/")).json()]
        chats = len((await http.get("/api/v1/chats/")).json())
    return prompts, chats


@pytest.mark.parametrize("content_type", FORM_LIKE)
async def test_cookie_post_without_json_content_type_changes_nothing(
    hub: Hub, content_type: str
) -> None:
    token, _ = await hub.signup("Victim")
    body = '{"command":"/forged","title":"t","content":"c"}'
    async with cookie_client(hub, token) as http:
        prompt = await http.post(
            "/api/v1/prompts/create", content=body, headers={"content-type": content_type}
        )
        chat = await http.post(
            "/api/v1/chats/new", content='{"chat":{}}', headers={"content-type": content_type}
        )
    for response in (prompt, chat):
        assert response.status_code == 403, response.text
        assert "Content-Type: application/json" in error_message("webui", response.json())
    assert await _listed(hub, token) == ([], 0)


async def test_cookie_delete_needs_the_header_too(hub: Hub) -> None:
    token, _ = await hub.signup("Deleter")
    async with hub.client(token) as http:
        chat_id = (await http.post("/api/v1/chats/new", json={"chat": {}})).json()["id"]
    async with cookie_client(hub, token) as http:
        forged = await http.delete(f"/api/v1/chats/{chat_id}")
        ours = await http.delete(f"/api/v1/chats/{chat_id}", headers={"X-Requested-With": "x"})
    assert forged.status_code == 403
    assert (ours.status_code, ours.json()) == (200, True)


async def test_cookie_requests_from_the_hubs_own_scripts_work(hub: Hub) -> None:
    token, _ = await hub.signup("Owner")
    async with cookie_client(hub, token) as http:
        by_json = await http.post("/api/v1/prompts/create", json=PROMPT)
        by_header = await http.post(
            "/api/v1/chats/new",
            content='{"chat":{"title":"mine"}}',
            headers={"content-type": "text/plain", "X-Requested-With": "XMLHttpRequest"},
        )
        reading = await http.get("/api/v1/prompts/")
    assert by_json.status_code == 200, by_json.text
    assert by_header.status_code == 200, by_header.text
    assert [p["command"] for p in reading.json()] == ["/forged"]


async def test_bearer_tokens_are_not_affected(hub: Hub) -> None:
    """A header a page cannot set for another origin; no cookie involved, nothing to forge."""
    token, _ = await hub.signup("Script")
    async with hub.client(token) as http:
        response = await http.post(
            "/api/v1/chats/new", content='{"chat":{}}', headers={"content-type": "text/plain"}
        )
    assert response.status_code == 200, response.text


async def test_every_state_changing_route_refuses_a_forged_cookie_request(hub: Hub) -> None:
    token, _ = await hub.signup("Everyone")
    checked = 0
    async with cookie_client(hub, token) as http:
        for route in http_routes(hub.app):
            if route.method in ("GET", "HEAD") or route.path.startswith("/api/v1/auths/sign"):
                continue  # sign-up and sign-in take no credential: nothing to borrow
            response = await http.request(
                route.method, route.path, content="{}", headers={"content-type": "text/plain"}
            )
            assert response.status_code == 403, (route.method, route.path, response.text)
            checked += 1
    assert checked >= 9


async def test_no_cookie_the_hub_sets_is_readable_by_scripts_or_sent_cross_site(
    hub: Hub,
) -> None:
    """The hub sets no cookie today; any it sets must be HttpOnly and SameSite=Lax."""
    token, user = await hub.signup("Cookies")
    responses = []
    async with hub.client() as http:
        body = {"email": user["email"], "password": "correct horse battery staple"}
        responses.append(await http.post("/api/v1/auths/signin", json=body))
    async with hub.client(token) as http:
        responses.append(await http.get("/api/v1/auths/"))
        responses.append(await http.get("/api/config"))
    for response in responses:
        assert response.status_code == 200
        for header in response.headers.get_list("set-cookie"):
            assert_browser_safe_cookie(header)


def assert_browser_safe_cookie(header: str) -> None:
    cookie = SimpleCookie()
    cookie.load(header)
    for morsel in cookie.values():
        assert morsel["httponly"], header
        assert str(morsel["samesite"]).lower() == "lax", header
