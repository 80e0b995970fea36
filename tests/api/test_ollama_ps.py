"""`GET /ollama/api/ps`: the models loaded on the backends, through the official `ollama` client."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import ollama

from hub.core.routing_config import BackendConfig, Candidate, RoutingConfig
from tests.api.conftest import API_KEY, Hub
from tests.fakes.ollama import FakeOllama

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def _client(url: str) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=url, headers=HEADERS)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_ps_forwards_what_the_backend_has_loaded(hub: Hub) -> None:
    await _client(hub.ollama_url).chat("gemma3:270m", messages=[{"role": "user", "content": "hi"}])
    hub.fake.mark_loaded("thinker:latest")  # loaded by someone else: only the fake knows
    direct = await _client(hub.fake.url).ps()
    through_hub = await _client(hub.ollama_url).ps()

    assert through_hub.model_dump() == direct.model_dump()
    loaded = {m.model: m for m in through_hub.models}
    assert {"gemma3:270m", "thinker:latest"} <= set(loaded)
    thinker = loaded["thinker:latest"]
    assert isinstance(thinker.expires_at, datetime) and thinker.expires_at.tzinfo is not None
    assert thinker.size_vram == thinker.size and thinker.size
    assert thinker.context_length == hub.fake.scripts["thinker:latest"].context_length
    assert thinker.details is not None and thinker.details.family

    async with hub.client(API_KEY) as http:
        raw = (await http.get("/ollama/api/ps")).json()["models"]
    item = next(m for m in raw if m["model"] == "thinker:latest")
    assert item["expires_at"].endswith("Z") and "T" in item["expires_at"]

    hub.fake.loaded.pop("thinker:latest")  # unloaded upstream: gone from the hub's list too
    assert "thinker:latest" not in {m.model for m in (await _client(hub.ollama_url).ps()).models}


async def test_ps_is_the_union_over_backends_named_as_the_hub_lists_them(
    make_hub: Callable[..., Any],
) -> None:
    async with (
        FakeOllama(models=["gemma3:270m"], context_length=4096) as first,
        FakeOllama(models=["gemma3:270m", "llama3.2:1b"], context_length=8192) as second,
    ):
        routing = RoutingConfig(
            backends=[
                BackendConfig(name="dead", url=f"http://127.0.0.1:{_closed_port()}"),
                BackendConfig(name="first", url=first.url),
                BackendConfig(name="second", url=second.url),
                BackendConfig(name="compat", kind="openai", url=second.url + "/v1"),
            ],
            models={"fast": [Candidate(backend="second", model="llama3.2:1b")]},
        )
        for fake in (first, second):
            for model in fake.models:
                fake.mark_loaded(model)
        async with make_hub(first, routing=routing) as hub:
            listed = await _client(hub.ollama_url).ps()

    by_name = {m.model: m for m in listed.models}
    assert [m.model for m in listed.models] == ["fast", "gemma3:270m", "llama3.2:1b"]
    assert all(m.name == m.model for m in listed.models)
    # the first backend in config order answers for a model loaded on two of them
    assert by_name["gemma3:270m"].context_length == 4096
    assert by_name["fast"].context_length == 8192
    assert by_name["fast"].digest == by_name["llama3.2:1b"].digest
