"""Prompt commands on the Ollama- and OpenAI-compatible routes: the fake Ollama receives the
expanded template as the last message, the history before it unchanged (issue 6, item 5)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import ollama
import openai
import pytest

from hub.core.models import User
from hub.settings import WebUISettings
from tests.api.conftest import API_KEY, Hub
from tests.fakes.ollama import FakeOllama

MODEL = "gemma3:270m"
TEMPLATE = "Summarize in one line:\n{{INPUT}}"
EXPANDED = "Summarize in one line:\nsome text"
HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "earlier {{CURRENT_DATE}} /summarize"},
    {"role": "assistant", "content": "noted"},
]


def _ask(text: str) -> list[dict[str, str]]:
    return [*HISTORY, {"role": "user", "content": text}]


def _ollama(hub: Hub, token: str) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=hub.ollama_url, headers={"Authorization": f"Bearer {token}"})


def _openai(hub: Hub, token: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=hub.ollama_url + "/v1", api_key=token, max_retries=0)


async def _create(hub: Hub, token: str, command: str, content: str) -> None:
    body = {"command": command, "title": "t", "content": content}
    async with hub.client(token) as http:
        response = await http.post("/api/v1/prompts/create", json=body)
    assert response.status_code == 200, response.text


def _sent(fake: FakeOllama) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = fake.chat_requests[-1].json["messages"]
    return messages


@pytest.fixture
async def user_token(hub: Hub) -> str:
    token, _ = await hub.signup("Sam")
    await _create(hub, token, "/summarize", TEMPLATE)
    await _create(hub, token, "/translate", "Translate into {{language}}:\n{{INPUT}}")
    return token


async def test_ollama_chat_expands_the_last_user_message(hub: Hub, user_token: str) -> None:
    client = _ollama(hub, user_token)
    reply = await client.chat(MODEL, messages=_ask("/summarize some text"), stream=False)
    assert reply.message.content == "t0 t1 t2 t3 t4"
    assert _sent(hub.fake) == _ask(EXPANDED)

    parts = [
        p
        async for p in await client.chat(MODEL, messages=_ask("/summarize some text"), stream=True)
    ]
    assert parts[-1].done
    assert _sent(hub.fake) == _ask(EXPANDED)


async def test_openai_completions_expand_the_last_user_message(hub: Hub, user_token: str) -> None:
    client = _openai(hub, user_token)
    reply = await client.chat.completions.create(
        model=MODEL,
        messages=_ask("/summarize some text"),  # type: ignore[arg-type]
    )
    assert reply.choices[0].message.content == "t0 t1 t2 t3 t4"
    assert _sent(hub.fake) == _ask(EXPANDED)

    stream = await client.chat.completions.create(
        model=MODEL,
        messages=_ask("/summarize some text"),  # type: ignore[arg-type]
        stream=True,
    )
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert _sent(hub.fake) == _ask(EXPANDED)


async def test_missing_variable_is_a_400_in_each_route_family(hub: Hub, user_token: str) -> None:
    before = len(hub.fake.chat_requests)
    async with hub.client(user_token) as http:
        native = await http.post(
            "/ollama/api/chat", json={"model": MODEL, "messages": _ask("/translate hello")}
        )
        compat = await http.post(
            "/ollama/v1/chat/completions",
            json={"model": MODEL, "messages": _ask("/translate hello"), "stream": True},
        )
    assert native.status_code == 400
    message = native.json()["error"]
    assert "/translate needs: language" in message and "language=" in message

    assert compat.status_code == 400
    error = compat.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "/translate needs: language" in error["message"]

    with pytest.raises(ollama.ResponseError) as raised:
        await _ollama(hub, user_token).chat(MODEL, messages=_ask("/translate hello"))
    assert raised.value.status_code == 400 and "language" in raised.value.error
    with pytest.raises(openai.BadRequestError, match="language"):
        await _openai(hub, user_token).chat.completions.create(
            model=MODEL,
            messages=_ask("/translate hello"),  # type: ignore[arg-type]
        )
    assert len(hub.fake.chat_requests) == before  # nothing reached the model


async def test_api_key_sees_global_prompts_not_personal_ones(hub: Hub, user_token: str) -> None:
    command = f"/brief-{uuid.uuid4().hex[:6]}"
    admin = User(id=f"admin-{uuid.uuid4().hex[:8]}", name="Root", role="admin")
    await hub.app.state.services.prompts.create(
        admin, command, "Brief", "Make it brief: {{INPUT}}", scope="global"
    )
    client = _ollama(hub, API_KEY)

    await client.chat(MODEL, messages=_ask(f"{command} some text"), stream=False)
    assert _sent(hub.fake) == _ask("Make it brief: some text")

    await client.chat(MODEL, messages=_ask("/summarize some text"), stream=False)
    assert _sent(hub.fake) == _ask("/summarize some text")  # Sam's own prompt is not visible


async def test_expansion_can_be_turned_off(fake: FakeOllama, make_hub: Callable[..., Any]) -> None:
    settings = WebUISettings(expand_prompt_commands=False)
    async with make_hub(fake, webui=settings) as hub:
        token, _ = await hub.signup("Off")
        await _create(hub, token, "/summarize", TEMPLATE)
        await _ollama(hub, token).chat(MODEL, messages=_ask("/summarize some text"), stream=False)
        assert _sent(fake) == _ask("/summarize some text")
        await _openai(hub, token).chat.completions.create(
            model=MODEL,
            messages=_ask("/summarize some text"),  # type: ignore[arg-type]
        )
        assert _sent(fake) == _ask("/summarize some text")
