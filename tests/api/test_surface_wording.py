"""Issue 12 item 7: what HTTP clients are told never asks them to send /stop or /models, and a
routing rule's `command` matches the HTTP route and the prompt command in the last message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.api.conftest import API_KEY
from tests.fakes.ollama import FakeOllama
from tests.support.wait import until

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def chat(model: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def chat_only_advice(text: str) -> bool:
    return "/models" in text.replace("/ollama/v1/models", "") or "/stop" in text


async def test_errors_for_http_clients_name_what_they_can_do(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    routing = {"allowlists": {"user": ["alpha", "slow"]}}
    async with make_hub(fake, limits={"concurrent_per_user": 1}, routing=routing) as hub:
        await hub.signup("First")  # the first account is the admin, who has no limits
        token, _ = await hub.signup("Wordy")
        async with hub.client(token) as http:
            unknown = await http.post("/ollama/api/chat", json=chat("no-such-model"))
            forbidden = await http.post("/ollama/v1/chat/completions", json=chat("gemma3:270m"))
            before = len(fake.chat_requests)
            slow = asyncio.create_task(http.post("/ollama/api/chat", json=chat("slow")))
            await until(lambda: len(fake.chat_requests) > before, within=10)
            busy = await http.post("/ollama/v1/chat/completions", json=chat("alpha"))
            slow.cancel()
    assert (unknown.status_code, forbidden.status_code, busy.status_code) == (404, 403, 429)
    texts = [unknown.json()["error"], forbidden.json()["error"]["message"]]
    texts.append(busy.json()["error"]["message"])
    assert texts[1] == (
        "You may not use the model 'gemma3:270m'. "
        "GET /ollama/api/tags (or /ollama/v1/models) lists the models you can use."
    )
    assert texts[2] == "You already have 1 reply running; wait for it to finish."
    assert not any(chat_only_advice(t) for t in texts)


async def test_a_rule_command_matches_the_route_and_the_typed_prompt_command(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    rules = [
        {"command": "generate", "model": "gemma3:270m"},
        {"command": "/code", "model": "thinker"},
    ]
    async with make_hub(fake, routing={"rules": rules}) as hub:
        token, _ = await hub.signup("Ruled")  # the admin: may create the prompt
        async with hub.client(token) as http:
            create = {"command": "/code", "title": "Code", "content": "Write code: {{INPUT}}"}
            made = await http.post("/api/v1/prompts/create", json=create)
            assert made.status_code == 200, made.text
            before = len(fake.chat_requests)
            generate = {"model": "alpha", "prompt": "hi", "stream": False}
            assert (await http.post("/ollama/api/generate", json=generate)).status_code == 200
            typed = chat("alpha", "/code a parser", stream=False)
            assert (await http.post("/ollama/api/chat", json=typed)).status_code == 200
            plain = chat("alpha", stream=False)
            assert (await http.post("/ollama/api/chat", json=plain)).status_code == 200
    models = [r.model for r in fake.chat_requests[before:]]
    assert models == ["gemma3:270m", "thinker:latest", "alpha:latest"]
