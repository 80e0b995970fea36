"""The person behind a shared key (issue 18, item 5): a trusted key's forwarded
`X-OpenWebUI-User-*` / `X-Hub-User` headers give each person their own limits, usage and place
in the queue; untrusted keys' headers are ignored; a service key's request over
`concurrent_per_user` waits for the reply slot instead of failing (Open WebUI's title request
runs beside the reply)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hub.api.forwarding import FORWARDED_PLATFORM
from tests.api.conftest import API_KEY, Hub
from tests.api.keys import key_id, make_admin
from tests.fakes.ollama import FakeOllama
from tests.support.wait import until

TRUSTED = "sk-openwebui-trusted-0123456789"
TITLE = "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history."


def person(
    user_id: str, name: str = "Ann Lee", role: str = "user", chat: str = ""
) -> dict[str, str]:
    """The headers Open WebUI 0.12 adds with ENABLE_FORWARD_USER_INFO_HEADERS=true."""
    headers = {
        "X-OpenWebUI-User-Name": name.replace(" ", "%20"),
        "X-OpenWebUI-User-Id": user_id,
        "X-OpenWebUI-User-Email": f"{user_id}@example.com",
        "X-OpenWebUI-User-Role": role,
    }
    if chat:
        headers["X-OpenWebUI-Chat-Id"] = chat
    return headers


def chat_body(model: str = "alpha", text: str = "hi", **more: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **more}


async def _post(
    hub: Hub, key: str, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    async with hub.client(key) as http:
        return await http.post("/ollama/api/chat", json={"stream": False, **body}, headers=headers)


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


async def test_two_people_behind_one_trusted_key_have_their_own_limits_and_usage(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    settings = {"trusted_api_keys": TRUSTED, "limits": {"per_user": "1/minute"}}
    async with make_hub(fake, **settings) as hub:
        ann = await _post(hub, TRUSTED, person("u-ann", "Ann Lee"), chat_body())
        bob = await _post(hub, TRUSTED, person("u-bob", "Bob"), chat_body())
        ann_again = await _post(hub, TRUSTED, person("u-ann", "Ann Lee"), chat_body())
        assert (ann.status_code, bob.status_code, ann_again.status_code) == (200, 200, 429)
        assert "Rate limit reached (1 per minute)" in ann_again.json()["error"]
        assert "Retry-After" in ann_again.headers

        users = hub.app.state.services.stores.users
        ann_user = await users.find_identity(FORWARDED_PLATFORM, f"{key_id(TRUSTED)}:u-ann")
        bob_user = await users.find_identity(FORWARDED_PLATFORM, f"{key_id(TRUSTED)}:u-bob")
        assert ann_user is not None and bob_user is not None and ann_user.id != bob_user.id
        assert ann_user.name == "Ann Lee"  # Open WebUI URL-quotes the name
        usage = hub.app.state.services.stores.usage
        for user in (ann_user, bob_user):
            counted = await usage.for_user(user.id, _today())
            assert [(u.model, u.requests) for u in counted] == [("alpha:latest", 1)]


async def test_untrusted_keys_forwarded_headers_are_ignored(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    settings = {"trusted_api_keys": TRUSTED, "limits": {"per_user": "1/minute"}}
    async with make_hub(fake, **settings) as hub:
        first = await _post(hub, API_KEY, person("u-ann"), chat_body())
        second = await _post(hub, API_KEY, person("u-bob"), chat_body())
        users = await hub.app.state.services.stores.users.identities()
    assert (first.status_code, second.status_code) == (200, 429)  # one key, one user
    assert not any(i.platform == FORWARDED_PLATFORM for i in users)


async def test_generic_x_hub_user_and_per_chat_limits(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    settings = {"trusted_api_keys": TRUSTED, "limits": {"per_chat": "1/minute"}}
    async with make_hub(fake, **settings) as hub:
        one = await _post(hub, TRUSTED, person("u-ann", chat="chat-1"), chat_body())
        other_chat = await _post(hub, TRUSTED, person("u-ann", chat="chat-2"), chat_body())
        same_chat = await _post(hub, TRUSTED, person("u-ann", chat="chat-1"), chat_body())
        assert (one.status_code, other_chat.status_code, same_chat.status_code) == (200, 200, 429)

        script = await _post(hub, TRUSTED, {"X-Hub-User": "batch-job-7"}, chat_body())
        assert script.status_code == 200
        found = await hub.app.state.services.stores.users.find_identity(
            FORWARDED_PLATFORM, f"{key_id(TRUSTED)}:batch-job-7"
        )
        assert found is not None


async def test_an_admin_trusted_key_passes_on_open_webui_roles(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    fake.registry["qwen3:0.6b"] = 100
    async with make_hub(fake, trusted_api_keys=TRUSTED) as hub:
        pull = {"model": "qwen3:0.6b", "stream": False}
        async with hub.client(TRUSTED) as http:
            before = await http.post(
                "/ollama/api/pull", json=pull, headers=person("u-root", role="admin")
            )
            assert before.status_code == 403  # the key itself is no admin: roles stay the hub's
            await make_admin(hub, TRUSTED)
            admin = await http.post(
                "/ollama/api/pull", json=pull, headers=person("u-root", role="admin")
            )
            user = await http.post(
                "/ollama/api/pull", json=pull, headers=person("u-ann", role="user")
            )
    assert admin.status_code == 200 and admin.json() == {"status": "success"}
    assert user.status_code == 403
    fake.remove("qwen3:0.6b")


async def test_a_disabled_person_is_refused(make_hub: Callable[..., Any], fake: FakeOllama) -> None:
    async with make_hub(fake, trusted_api_keys=TRUSTED) as hub:
        assert (await _post(hub, TRUSTED, person("u-eve"), chat_body())).status_code == 200
        users = hub.app.state.services.stores.users
        eve = await users.find_identity(FORWARDED_PLATFORM, f"{key_id(TRUSTED)}:u-eve")
        await users.set_disabled(eve.id, True)
        refused = await _post(hub, TRUSTED, person("u-eve"), chat_body())
        others = await _post(hub, TRUSTED, person("u-ann"), chat_body())
    assert refused.status_code == 401 and others.status_code == 200


async def _title_beside_a_reply(
    hub: Hub, key: str, headers: dict[str, str], *, drain: bool = True
) -> httpx.Response:
    """Open WebUI's first message: the reply streams, and the title task is sent meanwhile.
    Without `drain`, the title's answer is awaited while the reply still streams."""
    async with hub.client(key) as http:
        body = {**chat_body("slowish", "tell me a story"), "stream": True}
        async with http.stream("POST", "/ollama/api/chat", json=body, headers=headers) as reply:
            assert reply.status_code == 200
            lines = reply.aiter_lines()
            await anext(lines)  # the reply has started
            title = asyncio.create_task(
                http.post(
                    "/ollama/api/chat",
                    json={**chat_body("slowish", TITLE), "stream": False},
                    headers=headers,
                )
            )
            if not drain:
                return await title  # leaving closes the reply
            async for _ in lines:
                pass
        return await title


