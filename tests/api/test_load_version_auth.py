"""Load and unload reach every backend (issue 18, item 3); `/api/version` and the 401 for a
wrong credential on every route (item 4)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from hub.core.routing_config import BackendConfig, Candidate, RoutingConfig
from tests.api.conftest import API_KEY, Hub, hub_settings, running_hub
from tests.api.keys import make_admin
from tests.fakes.ollama import FakeOllama

ADMIN_KEY = "sk-admin-for-loading-0123456789"


def client(hub: Hub, key: str = ADMIN_KEY) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=hub.ollama_url, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Hub, FakeOllama, FakeOllama]]:
    async with (
        FakeOllama(models=["gemma3:270m", "llama3.2:1b"], version="0.12.3") as a,
        FakeOllama(models=["gemma3:270m"], version="0.11.10") as b,
    ):
        routing = RoutingConfig(
            backends=[
                BackendConfig(name="a", url=a.url),
                BackendConfig(name="b", url=b.url),
                BackendConfig(name="compat", kind="openai", url=a.url + "/v1"),
            ],
            models={"quick": [Candidate(backend="b", model="gemma3:270m")]},
        )
        settings = hub_settings(tmp_path, a, routing=routing, api_keys=f"{API_KEY},{ADMIN_KEY}")
        async with running_hub(settings, a) as hub:
            await make_admin(hub, ADMIN_KEY)
            yield hub, a, b


async def test_generate_with_keep_alive_zero_unloads_everywhere_and_ps_follows(
    pair: tuple[Hub, FakeOllama, FakeOllama],
) -> None:
    hub, a, b = pair
    c = client(hub)
    loaded = await c.generate("gemma3:270m", prompt="", keep_alive="10m")
    assert loaded.done and loaded.done_reason == "load"
    assert "gemma3:270m" in a.loaded and "gemma3:270m" in b.loaded
    assert "gemma3:270m" in {m.model for m in (await c.ps()).models}
    for fake in (a, b):
        sent = [r.json for r in fake.requests if r.path == "/api/generate"][-1]
        assert sent["prompt"] == "" and sent["keep_alive"] == "10m"

    unloaded = await c.generate("gemma3:270m", prompt="", keep_alive=0)
    assert unloaded.done and unloaded.done_reason == "unload"
    assert "gemma3:270m" not in a.loaded and "gemma3:270m" not in b.loaded
    assert "gemma3:270m" not in {m.model for m in (await c.ps()).models}


async def test_open_webui_unload_and_chat_load(pair: tuple[Hub, FakeOllama, FakeOllama]) -> None:
    """Open WebUI `unload_model`: `/api/generate {"model", "keep_alive": 0, "prompt": ""}`;
    an alias unloads its candidates; an empty `/api/chat` loads."""
    hub, a, b = pair
    b.mark_loaded("gemma3:270m")
    async with hub.client(ADMIN_KEY) as http:
        answer = await http.post(
            "/ollama/api/generate", json={"model": "quick", "keep_alive": 0, "prompt": ""}
        )
        assert answer.status_code == 200 and answer.json()["done_reason"] == "unload"
        assert "gemma3:270m" not in b.loaded
        chat = await http.post("/ollama/api/chat", json={"model": "llama3.2:1b", "messages": []})
    assert chat.json()["done_reason"] == "load" and "llama3.2:1b" in a.loaded


async def test_unloading_takes_an_administrator(pair: tuple[Hub, FakeOllama, FakeOllama]) -> None:
    hub, a, _ = pair
    a.mark_loaded("gemma3:270m")
    with pytest.raises(ollama.ResponseError) as refused:
        await client(hub, API_KEY).generate("gemma3:270m", prompt="", keep_alive=0)
    assert refused.value.status_code == 403 and "administrator" in refused.value.error
    assert "gemma3:270m" in a.loaded
    loaded = await client(hub, API_KEY).generate("llama3.2:1b", prompt="")  # loading is fine
    assert loaded.done_reason == "load"


async def test_version_is_the_lowest_among_the_ollama_backends(
    pair: tuple[Hub, FakeOllama, FakeOllama],
) -> None:
    hub, _, _ = pair
    async with httpx.AsyncClient(base_url=hub.ollama_url) as anonymous:
        version = await anonymous.get("/api/version")
    assert version.status_code == 200 and version.json() == {"version": "0.11.10"}


async def test_version_can_be_configured(make_hub: Callable[..., Any], fake: FakeOllama) -> None:
    async with make_hub(fake, ollama_version="0.12.6") as hub:
        answer = await httpx.AsyncClient(base_url=hub.ollama_url).get("/api/version")
    assert answer.json() == {"version": "0.12.6"}


async def test_a_wrong_key_is_refused_everywhere(hub: Hub) -> None:
    """Open WebUI's Verify Connection asks only `/api/version` with the key: a wrong one must
    fail it. Anonymous probes stay allowed."""
    async with hub.client("sk-wrong-key") as wrong, hub.client() as anonymous:
        for path in ("/ollama/api/version", "/ollama/", "/api/config", "/api/version"):
            refused = await wrong.get(path)
            assert refused.status_code == 401, path
            assert (await anonymous.get(path)).status_code == 200, path
        refused = await wrong.get("/ollama/api/version")
        assert refused.json() == {"error": "The API key or token is not valid for this hub."}
        openai_shape = await wrong.get("/ollama/v1/models")
        assert openai_shape.status_code == 401 and openai_shape.json()["error"]["message"]
        webui_shape = await wrong.get("/api/config")
        assert "detail" in webui_shape.json()
        basic = await anonymous.get("/ollama/api/version", headers={"Authorization": "Basic eDp5"})
        assert basic.status_code == 401
    async with hub.client(API_KEY) as right:
        assert (await right.get("/ollama/api/version")).status_code == 200


async def test_open_webui_verify_connection_with_a_wrong_key(hub: Hub) -> None:
    """`verify_connection` raises on any status but 200 and shows `error` from the body."""
    async with httpx.AsyncClient() as http:
        answer = await http.get(
            f"{hub.ollama_url}/api/version", headers={"Authorization": "Bearer not-the-key"}
        )
    assert answer.status_code != 200 and "error" in answer.json()
