"""The fake Ollama checked with the official clients (ollama, openai) and raw httpx."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import ollama
import openai
import pytest

from tests.fakes.ollama import FakeOllama

MODEL = "gemma3:270m"
HISTORY: list[Any] = [  # Any: each client types messages its own way
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "one"},
    {"role": "assistant", "content": "two"},
    {"role": "user", "content": "three"},
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama() as server:
        yield server


async def test_list_show_version_ps(fake: FakeOllama) -> None:
    fake.script("big:70b", context_length=131072)
    client = ollama.AsyncClient(host=fake.url)
    listed = await client.list()
    assert [m.model for m in listed.models] == ["gemma3:270m", "llama3.2:1b", "big:70b"]
    assert all(isinstance(m.modified_at, datetime) for m in listed.models)
    assert listed.models[0].details is not None
    assert listed.models[0].details.family == "gemma"
    shown = await client.show("big:70b")
    assert shown.modelinfo is not None
    assert shown.modelinfo["big.context_length"] == 131072
    assert shown.modelinfo["general.architecture"] == "big"
    assert (await client.ps()).models == []
    await client.chat(MODEL, messages=[{"role": "user", "content": "hi"}])
    assert [m.model for m in (await client.ps()).models] == [MODEL]
    async with httpx.AsyncClient(base_url=fake.url) as raw:
        assert (await raw.get("/api/version")).json()["version"] == fake.version
        root = await raw.get("/")
        assert (root.status_code, root.text) == (200, "Ollama is running")
        assert (await raw.head("/")).status_code == 200


async def test_chat_stream_records_history_and_options(fake: FakeOllama) -> None:
    client = ollama.AsyncClient(host=fake.url)
    parts = [
        part
        async for part in await client.chat(
            MODEL, messages=HISTORY, stream=True, options={"temperature": 0}, keep_alive="10m"
        )
    ]
    assert "".join(p.message.content or "" for p in parts) == "t0 t1 t2 t3 t4"
    *chunks, last = parts
    assert all(not p.done and p.eval_count is None and p.total_duration is None for p in chunks)
    assert last.done and last.done_reason == "stop" and last.eval_count == 5
    assert last.prompt_eval_count == 5  # words in the four messages
    for metric in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert getattr(last, metric) > 0
    sent = fake.chat_requests[-1].json
    assert sent["messages"] == HISTORY
    assert sent["options"] == {"temperature": 0}
    assert sent["keep_alive"] == "10m"
    assert fake.chat_requests[-1].outcome == "complete"


async def test_chat_non_stream_and_generate(fake: FakeOllama) -> None:
    fake.script(MODEL, tokens=["Hel", "lo", "!"])
    client = ollama.AsyncClient(host=fake.url)
    whole = await client.chat(MODEL, messages=HISTORY)
    assert (whole.message.content, whole.done, whole.eval_count) == ("Hello!", True, 3)
    gen = [p async for p in await client.generate(MODEL, prompt="say hi", stream=True)]
    assert "".join(p.response or "" for p in gen) == "Hello!"
    assert gen[-1].done and gen[-1].context == [1, 2, 3]
    assert (await client.generate(MODEL, prompt="x")).response == "Hello!"


async def test_unknown_model_is_404(fake: FakeOllama) -> None:
    client = ollama.AsyncClient(host=fake.url)
    for call in (
        client.chat("nope", messages=HISTORY),
        client.show("nope"),
        client.generate("nope", prompt="x"),
    ):
        with pytest.raises(ollama.ResponseError) as err:
            await call
        assert err.value.status_code == 404
        assert err.value.error == "model 'nope' not found"


async def test_scripted_failures(fake: FakeOllama) -> None:
    client = ollama.AsyncClient(host=fake.url)
    fake.script(MODEL, error_after=2, error_message="out of memory")
    seen = []
    with pytest.raises(ollama.ResponseError, match="out of memory"):
        async for part in await client.chat(MODEL, messages=HISTORY, stream=True):
            seen.append(part.message.content)
    assert seen == ["t0", " t1"]
    fake.script(MODEL, status=500)
    with pytest.raises(ollama.ResponseError) as err:
        await client.chat(MODEL, messages=HISTORY)
    assert err.value.status_code == 500
    fake.script(MODEL, status=503)
    with pytest.raises(ollama.ResponseError) as err:
        await client.chat(MODEL, messages=HISTORY)
    assert err.value.status_code == 503 and "server busy" in err.value.error
    fake.script(MODEL, drop_after=3)
    with pytest.raises(httpx.RemoteProtocolError):
        async for _ in await client.chat(MODEL, messages=HISTORY, stream=True):
            pass
    assert fake.chat_requests[-1].outcome == "dropped"


async def test_raw_ndjson_framing_and_split_lines(fake: FakeOllama) -> None:
    tokens = ["é", "日本", " ok"]
    fake.script(MODEL, tokens=tokens, split_lines=True)
    async with (
        httpx.AsyncClient(base_url=fake.url) as raw,
        raw.stream("POST", "/api/chat", json={"model": MODEL, "messages": HISTORY}) as resp,
    ):
        assert resp.headers["content-type"] == "application/x-ndjson"
        reads = [chunk async for chunk in resp.aiter_raw()]
    body = b"".join(reads)
    assert len(reads) > 4  # every line arrived in more than one read
    assert body.endswith(b"\n")
    objs = [json.loads(line) for line in body.decode().splitlines()]
    assert "".join(o["message"]["content"] for o in objs) == "é日本 ok"
    assert ["done_reason" in o for o in objs] == [False] * 3 + [True]
    assert not any("id" in o or "detail" in o for o in objs)
    datetime.fromisoformat(objs[0]["created_at"])


async def test_client_disconnect_is_seen(fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=1000, tokens_per_second=200)
    client = ollama.AsyncClient(host=fake.url)
    stream = await client.chat(MODEL, messages=HISTORY, stream=True)
    got = [(await anext(stream)).message.content for _ in range(3)]
    await stream.aclose()  # type: ignore[attr-defined]  # an async generator at runtime
    await fake.wait_for(lambda: fake.connections_closed == 1)
    assert got == ["t0", " t1", " t2"]
    assert fake.chat_requests[-1].chunks_sent < 1000


async def test_token_rate_shows_in_eval_duration(fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=11, tokens_per_second=100, first_token_delay=0.05)
    client = ollama.AsyncClient(host=fake.url)
    last = [p async for p in await client.chat(MODEL, messages=HISTORY, stream=True)][-1]
    assert last.eval_duration is not None and last.prompt_eval_duration is not None
    assert last.eval_duration >= 0.1e9  # 10 intervals at 100 tokens/s, paced by the fake
    assert last.prompt_eval_duration >= 0.05e9


async def test_api_key_required_when_set() -> None:
    async with FakeOllama(api_key="sekrit") as fake:
        with pytest.raises(ollama.ResponseError) as err:
            await ollama.AsyncClient(host=fake.url).list()
        assert err.value.status_code == 401
        client = ollama.AsyncClient(host=fake.url, headers={"Authorization": "Bearer sekrit"})
        assert len((await client.list()).models) == 2


async def test_openai_client_stream_and_usage(fake: FakeOllama) -> None:
    client = openai.AsyncOpenAI(base_url=f"{fake.url}/v1", api_key="unused")
    assert [m.id for m in (await client.models.list()).data] == ["gemma3:270m", "llama3.2:1b"]
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=HISTORY,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:-2])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "t0 t1 t2 t3 t4"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert len({c.id for c in chunks}) == 1
    whole = await client.chat.completions.create(model=MODEL, messages=HISTORY)
    assert whole.choices[0].message.content == "t0 t1 t2 t3 t4"
    assert whole.usage is not None and whole.usage.total_tokens == 10
    assert fake.chat_requests[-1].json["messages"] == HISTORY


async def test_openai_client_errors(fake: FakeOllama) -> None:
    client = openai.AsyncOpenAI(base_url=f"{fake.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as err:
        await client.chat.completions.create(model="nope", messages=HISTORY)
    assert err.value.status_code == 404
    assert "model 'nope' not found" in err.value.message
    fake.script(MODEL, error_after=1, error_message="runner crashed")
    with pytest.raises(openai.APIError, match="runner crashed"):
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=HISTORY,
            stream=True,
        )
        async for _ in stream:
            pass


async def test_stopped_fake_refuses_then_restarts_on_same_port(fake: FakeOllama) -> None:
    port = fake.port
    await fake.stop()
    with pytest.raises(ConnectionError):  # ollama wraps httpx.ConnectError
        await ollama.AsyncClient(host=fake.url).list()
    await fake.start()
    assert fake.port == port
    assert len((await ollama.AsyncClient(host=fake.url).list()).models) == 2


async def test_stop_cuts_open_replies(fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=1000, tokens_per_second=100)
    stream = await ollama.AsyncClient(host=fake.url).chat(MODEL, messages=HISTORY, stream=True)
    await anext(stream)
    assert fake.active == 1
    await fake.stop()
    with pytest.raises(httpx.HTTPError):
        async for _ in stream:
            pass
    assert fake.chat_requests[-1].outcome == "server_stopped"
    assert fake.active == 0


async def test_runs_as_its_own_process() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.ollama",
        "--models",
        "a:1b,b:2b",
        "--tokens",
        "7",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        client = ollama.AsyncClient(host=url)
        assert [m.model for m in (await client.list()).models] == ["a:1b", "b:2b"]
        reply = await client.chat("a:1b", messages=HISTORY)
        assert reply.message.content == "t0 t1 t2 t3 t4 t5 t6"
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 20) == 0
