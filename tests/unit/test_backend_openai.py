"""OpenAI-compatible backend specifics against the fake's /v1 routes, plus the SSE and
tool-call helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from hub.core.backends import OpenAIBackend, build_backend, context_length
from hub.core.backends.openai_wire import ToolCallAssembler, image_url, sse_data
from hub.core.chat_config import ChatConfig
from hub.core.models import ChatMessage
from hub.core.ports import BackendError, ChatRequest, Delta, Final
from hub.core.routing_config import BackendConfig
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai_flavours import FlavourName
from tests.fakes.openai_server import FakeOpenAIServer

MODEL = "gemma3:270m"
TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
PNG = "iVBORw0KGgoAAAANSUhEUg=="


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama(api_key="sk-test") as server:
        yield server


@pytest.fixture
async def backend(fake: FakeOllama) -> AsyncIterator[OpenAIBackend]:
    b = OpenAIBackend("vllm", f"{fake.url}/v1", api_key="sk-test")
    yield b
    await b.aclose()


async def test_request_translated_to_openai_shape(backend: OpenAIBackend, fake: FakeOllama) -> None:
    call = {"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}
    messages = (
        ChatMessage("system", "sys"),
        ChatMessage("user", "see", images=(PNG,)),
        ChatMessage("assistant", "", extra={"tool_calls": [call], "thinking": "dropped"}),
        ChatMessage("tool", "12:00", extra={"tool_call_id": "call_0"}),
    )
    options = {"temperature": 0.3, "num_predict": 64, "top_k": 5, "seed": 1, "stop": ["##"]}
    request = ChatRequest(
        MODEL, messages, options=options, format="json", think="high", tools=[TOOL]
    )
    [c async for c in backend.chat(request)]
    sent = fake.chat_requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer sk-test"
    body = sent.json
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'},
                }
            ],
        },
        {"role": "tool", "content": "12:00", "tool_call_id": "call_0"},
    ]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["max_tokens"], body["seed"], body["stop"]) == (
        0.3,
        64,
        1,
        ["##"],
    )
    assert "top_k" not in body and "options" not in body and "keep_alive" not in body
    assert body["response_format"] == {"type": "json_object"}
    assert body["reasoning_effort"] == "high" and body["tools"] == [TOOL]


async def test_schema_format_and_unlimited_num_predict(
    backend: OpenAIBackend, fake: FakeOllama
) -> None:
    schema = {"type": "object"}
    request = ChatRequest(
        MODEL, (ChatMessage("user", "x"),), options={"num_predict": -1}, format=schema
    )
    [c async for c in backend.chat(request)]
    body = fake.chat_requests[-1].json
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }
    assert "max_tokens" not in body


async def test_reasoning_and_tool_calls_come_back_ollama_shaped(
    backend: OpenAIBackend, fake: FakeOllama
) -> None:
    call = {"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}
    fake.script(MODEL, thinking=["hm"], tokens=["ok"], tool_calls=[call])
    chunks = [c async for c in backend.chat(ChatRequest(MODEL, (ChatMessage("user", "t?"),)))]
    assert chunks[:3] == [
        Delta("", {"thinking": "hm"}),
        Delta("ok"),
        Delta("", {"tool_calls": [{"id": "call_0", **call}]}),
    ]
    final = chunks[3]
    assert isinstance(final, Final) and final.metrics.done_reason == "stop"
    assert final.metrics.completion_tokens == 2  # from the usage chunk


async def test_url_without_v1_is_explained(fake: FakeOllama) -> None:
    wrong = OpenAIBackend("vllm", fake.url, api_key="sk-test")
    with pytest.raises(BackendError) as err:
        [c async for c in wrong.chat(ChatRequest(MODEL, (ChatMessage("user", "x"),)))]
    assert err.value.kind == "http" and "usually ending in /v1" in err.value.reason
    with pytest.raises(BackendError) as probe:
        await wrong.probe()
    assert probe.value.kind == "protocol" and "usually ending in /v1" in probe.value.reason
    await wrong.aclose()


async def test_models_show_and_context_window(backend: OpenAIBackend, fake: FakeOllama) -> None:
    fake.script("served-model", extra_v1_model={"max_model_len": 32768})
    models = {m.name: m for m in await backend.list_models()}
    assert set(models) == {"gemma3:270m", "llama3.2:1b", "served-model"}
    assert models["served-model"].raw["max_model_len"] == 32768
    assert models[MODEL].modified_at is not None
    assert context_length(await backend.show("served-model")) == 32768
    shown = await backend.show(MODEL)
    assert shown is not None and context_length(shown) is None
    assert await backend.show("absent") is None


@pytest.mark.parametrize(
    ("flavour", "window"),
    [("llama-server", 512), ("vllm", 512), ("lmstudio", 512), ("llama-cpp-python", None)],
)
async def test_context_windows_as_each_server_states_them(
    flavour: FlavourName, window: int | None
) -> None:
    async with FakeOpenAIServer(flavour, window=512) as server:
        backend = OpenAIBackend("srv", server.v1_url)
        models = await backend.list_models()
        for _ in range(2):  # the second time, only the source that answered is asked
            windows = await backend.context_windows(models)
            assert windows.get("gemma-3-270m") == window
        asked = [r.path for r in server.requests if r.path != "/v1/models"]
        expected = {
            "llama-server": ["/props", "/props"],
            "vllm": [],  # stated in the model list itself
            "lmstudio": ["/props", "/api/v1/models", "/api/v1/models"],
            "llama-cpp-python": ["/props", "/api/v1/models", "/api/v0/models"],  # then no more
        }
        assert asked == expected[flavour]
        await backend.aclose()


async def test_an_empty_stream_is_dropped_and_a_bare_done_is_incomplete() -> None:
    async with FakeOpenAIServer("llama-cpp-python", window=64, token_count=50) as server:
        backend = OpenAIBackend("srv", server.v1_url)
        long = ChatRequest("gemma-3-270m", (ChatMessage("user", "x" * 400),))
        with pytest.raises(BackendError) as dropped:
            [c async for c in backend.chat(long)]
        assert dropped.value.kind == "dropped"
        server.tokens_per_second = 500
        chunks: list[object] = []

        async def read() -> None:
            async for c in backend.chat(ChatRequest("gemma-3-270m", (ChatMessage("user", "hi"),))):
                chunks.append(c)

        reading = asyncio.ensure_future(read())
        await server.wait_for(lambda: any(r.chunks_sent >= 2 for r in server.chat_requests))
        await backend.list_models()  # another request: llama-cpp-python ends the reply
        with pytest.raises(BackendError) as cut:
            await reading
        assert cut.value.kind == "incomplete" and "no finish reason" in cut.value.reason
        assert chunks and not any(isinstance(c, Final) for c in chunks)
        await backend.aclose()


async def test_factory_builds_openai_kind(fake: FakeOllama) -> None:
    cfg = BackendConfig(name="oa", kind="openai", url=f"{fake.url}/v1", api_key="sk-test")  # type: ignore[arg-type]
    backend = build_backend(cfg, ChatConfig(chunk_timeout=9))
    assert isinstance(backend, OpenAIBackend) and backend.chunk_timeout == 9
    await backend.probe()
    await backend.aclose()


async def _lines(raw: bytes) -> AsyncIterator[bytes]:
    for line in raw.split(b"\n"):
        yield line


async def test_sse_events_are_assembled() -> None:
    raw = b': keep-alive\n\nevent: message\ndata: {"a":\ndata: 1}\n\ndata:[DONE]'
    assert [d async for d in sse_data(_lines(raw))] == ['{"a":\n1}', "[DONE]"]


def test_tool_call_fragments_are_joined() -> None:
    tools = ToolCallAssembler()
    tools.add([{"index": 0, "id": "c1", "function": {"name": "get_", "arguments": '{"tz"'}}])
    tools.add([{"index": 0, "function": {"name": "time", "arguments": ': "UTC"}'}}])
    tools.add([{"index": 1, "function": {"name": "noop", "arguments": "not json"}}])
    assert tools.take() == [
        {"id": "c1", "function": {"name": "get_time", "arguments": {"tz": "UTC"}}},
        {"function": {"name": "noop", "arguments": "not json"}},
    ]
    assert tools.take() == []


def test_image_urls() -> None:
    assert image_url("/9j/4AAQ").startswith("data:image/jpeg;base64,")
    assert image_url("https://x/y.png") == "https://x/y.png"
    assert json.loads(json.dumps(image_url(PNG))) == f"data:image/png;base64,{PNG}"