async def test_the_title_request_waits_for_the_reply_instead_of_a_429(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    fake.script("slowish", token_count=20, tokens_per_second=40)
    limits = {"concurrent_per_user": 1}
    async with make_hub(fake, trusted_api_keys=TRUSTED, limits=limits) as hub:
        title = await _title_beside_a_reply(hub, TRUSTED, person("u-ann"))
        assert title.status_code == 200, title.text
        assert title.json()["message"]["content"] == " ".join(f"t{i}" for i in range(20))
        # the title went upstream only once the reply was complete
        replies = [r for r in fake.chat_requests if r.model == "slowish"]
        assert replies[-2].outcome == "complete" and replies[-1].at >= replies[-2].at

        # a static (untrusted) key is a service too: it waits the same way
        plain = await _title_beside_a_reply(hub, API_KEY, {})
        assert plain.status_code == 200


async def test_the_wait_is_bounded_and_signed_in_users_are_refused_at_once(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    fake.script("slowish", token_count=2000, tokens_per_second=100)  # far longer than the wait
    limits = {"concurrent_per_user": 1, "concurrent_wait": 0.2}
    async with make_hub(fake, limits=limits) as hub:
        late = await _title_beside_a_reply(hub, API_KEY, {}, drain=False)
        assert late.status_code == 429
        message = late.json()["error"]
        assert message == "You already have 1 reply running; wait for it to finish."
        assert "/stop" not in message  # worded for an HTTP client
        await hub.signup("First")  # the first account is the hub's admin, unlimited
        token, _ = await hub.signup("Web")
        at_once = await _title_beside_a_reply(hub, token, {}, drain=False)
        assert at_once.status_code == 429


async def test_the_request_log_names_the_person_and_the_key(
    make_hub: Callable[..., Any], fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.requests")
    async with make_hub(fake, trusted_api_keys=TRUSTED) as hub:
        assert (await _post(hub, TRUSTED, person("u-ann"), chat_body())).status_code == 200
        person_user = await hub.app.state.services.stores.users.find_identity(
            FORWARDED_PLATFORM, f"{key_id(TRUSTED)}:u-ann"
        )
        await until(lambda: bool(_chat_lines(caplog)))
    [line] = _chat_lines(caplog)
    assert (line.user, line.key) == (person_user.id, key_id(TRUSTED))  # type: ignore[attr-defined]
    assert TRUSTED not in line.getMessage()


def _chat_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "hub.requests" and getattr(r, "path", "") == "/ollama/api/chat"
    ]
