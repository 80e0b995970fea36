"""A backend held back after failures is named, not hidden (issue 17, item 3).

Reproduces the quoted failure: after three upstream 500s (from two people) the only backend is
held back; the hub then answered 404 "model 'alpha' not found", `/api/tags` listed nothing and
`/ready` said 200. Now: 503 naming the backend and when it is retried (`Retry-After`), the
model stays listed, `/ready` says no backend answers, and the first health check that passes
brings the backend back, long before the cooldown would have ended.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import API_KEY, Hub, hub_settings, running_hub
from tests.fakes.ollama import FakeOllama
from tests.support.wait import until

MODEL = "alpha:latest"
UPSTREAM_500 = "llama runner process has terminated: exit status 2"
HELD = re.compile(r"^Backend 'local' is unavailable \((.+)\), retrying in (\d+) s\.$")


def _settings(tmp: Path, fake: FakeOllama, probe_interval: float) -> Any:
    routing = {
        "backends": [{"name": "local", "url": fake.url}],
        "probe_interval": probe_interval,
        "cooldown": 3600,  # an hour: only a passing health check can end it within the test
        "failure_threshold": 3,
    }
    return hub_settings(tmp, fake, routing=routing, default_model=MODEL)


def _chat(model: str = MODEL, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


async def _fail_three_times(hub: Hub, fake: FakeOllama) -> None:
    fake.script(MODEL, status=500, status_message=UPSTREAM_500)
    token, _ = await hub.signup("Bea")
    for who in (API_KEY, token, API_KEY):  # two people: the server, not one request, is at fault
        async with hub.client(who) as http:
            response = await http.post("/ollama/api/chat", json=_chat(stream=False))
        assert response.status_code == 502, response.text


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama([MODEL, "beta:1b"]) as server:
        yield server


async def test_a_held_back_backend_is_named_listed_and_not_ready(
    tmp_path: Path, fake: FakeOllama
) -> None:
    async with running_hub(_settings(tmp_path, fake, probe_interval=3600), fake) as hub:
        await _fail_three_times(hub, fake)
        fake.script(MODEL)  # healthy again, but nothing has checked yet
        async with hub.client(API_KEY) as http:
            native = await http.post("/ollama/api/chat", json=_chat(stream=False))
            streamed = await http.post("/ollama/api/chat", json=_chat())
            openai = await http.post("/ollama/v1/chat/completions", json=_chat())
            show = await http.post("/ollama/api/show", json={"model": MODEL})
            tags = await http.get("/ollama/api/tags")
            models = await http.get("/ollama/v1/models")
            ready = await http.get("/ready")

        for response in (native, streamed, show):
            assert response.status_code == 503, response.text
            found = HELD.match(response.json()["error"])
            assert found is not None, response.text
            assert UPSTREAM_500 in found.group(1)
            assert response.headers["retry-after"] == found.group(2)
        assert openai.status_code == 503
        assert HELD.match(openai.json()["error"]["message"]), openai.text
        assert int(openai.headers["retry-after"]) >= 1

        assert {m["name"] for m in tags.json()["models"]} == {MODEL, "beta:1b"}
        assert {m["id"] for m in models.json()["data"]} == {MODEL, "beta:1b"}

        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["backend local"]["ok"] is False
        assert checks["backend local"]["detail"].startswith("unavailable (")
        assert checks["backends"]["detail"] == "no model backend is answering"

        await hub.app.state.services.router.probe_now()  # a health check that passes
        async with hub.client(API_KEY) as http:
            again = await http.post("/ollama/api/chat", json=_chat(stream=False))
            ready = await http.get("/ready")
        assert again.status_code == 200, again.text
        assert ready.status_code == 200, ready.text


async def test_the_background_health_check_ends_the_cooldown_when_the_server_is_back(
    tmp_path: Path, fake: FakeOllama
) -> None:
    async with running_hub(_settings(tmp_path, fake, probe_interval=0.2), fake) as hub:
        router = hub.app.state.services.router
        await fake.stop()  # the model server dies: requests and health checks fail
        async with hub.client(API_KEY) as http:
            first = await http.post("/ollama/api/chat", json=_chat(stream=False))
            assert first.status_code in (502, 503), first.text
            await until(lambda: not router.status()[0].up, within=30)
            held = await http.post("/ollama/api/chat", json=_chat(stream=False))
            assert held.status_code == 503 and HELD.match(held.json()["error"]), held.text
            assert "not reachable" in held.json()["error"]

            await fake.start()  # back on the same port
            await until(lambda: router.status()[0].up, within=30)
            back = await http.post("/ollama/api/chat", json=_chat(stream=False))
        assert back.status_code == 200, back.text
