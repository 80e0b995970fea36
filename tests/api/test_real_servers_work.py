"""Serving work with servers as they really behave (issue 13, items 3, 4 and 5): every reply's
tokens counted, abandoned requests never sent, health checks that never disturb the work."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest

from hub.core.models import ConversationKey, Done, Failed, PlatformUser, User
from tests.api.conftest import Hub
from tests.api.real_servers import MODEL, bot_message, bot_turn, ended, hub_for, person
from tests.fakes.openai_server import FakeOpenAIServer
from tests.unit.router_doubles import eventually


async def test_usage_for_a_server_that_reports_none(tmp_path: Path) -> None:
    async with (
        FakeOpenAIServer("llama-cpp-python", token_count=150) as fake,
        hub_for(tmp_path, fake, limits={"tokens_per_day": 100}) as hub,
    ):
        token, user = await person(hub, "Ann")
        services = hub.app.state.services
        client = openai.AsyncOpenAI(base_url=f"{hub.ollama_url}/v1", api_key=token, max_retries=0)
        reply = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Tell me a story."}]
        )
        assert reply.usage is not None
        assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens >= 150
        # The 150-token reply used up the 100-token budget, estimated or not.
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Another."}]
            )
        assert "token" in refused.value.message.lower()
        today = (await services.stores.usage.for_user(user.id, _today()))[0]
        assert today.requests == 1 and today.total_tokens == reply.usage.total_tokens
        assert today.estimated_tokens == today.total_tokens  # every count was an estimate
        assert len(fake.chat_requests) == 1


async def test_both_apis_return_counts_for_a_server_that_reports_none(tmp_path: Path) -> None:
    async with (
        FakeOpenAIServer("llama-cpp-python", token_count=20) as fake,
        hub_for(tmp_path, fake) as hub,
    ):
        token, user = await person(hub, "Ann")
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}
        async with hub.client(token) as http:
            native = await http.post("/ollama/api/chat", json=body | {"stream": False})
            lines = []
            async with http.stream(
                "POST",
                "/ollama/v1/chat/completions",
                json=body | {"stream": True, "stream_options": {"include_usage": True}},
            ) as streamed:
                lines = [line async for line in streamed.aiter_lines() if line.strip()]
        final = native.json()
        assert final["prompt_eval_count"] > 0 and final["eval_count"] > 0
        assert any('"usage":{"prompt_tokens":' in line for line in lines)
        events, _ = await bot_turn(hub, bot_message("Hello"))
        done = ended(events)
        assert isinstance(done, Done) and done.metrics.estimated
        assert done.metrics.completion_tokens > 0
        (record,) = await hub.app.state.services.stores.usage.for_user(user.id, _today())
        assert record.requests == 2 and record.estimated_tokens == record.total_tokens


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


async def test_a_long_reply_from_a_one_request_server_is_never_cut_by_a_probe(
    tmp_path: Path,
) -> None:
    async with (
        FakeOpenAIServer("llama-cpp-python", token_count=200, tokens_per_second=400) as fake,
        hub_for(tmp_path, fake, backend={"probe_interval": 0.01}) as hub,
    ):
        token, _ = await person(hub, "Ann")
        probes_before = sum(1 for r in fake.requests if r.path == "/v1/models")
        async with hub.client(token) as http:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "Go on."}]}
            body["stream"] = False
            answer = await http.post("/ollama/api/chat", json=body)
        assert answer.status_code == 200
        assert len(answer.json()["message"]["content"].split()) == 200
        assert fake.outcomes() == ["complete"] and fake.interrupted == 0
        # Probes go on while the backend is idle.
        await eventually(
            lambda: sum(1 for r in fake.requests if r.path == "/v1/models") > probes_before + 2
        )


async def test_a_reply_cut_without_a_finish_reason_is_not_taken_as_complete(
    tmp_path: Path,
) -> None:
    async with (
        FakeOpenAIServer("llama-cpp-python", token_count=300, tokens_per_second=300) as fake,
        hub_for(tmp_path, fake) as hub,
    ):
        turn = asyncio.ensure_future(bot_turn(hub, bot_message("Tell me everything.")))
        await fake.wait_for(lambda: any(r.chunks_sent >= 5 for r in fake.chat_requests))
        async with httpx.AsyncClient(base_url=fake.url) as other:  # someone else's request
            await other.get("/v1/models")
        events, text = await turn
        failed = ended(events)
        assert isinstance(failed, Failed) and failed.partial_text == text
        assert "without finishing it" in failed.reason
        conversation = await hub.app.state.services.stores.conversations.active(
            bot_message("x").key, (await _bot_user(hub)).id
        )
        turns = await hub.app.state.services.stores.conversations.recent(conversation.id, 5)
        assert turns[-1].role == "assistant" and turns[-1].interrupted
        assert fake.interrupted == 1


async def _bot_user(hub: Hub) -> User:
    users = hub.app.state.services.stores.users
    user: User = await users.for_identity(PlatformUser("telegram", "7", "Ann"))
    return user


async def test_a_queued_request_abandoned_by_its_client_never_reaches_the_server(
    tmp_path: Path,
) -> None:
    async with (
        FakeOpenAIServer("vllm", window=4096, token_count=100, tokens_per_second=100) as fake,
        hub_for(tmp_path, fake) as hub,
    ):
        router = hub.app.state.services.router
        first, _ = await person(hub, "Ann")
        second, _ = await person(hub, "Bob")
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        async with hub.client(first) as ann, hub.client(second) as bob:
            serving = asyncio.ensure_future(ann.post("/ollama/api/chat", json=body))
            await fake.wait_for(lambda: len(fake.chat_requests) == 1)
            for stream in (True, False):
                waiting = asyncio.ensure_future(
                    bob.post("/ollama/api/chat", json=body | {"stream": stream})
                )
                await eventually(lambda: router.queued == 1)
                waiting.cancel()  # the client gives up and closes its connection
                with pytest.raises(asyncio.CancelledError):
                    await waiting
                await eventually(lambda: router.queued == 0)  # left the queue at once
            assert (await serving).status_code == 200
        await asyncio.sleep(0.2)  # time for a request that was wrongly kept to go out
        assert len(fake.chat_requests) == 1


async def test_a_bot_reply_stopped_while_queued_is_never_sent(tmp_path: Path) -> None:
    async with (
        FakeOpenAIServer("vllm", window=4096, token_count=100, tokens_per_second=100) as fake,
        hub_for(tmp_path, fake) as hub,
    ):
        services = hub.app.state.services
        serving = asyncio.ensure_future(bot_turn(hub, bot_message("first", chat="a", who="1")))
        await fake.wait_for(lambda: len(fake.chat_requests) == 1)
        queued_msg = bot_message("second", chat="b", who="2")
        queued = asyncio.ensure_future(bot_turn(hub, queued_msg))
        await eventually(lambda: services.router.queued == 1)
        key: ConversationKey = queued_msg.key
        assert await services.chat.stop(key)
        events, _ = await queued
        assert isinstance(ended(events), Failed) and ended(events).code == "cancelled"
        assert services.router.queued == 0
        await serving
        await asyncio.sleep(0.2)
        assert len(fake.chat_requests) == 1


async def test_ready_and_show_during_a_reply_do_not_interrupt_it(tmp_path: Path) -> None:
    async with (
        FakeOpenAIServer("llama-cpp-python", token_count=200, tokens_per_second=400) as fake,
        hub_for(tmp_path, fake) as hub,
    ):
        token, _ = await person(hub, "Ann")
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Go."}], "stream": False}
        async with hub.client(token) as http:
            answer = asyncio.ensure_future(http.post("/ollama/api/chat", json=body))
            await fake.wait_for(lambda: any(r.chunks_sent >= 3 for r in fake.chat_requests))
            ready = await http.get("/ready")
            shown = await http.post("/ollama/api/show", json={"model": MODEL})
            assert (await answer).status_code == 200
        assert ready.status_code == 200 and shown.status_code == 200
        assert fake.outcomes() == ["complete"] and fake.interrupted == 0
