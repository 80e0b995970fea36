"""The fake OpenAI-compatible servers checked with the official `openai` client and httpx:
each flavour must look to a real client as the real server does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_flavours import FLAVOURS, FlavourName
from tests.fakes.openai_server import FakeOpenAIServer

MODEL = "gemma-3-270m"
SHORT: list[Any] = [{"role": "user", "content": "Hello there"}]
LONG: list[Any] = [{"role": "user", "content": "x" * 4000}]  # about 1000 tokens: over 512


def client(fake: FakeOpenAIServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.v1_url, api_key="sk-none", max_retries=0)


async def stream_text(fake: FakeOpenAIServer, **kwargs: Any) -> tuple[str, list[Any]]:
    chunks = [
        c
        async for c in await client(fake).chat.completions.create(
            model=MODEL, messages=kwargs.pop("messages", SHORT), stream=True, **kwargs
        )
    ]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


@pytest.fixture(params=FLAVOURS)
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(request.param, window=512) as server:
        yield server


async def test_streams_and_lists_like_the_real_server(fake: FakeOpenAIServer) -> None:
    models = [m async for m in client(fake).models.list()]
    assert [m.id for m in models] == [MODEL]
    text, chunks = await stream_text(fake, stream_options={"include_usage": True})
    assert text == "t0 t1 t2 t3 t4"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    usage = [c.usage for c in chunks if c.usage is not None]
    if fake.flavour.name == "llama-cpp-python":
        assert usage == []  # it ignores stream_options.include_usage
    else:
        assert usage[0].prompt_tokens == 7 and usage[0].completion_tokens == 5


async def test_only_some_servers_state_the_window(fake: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient(base_url=fake.url) as http:
        listed = (await http.get("/v1/models")).json()["data"][0]
        props = await http.get("/props")
        v0 = await http.get("/api/v0/models")
    name = fake.flavour.name
    assert listed.get("max_model_len") == (512 if name == "vllm" else None)
    if name == "llama-server":
        assert listed["meta"]["n_ctx_train"] == 32768  # the training length, not the window
        assert props.json()["default_generation_settings"]["n_ctx"] == 512
    else:
        assert props.status_code == 404
    if name == "lmstudio":
        assert v0.json()["data"][0]["max_context_length"] == 32768
    else:
        assert v0.status_code == 404


async def test_overflow_as_each_server_answers_it(fake: FakeOpenAIServer) -> None:
    name: FlavourName = fake.flavour.name
    if name == "llama-cpp-python":
        text, chunks = await stream_text(fake, messages=LONG)  # nothing said at all
        assert (text, chunks, fake.outcomes()) == ("", [], ["empty"])
        with pytest.raises(openai.BadRequestError) as whole:
            await client(fake).chat.completions.create(model=MODEL, messages=LONG)
        assert "maximum context length is 512 tokens" in whole.value.message
    elif name == "lmstudio":
        with pytest.raises(openai.APIError) as error:
            await stream_text(fake, messages=LONG)
        assert "context length of only 512 tokens" in str(error.value.body)  # a 200 stream
    else:
        with pytest.raises(openai.BadRequestError) as bad:
            await stream_text(fake, messages=LONG)
        body: Any = bad.value.body
        if name == "vllm":
            assert "maximum context length is 512 tokens" in bad.value.message
            assert "your request has 1004 input tokens" in bad.value.message
        else:
            assert body["type"] == "exceed_context_size_error"
            assert (body["n_ctx"], body["n_prompt_tokens"]) == (512, 1004)


async def test_llama_cpp_python_cuts_the_reply_it_streams_when_a_request_arrives() -> None:
    async with FakeOpenAIServer("llama-cpp-python", token_count=200, tokens_per_second=200) as fake:
        reply = asyncio.ensure_future(stream_text(fake))
        await fake.wait_for(lambda: any(r.chunks_sent >= 3 for r in fake.chat_requests))
        assert [m.id async for m in client(fake).models.list()] == [MODEL]  # waited its turn
        text, chunks = await reply
        assert 3 <= len(text.split()) < 200
        assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)
        assert fake.outcomes() == ["interrupted"]


async def test_llama_cpp_python_without_interrupts_makes_others_wait() -> None:
    async with FakeOpenAIServer(
        "llama-cpp-python", token_count=30, tokens_per_second=300, interrupt_requests=False
    ) as fake:
        reply = asyncio.ensure_future(stream_text(fake))
        await fake.wait_for(lambda: any(r.chunks_sent >= 1 for r in fake.chat_requests))
        await client(fake).models.list()
        text, _ = await reply
        assert len(text.split()) == 30 and fake.outcomes() == ["complete"]


async def test_vllm_refuses_max_tokens_beyond_the_window() -> None:
    async with FakeOpenAIServer("vllm", window=512) as fake:
        with pytest.raises(openai.BadRequestError) as bad:
            await stream_text(fake, max_tokens=600)
        assert "'max_tokens' or 'max_completion_tokens' is too large: 600" in bad.value.message


async def test_replies_stop_at_the_window_with_finish_reason_length() -> None:
    async with FakeOpenAIServer("llama-cpp-python", window=64, token_count=100) as fake:
        text, chunks = await stream_text(fake)
        assert len(text.split()) == 64 - 7
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
