"""Cancellation and limits on the HTTP routes: disconnects stop the upstream, 429 has headers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.conftest import API_KEY, Hub
from tests.fakes.ollama import FakeOllama

AUTH = {"Authorization": f"Bearer {API_KEY}"}
SLOW_TOKENS = 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/ollama/api/chat", {"model": "slow", "messages": [{"role": "user", "content": "go"}]}),
        ("/ollama/api/generate", {"model": "slow", "prompt": "go"}),
        (
            "/ollama/v1/chat/completions",
            {"model": "slow", "messages": [{"role": "user", "content": "go"}], "stream": True},
        ),
    ],
)
async def test_disconnect_mid_stream_closes_the_upstream(
    hub: Hub, path: str, body: dict[str, Any]
) -> None:
    fake = hub.fake
    before = len(fake.requests)
    async with hub.client() as http, http.stream("POST", path, json=body, headers=AUTH) as resp:
        assert resp.status_code == 200
        lines = 0
        async for line in resp.aiter_lines():
            lines += bool(line.strip())
            if lines == 3:
                break
    # Leaving the block closed the client's connection mid-reply.
    mine = [r for r in fake.requests[before:] if r.model == "slow:latest"]
    assert len(mine) == 1
    await fake.wait_for(lambda: mine[0].outcome == "client_closed", 5)
    assert mine[0].chunks_sent < SLOW_TOKENS


async def test_disconnect_while_waiting_for_a_whole_reply(hub: Hub) -> None:
    fake = hub.fake
    before = len(fake.requests)
    body = {"model": "slow", "messages": [{"role": "user", "content": "go"}], "stream": False}

    async def call() -> None:
        async with hub.client() as http:
            await http.post("/ollama/api/chat", json=body, headers=AUTH)

    task = asyncio.create_task(call())
    for _ in range(250):  # the fake counts chunks without waking wait_for, so poll
        if any(r.chunks_sent > 2 for r in fake.requests[before:]):
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    mine = [r for r in fake.requests[before:] if r.model == "slow:latest"]
    await fake.wait_for(lambda: mine[0].outcome == "client_closed", 5)
    assert mine[0].chunks_sent < SLOW_TOKENS


async def test_rate_limit_gives_429_with_headers(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    chat = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}]}
    async with make_hub(fake, limits={"per_user": "2/minute"}) as hub:
        before = len(fake.chat_requests)
        async with hub.client() as http:
            for _ in range(2):
                ok = await http.post("/ollama/api/chat", json=chat, headers=AUTH)
                assert ok.status_code == 200
            native = await http.post("/ollama/api/chat", json=chat, headers=AUTH)
            compat = await http.post(
                "/ollama/v1/chat/completions", json=chat | {"stream": True}, headers=AUTH
            )
        assert len(fake.chat_requests) == before + 2  # refused requests never reach the model
        for resp in (native, compat):
            assert resp.status_code == 429
            retry = int(resp.headers["retry-after"])
            assert 1 <= retry <= 60
            assert resp.headers["ratelimit-limit"] == "2"
            assert resp.headers["ratelimit-remaining"] == "0"
            assert int(resp.headers["ratelimit-reset"]) >= 1
        assert "Try again" in native.json()["error"]
        error = compat.json()["error"]
        assert error["type"] == "rate_limit_error" and "Try again" in error["message"]


async def test_prompt_command_needing_input_is_a_400_the_frontend_shows(hub: Hub) -> None:
    token, _ = await hub.signup("Needs")
    async with hub.client(token) as http:
        await http.post(
            "/api/v1/prompts/create",
            json={"command": "/greet", "title": "Greet", "content": "Hello {{name}}"},
        )
        before = len(hub.fake.chat_requests)
        reply = await http.post(
            "/ollama/api/chat",
            json={
                "model": "alpha",
                "messages": [{"role": "user", "content": "/greet"}],
                "stream": False,
            },
        )
    # Open WebUI shows a non-OK response's `error`; a 200 would pass the hint off as the model's
    assert reply.status_code == 400
    assert "/greet needs: name" in reply.json()["error"]
    assert len(hub.fake.chat_requests) == before
