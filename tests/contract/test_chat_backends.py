"""ChatBackend contract: Ollama and OpenAI-compatible backends against the fake Ollama over
real sockets. Both must stream, fail and cancel the same way."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hub.core.backends import build_backend
from hub.core.chat_config import ChatConfig
from hub.core.models import ChatMessage
from hub.core.ports import BackendChunk, BackendError, ChatBackend, ChatRequest, Delta, Final
from hub.core.routing_config import BackendConfig
from tests.fakes.ollama import FakeOllama

MODEL = "gemma3:270m"
HISTORY = (
    ChatMessage("system", "You are terse."),
    ChatMessage("user", "first question"),
    ChatMessage("assistant", "first answer"),
    ChatMessage("user", "second question"),
)
Make = Callable[..., ChatBackend]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama() as server:
        yield server


@pytest.fixture(params=["ollama", "openai"])
async def make(request: pytest.FixtureRequest, fake: FakeOllama) -> AsyncIterator[Make]:
    """Builds backends of one kind through the factory, pointed at the fake by default."""
    kind: str = request.param
    built: list[ChatBackend] = []

    def build(url: str | None = None, api_key: str | None = None, **timeouts: Any) -> ChatBackend:
        base = url or fake.url
        cfg = BackendConfig(
            name="fake",
            kind=kind,  # type: ignore[arg-type]
            url=f"{base}/v1" if kind == "openai" else base,
            api_key=api_key,  # type: ignore[arg-type]
        )
        backend = build_backend(cfg, ChatConfig(**timeouts))
        built.append(backend)
        return backend

    yield build
    for backend in built:
        await backend.aclose()


def request(model: str = MODEL, **kw: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=HISTORY, **kw)


async def collect(backend: ChatBackend, req: ChatRequest) -> list[BackendChunk]:
    return [chunk async for chunk in backend.chat(req)]


async def failure(backend: ChatBackend, req: ChatRequest) -> tuple[BackendError, list[Delta]]:
    """The error a chat ends with, and the deltas that arrived before it."""
    got: list[Delta] = []
    with pytest.raises(BackendError) as err:
        async for chunk in backend.chat(req):
            assert isinstance(chunk, Delta), "no Final may come before a failure"
            got.append(chunk)
    return err.value, got


def text_of(chunks: list[BackendChunk] | list[Delta]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, Delta))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_history_reaches_server_in_order(make: Make, fake: FakeOllama) -> None:
    chunks = await collect(make(), request())
    assert text_of(chunks) == "t0 t1 t2 t3 t4"
    sent = fake.chat_requests[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [(m.role, m.content) for m in HISTORY]


async def test_long_reply_arrives_intact(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=2000)
    chunks = await collect(make(), request())
    deltas = [c for c in chunks if isinstance(c, Delta)]
    assert len(deltas) == 2000
    assert text_of(deltas) == " ".join(f"t{i}" for i in range(2000))
    final = chunks[-1]
    assert isinstance(final, Final) and final.metrics.completion_tokens == 2000
    assert [type(c) for c in chunks].count(Final) == 1


async def test_lines_split_across_network_chunks(make: Make, fake: FakeOllama) -> None:
    tokens = ["é", "日本語", " naïve", " 🙂", " end"]
    fake.script(MODEL, tokens=tokens, split_lines=True)
    chunks = await collect(make(), request())
    assert [c.text for c in chunks if isinstance(c, Delta)] == tokens
    assert isinstance(chunks[-1], Final)


async def test_metrics_come_in_the_final_chunk(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=7, prompt_eval_count=42, done_reason="length")
    final = (await collect(make(), request()))[-1]
    assert isinstance(final, Final)
    m = final.metrics
    assert (m.prompt_tokens, m.completion_tokens, m.done_reason) == (42, 7, "length")
    assert m.total_duration > 0 and m.eval_duration > 0 and m.prompt_eval_duration > 0


async def test_closing_the_stream_closes_the_upstream(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=1000, tokens_per_second=100)
    stream = make().chat(request())
    first = [await anext(stream) for _ in range(3)]
    await stream.aclose()  # type: ignore[attr-defined]
    await fake.wait_for(lambda: fake.connections_closed == 1)
    assert text_of(first) == "t0 t1 t2"
    assert fake.chat_requests[-1].chunks_sent < 1000


async def test_cancelling_the_consumer_closes_the_upstream(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=1000, tokens_per_second=100)
    backend, got = make(), asyncio.Event()

    async def consume() -> None:
        async for _ in backend.chat(request()):
            got.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.wait_for(lambda: fake.connections_closed == 1)


async def test_cancel_while_waiting_for_first_token(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, first_token_delay=30)
    task = asyncio.create_task(collect(make(), request()))
    await fake.wait_for(lambda: len(fake.chat_requests) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.wait_for(lambda: fake.connections_closed == 1)


async def test_mid_stream_error_line(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, error_after=2, error_message="CUDA error: out of memory")
    err, got = await failure(make(), request())
    assert err.kind == "stream"
    assert err.reason == "The model stopped with an error: CUDA error: out of memory"
    assert text_of(got) == "t0 t1"


async def test_http_500_before_streaming(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, status=500, status_message="llama runner crashed")
    err, got = await failure(make(), request())
    assert (err.kind, err.status, got) == ("http", 500, [])
    assert err.reason == "fake failed with HTTP 500: llama runner crashed."


async def test_busy_503(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, status=503)
    err, _ = await failure(make(), request())
    assert (err.kind, err.status) == ("busy", 503)
    assert err.reason.startswith("fake is busy (HTTP 503") and "Try again" in err.reason


async def test_unknown_model(make: Make) -> None:
    err, _ = await failure(make(), request("nope:1b"))
    assert (err.kind, err.status) == ("not_found", 404)
    assert err.reason == "Model 'nope:1b' is not available on fake."


async def test_connection_refused(make: Make) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    backend = make(url=url)
    err, _ = await failure(backend, request())
    assert err.kind == "connect"
    assert f"is not reachable at {url}" in err.reason and "connection refused" in err.reason
    with pytest.raises(BackendError) as probe:
        await backend.probe()
    assert probe.value.kind == "connect"


async def test_first_token_timeout(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, first_token_delay=30)
    err, got = await failure(make(first_token_timeout=0.3), request())
    assert (err.kind, got) == ("timeout", [])
    assert err.reason == "The model did not start answering within 0.3 s."
    await fake.wait_for(lambda: fake.connections_closed == 1)  # the server was told


async def test_between_chunk_timeout(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=5, tokens_per_second=1)  # 1 s between tokens
    err, got = await failure(make(chunk_timeout=0.2), request())
    assert err.kind == "timeout"
    assert err.reason == "The model stopped sending for 0.2 s; the reply was cut short."
    assert text_of(got) == "t0"


async def test_dropped_connection_mid_reply(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, drop_after=3)
    err, got = await failure(make(), request())
    assert err.kind == "stream"
    assert err.reason == "The connection to fake dropped mid-reply."
    assert text_of(got) == "t0 t1 t2"


async def test_dropped_before_any_token(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, drop_after=0)
    err, got = await failure(make(), request())
    assert (err.kind, got) == ("dropped", [])  # the router tells a crash from an overflow
    assert err.reason == "The connection to fake dropped before it answered."


async def test_reply_ending_without_final_chunk(make: Make, fake: FakeOllama) -> None:
    fake.script(MODEL, end_after=2)
    err, got = await failure(make(), request())
    assert err.kind == "stream"
    assert err.reason == "fake ended the reply before it was complete."
    assert text_of(got) == "t0 t1"


async def test_models_and_probe(make: Make, fake: FakeOllama) -> None:
    backend = make()
    await backend.probe()
    assert [m.name for m in await backend.list_models()] == ["gemma3:270m", "llama3.2:1b"]
    assert await backend.show("nope:1b") is None


async def test_api_key_sent_and_never_shown(make: Make) -> None:
    async with FakeOllama(api_key="s3cret-key") as keyed:
        good = make(url=keyed.url, api_key="s3cret-key")
        assert text_of(await collect(good, request())) == "t0 t1 t2 t3 t4"
        assert keyed.chat_requests[-1].headers["Authorization"] == "Bearer s3cret-key"
        bad = make(url=keyed.url, api_key="wrong-key")
        err, _ = await failure(bad, request())
        assert (err.kind, err.status) == ("http", 401)
        assert "Check its API key" in err.reason and "wrong-key" not in err.reason
        assert "key" not in repr(bad).replace("api key", "")
        with pytest.raises(BackendError):
            await bad.probe()


async def test_url_credentials_are_not_shown(make: Make) -> None:
    url = f"http://user:hunter2@127.0.0.1:{closed_port()}"
    err, _ = await failure(make(url=url), request())
    assert "hunter2" not in err.reason and "user" not in err.reason
