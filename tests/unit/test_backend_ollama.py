"""Ollama backend specifics against the fake Ollama: what is forwarded, what comes back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from hub.core.backends import OllamaBackend, build_backend, context_length
from hub.core.backends.base import LineSplitter, env_proxy, error_text
from hub.core.chat_config import ChatConfig
from hub.core.models import ChatMessage
from hub.core.ports import BackendError, ChatRequest, Delta, Final
from hub.core.routing_config import BackendConfig
from hub.core.urls import service_address, without_credentials
from tests.fakes.ollama import FakeOllama

MODEL = "gemma3:270m"
TOOL = {
    "type": "function",
    "function": {"name": "get_time", "description": "now", "parameters": {"type": "object"}},
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama() as server:
        yield server


@pytest.fixture
async def backend(fake: FakeOllama) -> AsyncIterator[OllamaBackend]:
    b = OllamaBackend("local", fake.url, keep_alive="30m")
    yield b
    await b.aclose()


async def test_every_field_is_forwarded(backend: OllamaBackend, fake: FakeOllama) -> None:
    call = {"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}
    messages = (
        ChatMessage("system", "sys"),
        ChatMessage("user", "look", images=("iVBORw0KGgo=",)),
        ChatMessage("assistant", "", extra={"tool_calls": [call], "thinking": "hmm"}),
        ChatMessage("tool", "12:00", extra={"tool_name": "get_time"}),
    )
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    request = ChatRequest(
        MODEL,
        messages,
        options={"temperature": 0.2, "num_ctx": 8192, "stop": ["\n\n"]},
        keep_alive="10m",
        format=schema,
        think=False,
        tools=[TOOL],
    )
    [c async for c in backend.chat(request)]
    sent = fake.chat_requests[-1].json
    assert sent["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "look", "images": ["iVBORw0KGgo="]},
        {"role": "assistant", "content": "", "tool_calls": [call], "thinking": "hmm"},
        {"role": "tool", "content": "12:00", "tool_name": "get_time"},
    ]
    assert sent["options"] == {"temperature": 0.2, "num_ctx": 8192, "stop": ["\n\n"]}
    assert (sent["keep_alive"], sent["format"], sent["think"]) == ("10m", schema, False)
    assert sent["tools"] == [TOOL] and sent["stream"] is True


async def test_defaults_keep_alive_and_omits_unset(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    [c async for c in backend.chat(ChatRequest(MODEL, (ChatMessage("user", "hi"),)))]
    sent = fake.chat_requests[-1].json
    assert sent["keep_alive"] == "30m"
    assert not {"options", "format", "think", "tools"} & set(sent)


async def test_factory_uses_chat_config(fake: FakeOllama) -> None:
    cfg = BackendConfig(name="box", url=fake.url)
    backend = build_backend(cfg, ChatConfig(keep_alive="1h", first_token_timeout=7))
    assert isinstance(backend, OllamaBackend)
    assert (backend.name, backend.keep_alive, backend.first_token_timeout) == ("box", "1h", 7)
    [c async for c in backend.chat(ChatRequest(MODEL, (ChatMessage("user", "hi"),)))]
    assert fake.chat_requests[-1].json["keep_alive"] == "1h"
    await backend.aclose()


async def test_thinking_and_tool_calls_become_extras(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    call = {"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}
    fake.script(MODEL, thinking=["Let", " me"], tokens=["ok"], tool_calls=[call])
    request = ChatRequest(MODEL, (ChatMessage("user", "time?"),), think=True, tools=[TOOL])
    chunks = [c async for c in backend.chat(request)]
    assert chunks[:4] == [
        Delta("", {"thinking": "Let"}),
        Delta("", {"thinking": " me"}),
        Delta("ok"),
        Delta("", {"tool_calls": [call]}),
    ]
    assert isinstance(chunks[4], Final) and len(chunks) == 5


async def test_bad_request_is_reported(backend: OllamaBackend) -> None:
    request = ChatRequest(MODEL, (ChatMessage("user", "x"),), think=True)  # not a thinking model
    with pytest.raises(BackendError) as err:
        [c async for c in backend.chat(request)]
    assert (err.value.kind, err.value.status) == ("http", 400)
    assert (
        err.value.reason
        == 'local rejected the request (HTTP 400): "gemma3:270m" does not support thinking.'
    )


async def test_list_models_keeps_raw_fields(backend: OllamaBackend) -> None:
    models = await backend.list_models()
    first = models[0]
    assert first.name == MODEL and first.modified_at is not None
    assert first.size > 0 and len(first.digest) == 64
    assert first.details["format"] == "gguf"
    assert set(first.raw) == {"name", "model", "modified_at", "size", "digest", "details"}


async def test_show_and_context_length(backend: OllamaBackend, fake: FakeOllama) -> None:
    fake.script("qwen3:8b", context_length=40960)
    shown = await backend.show("qwen3:8b")
    assert shown is not None and shown["model_info"]["qwen.context_length"] == 40960
    assert context_length(shown) == 40960
    fake.script("tuned:1b", context_length=131072, extra_show={"parameters": "num_ctx 4096"})
    assert context_length(await backend.show("tuned:1b")) == 4096  # what Ollama really uses
    assert await backend.show("missing:1b") is None
    assert context_length(None) is None
    assert context_length({"model_info": {"general.architecture": "x"}}) is None
    assert context_length({"model_info": {"odd.context_length": 2048}}) == 2048


async def test_probe_rejects_a_server_that_is_not_ollama(fake: FakeOllama) -> None:
    wrong = OllamaBackend("local", f"{fake.url}/v1")
    with pytest.raises(BackendError) as err:
        await wrong.probe()
    assert err.value.kind == "protocol"
    assert "does not look like Ollama" in err.value.reason
    await wrong.aclose()


def _split(parts: list[bytes]) -> list[bytes]:
    splitter = LineSplitter()
    return [line for part in parts for line in splitter.feed(part)] + splitter.end()


def test_split_lines_at_every_cut() -> None:
    lines = [json.dumps({"t": s}, ensure_ascii=False).encode() for s in ("é日本", "🙂", "")]
    data = b"\n".join(lines) + b"\n"
    for a in range(len(data)):
        for b in range(a, len(data)):
            parts = [data[:a], data[a:b], data[b:]]
            assert _split(parts) == lines, (a, b)
    assert _split([b"a\r\nb"]) == [b"a", b"b"]
    assert _split([b"a", b"", b"b\n", b"c"]) == [b"ab", b"c"]


def test_printable_urls_and_error_text() -> None:
    assert without_credentials("http://u:p@host:11434/x/") == "http://host:11434/x"
    assert without_credentials("http://host:11434/") == "http://host:11434"
    assert service_address("mongodb://u:p@h1:1,h2:2/db?authSource=x") == "mongodb://h1:1,h2:2"
    assert service_address("not a url") == "the configured URL"
    assert error_text(b'{"error":"model \'x\' not found"}') == "model 'x' not found"
    assert error_text(b'{"error":{"message":"bad key","type":"x"}}') == "bad key"
    assert error_text(b'{"detail":[{"msg":"field required"}]}') == '[{"msg": "field required"}]'
    assert error_text(b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"


def test_env_proxy_follows_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    assert env_proxy("http://gpu.example:11434") == "http://proxy.example:3128"
    assert env_proxy("http://127.0.0.1:11434") is None  # NO_PROXY from tests/conftest.py


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"model":"m","message":{"role":"assistant","content":"Hi"},"done":false}\n<html>\n',
         "sent a line that is not JSON: b'<html>'"),
        (b'[1, 2]\n', "sent an unexpected line: b'[1, 2]'"),
    ],
)  # fmt: skip
async def test_a_stream_that_is_not_ollamas_is_a_protocol_error(body: bytes, reason: str) -> None:
    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write(body)
        return response

    app = web.Application()
    app.router.add_post("/api/chat", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    backend = OllamaBackend("odd", f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(BackendError) as info:
            async for _ in backend.chat(ChatRequest("m", (ChatMessage("user", "hi"),))):
                pass
        assert info.value.kind == "protocol"
        assert reason in info.value.reason
    finally:
        await backend.aclose()
        await runner.cleanup()
