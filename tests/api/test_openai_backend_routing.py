"""An `openai`-kind backend driven by the router end to end (issue 4, item 7): an alias whose
first candidate is the OpenAI-compatible backend (the fake's `/v1`) answers from it, and fails
over to the Ollama backend when the OpenAI one is down."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

from hub.api.incoming import http_message
from hub.core.models import ChatMessage, Done, Failed, Text, User
from hub.core.routing_config import BackendConfig, Candidate, RoutingConfig
from tests.api.conftest import Hub
from tests.fakes.ollama import FakeOllama

COMPAT_MODEL = "gemma3:270m"
LOCAL_MODEL = "llama3.2:1b"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _routing(compat_url: str, local_url: str) -> RoutingConfig:
    return RoutingConfig(
        backends=[
            BackendConfig(name="compat", kind="openai", url=compat_url),
            BackendConfig(name="local", url=local_url),
        ],
        models={
            "smart": [
                Candidate(backend="compat", model=COMPAT_MODEL),
                Candidate(backend="local", model=LOCAL_MODEL),
            ]
        },
    )


async def _chat(hub: Hub, user: User, text: str) -> tuple[str, Done | Failed]:
    """One reply through the running hub's ChatService, as the HTTP routes send it."""
    msg = http_message(user, "smart", [ChatMessage("user", text)])
    parts: list[str] = []
    async with aclosing(hub.app.state.services.chat.reply(msg)) as events:
        async for event in events:
            if isinstance(event, Text):
                parts.append(event.delta)
            elif isinstance(event, (Done, Failed)):
                return "".join(parts), event
    raise AssertionError("the reply ended without Done or Failed")


async def _user(hub: Hub) -> User:
    _, body = await hub.signup("Router")
    user: User | None = await hub.app.state.services.stores.users.get(body["id"])
    assert user is not None
    return user


async def test_alias_streams_from_the_openai_backend_then_fails_over(
    make_hub: Callable[..., Any],
) -> None:
    async with (
        FakeOllama(models=[COMPAT_MODEL], tokens=["via ", "compat"]) as compat,
        FakeOllama(models=[LOCAL_MODEL], tokens=["via ", "local"]) as local,
        make_hub(local, routing=_routing(compat.url + "/v1", local.url)) as hub,
    ):
        user = await _user(hub)
        text, done = await _chat(hub, user, "hello")
        assert isinstance(done, Done), done
        assert (text, done.backend, done.model) == ("via compat", "compat", COMPAT_MODEL)
        sent = compat.chat_requests[-1]
        assert sent.path == "/v1/chat/completions" and sent.json["stream"] is True
        assert sent.json["messages"][-1] == {"role": "user", "content": "hello"}
        assert local.chat_requests == []

        token, _ = await hub.signup("Http")
        async with hub.client(token) as http:
            response = await http.post(
                "/ollama/api/chat",
                json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]},
            )
        lines = response.text.splitlines()
        assert response.status_code == 200 and '"done":true' in lines[-1]
        assert "".join(json.loads(line)["message"]["content"] for line in lines) == "via compat"
        assert compat.chat_requests[-1].json["messages"][-1]["content"] == "hi"

        await compat.stop()  # the OpenAI server goes away: a connect error before any token
        text, done = await _chat(hub, user, "again")
        assert isinstance(done, Done), done
        assert (text, done.backend, done.model) == ("via local", "local", LOCAL_MODEL)
        assert local.chat_requests[-1].path == "/api/chat"


async def test_alias_skips_an_openai_backend_on_a_closed_port(
    make_hub: Callable[..., Any],
) -> None:
    async with FakeOllama(models=[LOCAL_MODEL], tokens=["via ", "local"]) as local:
        routing = _routing(f"http://127.0.0.1:{_closed_port()}/v1", local.url)
        async with make_hub(local, routing=routing) as hub:
            user = await _user(hub)
            text, done = await _chat(hub, user, "hello")
            assert isinstance(done, Done), done
            assert (text, done.backend, done.model) == ("via local", "local", LOCAL_MODEL)
            status = {s.name: s for s in hub.app.state.services.router.status()}
            assert not status["compat"].up and status["local"].up


async def test_generate_on_an_openai_backend_answers_prompts_and_refuses_ollama_only_fields(
    make_hub: Callable[..., Any],
) -> None:
    async with FakeOllama(models=[COMPAT_MODEL], tokens=["via ", "compat"]) as compat:
        routing = RoutingConfig(
            backends=[BackendConfig(name="compat", kind="openai", url=compat.url + "/v1")],
            models={"smart": [Candidate(backend="compat", model=COMPAT_MODEL)]},
        )
        async with make_hub(compat, routing=routing) as hub:
            token, _ = await hub.signup("Coder")
            async with hub.client(token) as http:
                plain = await http.post(
                    "/ollama/api/generate",
                    json={"model": "smart", "prompt": "hi", "system": "terse", "stream": False},
                )
                fim = await http.post(
                    "/ollama/api/generate",
                    json={"model": "smart", "prompt": "def f(", "suffix": "return 1"},
                )
    assert plain.status_code == 200, plain.text
    assert plain.json()["response"] == "via compat"
    sent = compat.chat_requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["messages"] == [
        {"role": "system", "content": "terse"},
        {"role": "user", "content": "hi"},
    ]
    assert fim.status_code == 400
    assert fim.json()["error"] == (
        "'compat' is an OpenAI-compatible server and cannot take suffix; "
        "use a model served by Ollama for that."
    )
    assert len(compat.chat_requests) == 1  # the refused request never reached it
