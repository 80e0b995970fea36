"""Model management through the hub (issue 18, item 1): the official `ollama` client's pull,
push, create (from a model and from uploaded files), copy and delete, and the requests Open
WebUI 0.12 sends (`routers/ollama.py` pull_model, delete_model), against fake Ollama servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from hub.core.routing_config import BackendConfig, RoutingConfig
from tests.api.conftest import Hub, hub_settings, running_hub
from tests.api.keys import make_admin
from tests.fakes.ollama import FakeOllama

ADMIN_KEY = "sk-admin-0123456789abcdef"
USER_KEY = "sk-user-0123456789abcdef"


def client(hub: Hub, key: str = ADMIN_KEY, **kwargs: Any) -> ollama.AsyncClient:
    return ollama.AsyncClient(
        host=hub.ollama_url, headers={"Authorization": f"Bearer {key}"}, **kwargs
    )


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Hub, FakeOllama, FakeOllama]]:
    """A hub over two Ollama servers ("big" takes new models) and an OpenAI-compatible one."""
    async with (
        FakeOllama(models=["gemma3:270m"]) as small,
        FakeOllama(models=["llama3.2:1b"]) as big,
    ):
        routing = RoutingConfig(
            backends=[
                BackendConfig(name="small", url=small.url),
                BackendConfig(name="big", url=big.url),
                BackendConfig(name="compat", kind="openai", url=small.url + "/v1"),
            ],
            pull_backend="big",
        )
        settings = hub_settings(
            tmp_path, small, routing=routing, api_keys=f"{ADMIN_KEY},{USER_KEY}"
        )
        async with running_hub(settings, small) as hub:
            await make_admin(hub, ADMIN_KEY)
            yield hub, small, big


async def test_pull_streams_progress_to_the_default_backend_and_lists_the_model(
    two: tuple[Hub, FakeOllama, FakeOllama],
) -> None:
    hub, small, big = two
    big.registry["qwen3:0.6b"] = 4_000_000
    c = client(hub)
    assert "qwen3:0.6b" not in {m.model for m in (await c.list()).models}

    parts = [p async for p in await c.pull("qwen3:0.6b", stream=True)]

    statuses = [p.status for p in parts]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    moving = [p for p in parts if p.total]
    assert moving and moving[-1].completed == moving[-1].total == 4_000_000
    assert moving[0].digest and moving[0].digest.startswith("sha256:")
    assert "qwen3:0.6b" in big.models and "qwen3:0.6b" not in small.models
    assert "qwen3:0.6b" in {m.model for m in (await c.list()).models}  # listed at once
    reply = await c.chat("qwen3:0.6b", messages=[{"role": "user", "content": "hi"}])
    assert reply.message.content == "t0 t1 t2 t3 t4"


async def test_pull_without_streaming_answers_the_last_status(
    two: tuple[Hub, FakeOllama, FakeOllama],
) -> None:
    hub, _, big = two
    big.registry["tiny:latest"] = 10
    done = await client(hub).pull("tiny", stream=False)
    assert done.status == "success"
    with pytest.raises(ollama.ResponseError) as refused:
        await client(hub).pull("nowhere:1b", stream=False)
    assert "file does not exist" in refused.value.error
    assert refused.value.status_code == 502


async def test_a_failing_pull_ends_with_an_error_line(
    two: tuple[Hub, FakeOllama, FakeOllama],
) -> None:
    hub, _, _ = two
    with pytest.raises(ollama.ResponseError) as failed:
        async for _ in await client(hub).pull("nowhere:1b", stream=True):
            pass
    assert "pull model manifest: file does not exist" in failed.value.error


async def test_open_webui_pull_and_delete_as_it_sends_them(
    two: tuple[Hub, FakeOllama, FakeOllama],
) -> None:
    """Open WebUI 0.12 `pull_model`: `{"model": …, "insecure": true}`, the reply relayed as a
    stream; `delete_model`: DELETE with `{"model": …}`, success on 2xx."""
    hub, _, big = two
    big.registry["nomic-embed-text:latest"] = 2_000
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=hub.ollama_url, headers=headers, timeout=10) as http:
        async with http.stream(
            "POST", "/api/pull", json={"model": "nomic-embed-text:latest", "insecure": True}
        ) as pulled:
            assert pulled.status_code == 200
            assert pulled.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) async for line in pulled.aiter_lines() if line]
        assert lines[-1] == {"status": "success"}
        pull = [r for r in big.requests if r.path == "/api/pull"][-1]
        assert pull.json["insecure"] is True

        deleted = await http.request(
            "DELETE", "/api/delete", json={"model": "nomic-embed-text:latest"}
        )
        assert (deleted.status_code, deleted.content) == (200, b"")
        tags = (await http.get("/api/tags")).json()["models"]
    assert "nomic-embed-text:latest" not in {m["model"] for m in tags}
    assert "nomic-embed-text:latest" not in big.models


async def test_delete_reaches_every_backend_holding_the_model(tmp_path: Path) -> None:
    async with FakeOllama(models=["gemma3:270m"]) as a, FakeOllama(models=["gemma3:270m"]) as b:
        routing = RoutingConfig(
            backends=[BackendConfig(name="a", url=a.url), BackendConfig(name="b", url=b.url)]
        )
        settings = hub_settings(tmp_path, a, routing=routing, api_keys=ADMIN_KEY)
        async with running_hub(settings, a) as hub:
            await make_admin(hub, ADMIN_KEY)
            status = await client(hub).delete("gemma3:270m")
            assert status.status == "success"
            assert "gemma3:270m" not in a.models and "gemma3:270m" not in b.models
            with pytest.raises(ollama.ResponseError) as gone:
                await client(hub).delete("gemma3:270m")
            assert gone.value.status_code == 404


async def test_copy_create_and_push(two: tuple[Hub, FakeOllama, FakeOllama]) -> None:
    hub, small, big = two
    c = client(hub)
    assert (await c.copy("gemma3:270m", "gemma-copy")).status == "success"
    assert "gemma-copy:latest" in small.models  # on the source's backend

    created = [
        p.status
        async for p in await c.create("coder", from_="llama3.2:1b", system="Be terse.", stream=True)
    ]
    assert created[-1] == "success"
    assert "coder:latest" in big.models  # where its base lives
    assert big.created[-1]["system"] == "Be terse." and big.created[-1]["from"] == "llama3.2:1b"

    pushed = await c.push("coder", stream=False)
    assert pushed.status == "success" and big.pushed == ["coder:latest"]
    listed = {m.model for m in (await c.list()).models}
    assert {"gemma-copy:latest", "coder:latest"} <= listed

    with pytest.raises(ollama.ResponseError) as missing:
        await c.copy("nothing-here", "x")
    assert missing.value.status_code == 404


async def test_create_from_uploaded_files(
    two: tuple[Hub, FakeOllama, FakeOllama], tmp_path: Path
) -> None:
    """`ollama.Client.create_blob` uploads the file (`POST /api/blobs/<digest>`), then `create`
    names it in `files`: both reach the backend that takes new models."""
    hub, _, big = two
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    c = client(hub)
    digest = await c.create_blob(weights)
    assert big.blobs[digest] == weights.stat().st_size
    async with hub.client(ADMIN_KEY) as http:
        assert (await http.head(f"/ollama/api/blobs/{digest}")).status_code == 200
        assert (await http.head("/ollama/api/blobs/sha256:" + "0" * 64)).status_code == 404
        wrong = await http.post("/ollama/api/blobs/sha256:" + "1" * 64, content=b"not it")
        malformed = await http.post("/ollama/api/blobs/sha256:xyz%3Fa", content=b"x")
    assert wrong.status_code == 400 and "digest mismatch" in wrong.json()["error"]
    assert malformed.status_code == 400 and "invalid digest" in malformed.json()["error"]
    done = await c.create("local", files={"model.gguf": digest}, stream=False)
    assert done.status == "success" and "local:latest" in big.models


async def test_backend_parameter_and_openai_backends(
    two: tuple[Hub, FakeOllama, FakeOllama],
) -> None:
    hub, small, _ = two
    small.registry["phi4:latest"] = 100
    async with hub.client(ADMIN_KEY) as http:
        pulled = await http.post(
            "/ollama/api/pull", params={"backend": "small"}, json={"model": "phi4", "stream": False}
        )
        assert pulled.status_code == 200 and pulled.json() == {"status": "success"}
        assert "phi4:latest" in small.models

        compat = await http.post(
            "/ollama/api/pull", params={"backend": "compat"}, json={"model": "phi4"}
        )
        assert compat.status_code == 501
        message = compat.json()["error"]
        assert "OpenAI-compatible" in message and "?backend=" in message and "small" in message

        unknown = await http.post(
            "/ollama/api/pull", params={"backend": "nope"}, json={"model": "phi4"}
        )
        assert unknown.status_code == 404 and "small, big, compat" in unknown.json()["error"]
        nameless = await http.post("/ollama/api/pull", json={})
        assert nameless.status_code == 400 and nameless.json() == {"error": "model is required"}


async def test_only_administrators_manage_models(two: tuple[Hub, FakeOllama, FakeOllama]) -> None:
    hub, _, big = two
    big.registry["qwen3:0.6b"] = 100
    c = client(hub, USER_KEY)
    for attempt in (
        c.pull("qwen3:0.6b"),
        c.delete("gemma3:270m"),
        c.copy("gemma3:270m", "x"),
        c.create("x", from_="gemma3:270m"),
        c.push("gemma3:270m"),
    ):
        with pytest.raises(ollama.ResponseError) as refused:
            await attempt
        assert refused.value.status_code == 403
        assert "administrator" in refused.value.error
    assert "qwen3:0.6b" not in big.models and "x:latest" not in big.models


async def test_a_client_that_hangs_up_stops_the_pull(
    two: tuple[Hub, FakeOllama, FakeOllama],
) -> None:
    """Open WebUI's "cancel download" closes its request: the pull upstream stops too."""
    hub, _, big = two
    big.registry["huge:latest"] = 10**9
    big.pull_delay = 0.2
    async with (
        hub.client(ADMIN_KEY) as http,
        http.stream("POST", "/ollama/api/pull", json={"model": "huge"}) as pulled,
    ):
        async for line in pulled.aiter_lines():
            if "completed" in line:
                break  # leave after the first bytes "arrived"
    pull = next(r for r in big.requests if r.path == "/api/pull")
    await big.wait_for(lambda: pull.outcome == "client_closed")
    await asyncio.sleep(0.1)
    assert "huge:latest" not in big.models


async def test_management_routes_answer_in_ollama_error_shape(hub: Hub) -> None:
    """Known routes never give a bare 404: without a key 401, wrong method 405, as JSON."""
    async with hub.client() as http:
        anonymous = await http.post("/ollama/api/pull", json={"model": "x"})
        assert anonymous.status_code == 401 and "error" in anonymous.json()
        wrong_method = await http.get("/ollama/api/pull")
        assert wrong_method.status_code == 405 and "error" in wrong_method.json()
