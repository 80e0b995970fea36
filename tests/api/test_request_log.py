"""One `key=value` line per HTTP request, errors and unmatched paths included."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import pytest

from hub.logging_setup import KeyValueFormatter
from tests.api.conftest import API_KEY, Hub
from tests.fakes.ollama import FakeOllama
from tests.support.wait import until

CHAT = {"model": "alpha:latest", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The request lines, less sign-ups (a line is written just after its response is sent,
    so the set-up's may land after the test started watching)."""
    formatter = KeyValueFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "hub.requests"]
    return [line.split(" ", 3)[3] for line in lines if "path=/api/v1/auths/signup" not in line]


def _fields(line: str) -> dict[str, str]:
    message, *pairs = line.split(" ")
    assert message == "request"
    return dict(pair.split("=", 1) for pair in pairs)


async def test_every_request_gets_one_line(
    make_hub: Callable[..., Any], fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.requests")
    async with make_hub(fake, limits={"per_user": "2/minute"}) as hub:
        hub_: Hub = hub
        token, me = await hub_.signup("Logged")
        caplog.clear()
        async with hub_.client(token) as user, hub_.client(API_KEY) as key, hub_.client() as anon:
            assert (await anon.get("/no/such/path?secret=x")).status_code == 404
            assert (await anon.get("/api/v1/chats/")).status_code == 401
            assert (await user.post("/ollama/api/chat", json=CHAT)).status_code == 200
            assert (await key.post("/ollama/api/chat", json=CHAT)).status_code == 200
            assert (await key.post("/ollama/api/chat", json=CHAT)).status_code == 200
            assert (await key.post("/ollama/api/chat", json=CHAT)).status_code == 429
    lines = _lines(caplog)
    assert len(lines) == 6, lines
    missing, refused, chat, keyed, _, limited = (_fields(line) for line in lines)
    assert (missing["method"], missing["path"], missing["status"]) == (
        "GET",
        "/no/such/path",
        "404",
    )
    assert int(missing["ms"]) >= 0 and "user" not in missing and "secret" not in lines[0]
    assert (refused["path"], refused["status"]) == ("/api/v1/chats/", "401")
    assert (chat["status"], chat["user"], chat["model"]) == ("200", me["id"], "alpha:latest")
    assert int(chat["prompt_tokens"]) > 0 and int(chat["completion_tokens"]) > 0
    fingerprint = hashlib.sha256(API_KEY.encode()).hexdigest()[:16]
    assert (keyed["key"], keyed["model"], keyed["status"]) == (fingerprint, "alpha:latest", "200")
    assert "user" not in keyed
    assert (limited["status"], limited["key"], limited["model"]) == (
        "429",
        fingerprint,
        "alpha:latest",
    )
    assert all(API_KEY not in line and token not in line for line in lines)


async def test_streamed_replies_are_logged_when_they_end(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.requests")
    streamed = {**CHAT, "stream": True}
    async with (
        hub.client(API_KEY) as key,
        key.stream("POST", "/ollama/api/chat", json=streamed) as reply,
    ):
        assert reply.status_code == 200
        body = [line async for line in reply.aiter_lines()]
    assert '"done":true' in body[-1].replace(" ", "")
    await until(lambda: bool(_lines(caplog)), within=10)
    [line] = [_fields(line) for line in _lines(caplog)]
    assert line["status"] == "200" and int(line["completion_tokens"]) > 0


async def test_request_lines_can_be_turned_off(
    make_hub: Callable[..., Any], fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.requests")
    async with make_hub(fake, log_requests=False) as hub, hub.client() as anon:
        assert (await anon.get("/health")).status_code == 200
        assert (await anon.get("/nope")).status_code == 404
    assert _lines(caplog) == []
