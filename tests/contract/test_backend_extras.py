"""The backend port beyond chat: embeddings, tool calls and thinking (both kinds, the same
answers), and what only Ollama does (model changes, blobs, load and unload, its version), which
the OpenAI-compatible backend refuses with a sentence. Real sockets, the fake Ollama."""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator, Callable

import pytest

from hub.core.backends import OllamaBackend, OpenAIBackend, build_backend
from hub.core.chat_config import ChatConfig
from hub.core.models import ChatMessage
from hub.core.ports import (
    BackendError,
    ChatBackend,
    ChatRequest,
    Delta,
    EmbedRequest,
    Embeds,
    LoadsModels,
    ManagesModels,
    ModelChange,
    ReportsVersion,
)
from hub.core.routing_config import BackendConfig
from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_manage import normalise, vector

Make = Callable[[], ChatBackend]
CALL = {"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama(models=["gemma3:270m"], version="0.12.3") as server:
        server.script("thinker:latest", thinking=["a", "b"], tokens=["ok"], tool_calls=[CALL])
        yield server


@pytest.fixture(params=["ollama", "openai"])
async def make(request: pytest.FixtureRequest, fake: FakeOllama) -> AsyncIterator[Make]:
    kind: str = request.param
    built: list[ChatBackend] = []

    def build() -> ChatBackend:
        url = f"{fake.url}/v1" if kind == "openai" else fake.url
        cfg = BackendConfig(name="fake", kind=kind, url=url)  # type: ignore[arg-type]
        backend = build_backend(cfg, ChatConfig())
        built.append(backend)
        return backend

    yield build
    for backend in built:
        await backend.aclose()


def _close(a: list[float], b: list[float]) -> bool:
    return all(math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b, strict=True))


async def test_embeddings_are_the_same_through_either_api(make: Make) -> None:
    backend = make()
    assert isinstance(backend, Embeds)
    got = await backend.embed(EmbedRequest("gemma3:270m", ("one two", "three")))
    assert len(got.vectors) == 2
    assert _close(got.vectors[0], normalise(vector("one two", 8)))
    assert got.prompt_tokens == 3
    with pytest.raises(BackendError) as unknown:
        await backend.embed(EmbedRequest("no-such-model", ("x",)))
    assert unknown.value.kind == "not_found"


async def test_thinking_and_tool_calls_are_the_same_through_either_api(make: Make) -> None:
    backend = make()
    request = ChatRequest(
        "thinker:latest", (ChatMessage("user", "time?"),), tools=[{"type": "function"}]
    )
    deltas = [c async for c in backend.chat(request) if isinstance(c, Delta)]
    thinking = "".join(str(d.extra.get("thinking", "")) for d in deltas)
    calls = [c for d in deltas for c in d.extra.get("tool_calls", [])]
    assert thinking == "ab"
    assert [c["function"] for c in calls] == [CALL["function"]]
    assert "".join(d.text for d in deltas) == "ok"


async def test_ollama_model_changes(fake: FakeOllama) -> None:
    backend = OllamaBackend("fake", fake.url)
    assert isinstance(backend, ManagesModels) and isinstance(backend, LoadsModels)
    fake.registry["qwen3:0.6b"] = 800
    progress = [
        p async for p in backend.change_models(ModelChange("pull", {"model": "qwen3:0.6b"}))
    ]
    assert progress[0] == {"status": "pulling manifest"} and progress[-1] == {"status": "success"}
    assert any(p.get("completed") == 800 for p in progress)
    with pytest.raises(BackendError) as missing:
        async for _ in backend.change_models(ModelChange("pull", {"model": "nowhere"})):
            pass
    assert "file does not exist" in missing.value.reason

    copy = ModelChange("copy", {"source": "qwen3:0.6b", "destination": "q2"})
    assert [p async for p in backend.change_models(copy)] == []
    assert "q2:latest" in fake.models
    assert [p async for p in backend.change_models(ModelChange("delete", {"model": "q2"}))] == []
    with pytest.raises(BackendError) as gone:
        async for _ in backend.change_models(ModelChange("delete", {"model": "q2"})):
            pass
    assert gone.value.kind == "not_found"

    data = b"GGUF weights"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert not await backend.has_blob(digest)

    async def chunks() -> AsyncIterator[bytes]:
        yield data[:4]
        yield data[4:]

    await backend.push_blob(digest, chunks())
    assert await backend.has_blob(digest) and fake.blobs[digest] == len(data)
    await backend.aclose()


async def test_ollama_load_unload_and_version(fake: FakeOllama) -> None:
    backend = OllamaBackend("fake", fake.url)
    assert isinstance(backend, ReportsVersion)
    assert await backend.version() == "0.12.3"
    assert await backend.load("gemma3:270m", "5m") == "load"
    assert "gemma3:270m" in fake.loaded
    assert await backend.load("gemma3:270m", 0) == "unload"
    assert "gemma3:270m" not in fake.loaded
    with pytest.raises(BackendError) as unknown:
        await backend.load("nope", None)
    assert unknown.value.kind == "not_found"
    await backend.aclose()


async def test_openai_compatible_servers_cannot_change_models(fake: FakeOllama) -> None:
    backend = OpenAIBackend("compat", fake.url + "/v1")
    with pytest.raises(BackendError) as refused:
        async for _ in backend.change_models(ModelChange("pull", {"model": "x"})):
            pass
    assert refused.value.kind == "unsupported" and refused.value.status == 501
    assert "OpenAI-compatible" in refused.value.reason and "compat" in refused.value.reason
    assert not isinstance(backend, LoadsModels) and not isinstance(backend, ReportsVersion)
    await backend.aclose()
