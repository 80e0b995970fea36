"""Embeddings through the hub (issue 18, item 2): the official `ollama` client's `embed` and
`embeddings`, the official `openai` client's `embeddings.create` (base64, its default, and
floats), Open WebUI's document-indexing batch, an OpenAI-compatible backend, limits and usage."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from hub.core.routing_config import BackendConfig, Candidate, RoutingConfig
from tests.api.conftest import API_KEY, Hub, hub_settings, running_hub
from tests.api.keys import key_user
from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_manage import normalise, vector
from tests.fakes.openai_server import FakeOpenAIServer

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def _close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b, strict=True)
    )


async def test_ollama_client_embed_and_legacy_embeddings(hub: Hub) -> None:
    c = ollama.AsyncClient(host=hub.ollama_url, headers=HEADERS)
    one = await c.embed("gemma3:270m", "hello world")
    assert len(one.embeddings) == 1
    assert _close(list(one.embeddings[0]), normalise(vector("hello world", 8)))
    assert one.prompt_eval_count == 2 and one.total_duration

    batch = await c.embed("alpha", ["first chunk", "second chunk", "third"], truncate=True)
    assert [len(v) for v in batch.embeddings] == [8, 8, 8]
    sent = [r for r in hub.fake.requests if r.path == "/api/embed"][-1].json
    assert sent == {
        "model": "alpha:latest",
        "input": ["first chunk", "second chunk", "third"],
        "truncate": True,
    }

    cut = await c.embed("gemma3:270m", "hello world", dimensions=4)
    assert _close(list(cut.embeddings[0]), normalise(normalise(vector("hello world", 8))[:4]))

    legacy = await c.embeddings("gemma3:270m", "hello world")
    assert _close(list(legacy.embedding), vector("hello world", 8))  # not normalised
    assert [r.path for r in hub.fake.requests][-1] == "/api/embeddings"


async def test_open_webui_batch_embedding_request(hub: Hub) -> None:
    """`agenerate_ollama_batch_embeddings`: `{"input": [...], "model": …, "truncate": true}`
    (plus the optional prefix field), read back as `embeddings`."""
    texts = [f"chunk {i} of the uploaded document" for i in range(5)]
    body = {"input": texts, "model": "gemma3:270m", "truncate": True, "prefix": "passage: "}
    async with hub.client(API_KEY) as http:
        answer = await http.post("/ollama/api/embed", json=body)
    assert answer.status_code == 200, answer.text
    assert [
        _close(v, normalise(vector(t, 8)))
        for v, t in zip(answer.json()["embeddings"], texts, strict=True)
    ] == [True] * 5


async def test_openai_client_embeddings_base64_and_float(hub: Hub) -> None:
    c = openai.AsyncOpenAI(base_url=hub.ollama_url + "/v1", api_key=API_KEY)
    default = await c.embeddings.create(model="gemma3:270m", input=["hello world", "bye"])
    assert [d.index for d in default.data] == [0, 1]
    assert _close(default.data[0].embedding, normalise(vector("hello world", 8)))  # base64 decoded
    floats = await c.embeddings.create(
        model="gemma3:270m", input="hello world", encoding_format="float"
    )
    assert _close(floats.data[0].embedding, normalise(vector("hello world", 8)))
    assert floats.usage.prompt_tokens == 2 and floats.model == "gemma3:270m"

    with pytest.raises(openai.NotFoundError):
        await c.embeddings.create(model="no-such-model", input="x")
    with pytest.raises(openai.BadRequestError):
        await c.embeddings.create(model="gemma3:270m", input="x", encoding_format="binary")  # type: ignore[arg-type]


async def test_unknown_model_and_bad_input_are_4xx(hub: Hub) -> None:
    async with hub.client(API_KEY) as http:
        unknown = await http.post("/ollama/api/embed", json={"model": "nope", "input": "x"})
        assert unknown.status_code == 404 and unknown.json() == {"error": "model 'nope' not found"}
        bad = await http.post("/ollama/api/embed", json={"model": "alpha", "input": [1, 2]})
        assert bad.status_code == 400 and "error" in bad.json()
        anonymous = await httpx.AsyncClient(base_url=hub.url).post(
            "/ollama/api/embed", json={"model": "alpha", "input": "x"}
        )
        assert anonymous.status_code == 401


async def test_embeddings_from_an_openai_compatible_backend(tmp_path: Path) -> None:
    async with (
        FakeOllama(models=["gemma3:270m"]) as local,
        FakeOpenAIServer("vllm", models=["bge-m3"], embedding_length=6) as vllm,
    ):
        routing = RoutingConfig(
            backends=[
                BackendConfig(name="local", url=local.url),
                BackendConfig(name="vllm", kind="openai", url=vllm.v1_url),
            ],
            models={"embedder": [Candidate(backend="vllm", model="bge-m3")]},
        )
        async with running_hub(hub_settings(tmp_path, local, routing=routing), local) as hub:
            c = ollama.AsyncClient(host=hub.ollama_url, headers=HEADERS)
            native = await c.embed("embedder", ["a b c", "d"])
            o = openai.AsyncOpenAI(base_url=hub.ollama_url + "/v1", api_key=API_KEY)
            via_openai = await o.embeddings.create(model="bge-m3", input="a b c")
    assert native.prompt_eval_count == 4
    assert _close(list(native.embeddings[0]), normalise(vector("a b c", 6)))
    assert _close(via_openai.data[0].embedding, normalise(vector("a b c", 6)))
    sent = [r.json for r in vllm.requests if r.path == "/v1/embeddings"]
    assert sent[0] == {"model": "bge-m3", "input": ["a b c", "d"], "encoding_format": "float"}


async def test_embeddings_count_in_usage_and_the_token_budget(
    make_hub: Any, fake: FakeOllama
) -> None:
    limits = {"tokens_per_day": 10, "per_user": "1/minute"}
    async with make_hub(fake, limits=limits) as hub:
        c = ollama.AsyncClient(host=hub.ollama_url, headers=HEADERS)
        # message rates do not count embedding batches: two in a row pass `per_user: 1/minute`
        await c.embed("gemma3:270m", ["one two three four five six"])
        await c.embed("gemma3:270m", ["seven eight nine ten"])
        with pytest.raises(ollama.ResponseError) as refused:
            await c.embed("gemma3:270m", "over budget")
        assert refused.value.status_code == 429 and "token budget" in refused.value.error
        user = await key_user(hub, API_KEY)
        today = datetime.now(UTC).date().isoformat()
        usage = await hub.app.state.services.stores.usage.for_user(user.id, today)
    by_model = {u.model: u for u in usage}
    assert by_model["gemma3:270m"].prompt_tokens == 10
    assert by_model["gemma3:270m"].completion_tokens == 0
