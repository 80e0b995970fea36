"""Context windows and overflows with servers as they really behave (issue 13, items 1 and 2).

A prompt too long for the window is the request's fault: it never counts against the backend,
bot conversations are trimmed harder and retried once, HTTP clients get a 400 naming the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from hub.core.models import Done, Failed
from hub.core.routing_config import BackendModelConfig
from tests.api.conftest import API_KEY
from tests.api.real_servers import (
    BACKEND,
    MODEL,
    bot_message,
    bot_turn,
    ended,
    hub_for,
    notices,
    person,
    words,
)
from tests.fakes.openai_flavours import FlavourName
from tests.fakes.openai_server import FakeOpenAIServer

TRIMMED = "Older messages no longer fit"


def _chat(text: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": False}


def hub_auth(hub: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


def _up(hub: Any) -> bool:
    status = hub.app.state.services.router.status()
    return all(s.up for s in status)


@pytest.mark.parametrize("flavour", ["llama-cpp-python", "vllm", "llama-server", "lmstudio"])
async def test_one_persons_overflows_never_take_the_backend_down(
    tmp_path: Path, flavour: FlavourName
) -> None:
    async with (
        FakeOpenAIServer(flavour, window=512) as fake,
        hub_for(tmp_path, fake, routing={"failure_threshold": 2, "cooldown": 600}) as hub,
    ):
        bad, _ = await person(hub, "Mallory")
        good, _ = await person(hub, "Ann")
        long_text = words(500)  # about 700 tokens for the server: over its 512
        async with hub.client(bad) as mallory, hub.client(good) as ann:
            for i in range(6):
                refused = await mallory.post("/ollama/api/chat", json=_chat(long_text))
                assert refused.status_code == 400, refused.text
                assert "exceeds gemma-3-270m's" in refused.json()["error"]
                answered = await ann.post("/ollama/api/chat", json=_chat(f"Hello {i}"))
                assert answered.status_code == 200, answered.text
                assert answered.json()["message"]["content"] == "t0 t1 t2 t3 t4"
        assert _up(hub)
        assert hub.app.state.services.router.status()[0].failures == 0
    if flavour == "llama-cpp-python":
        assert fake.outcomes().count("empty") == 6  # each overflow really reached the server


async def test_http_overflow_names_the_window_the_server_stated(tmp_path: Path) -> None:
    async with (
        FakeOpenAIServer("vllm", window=512) as fake,
        hub_for(tmp_path, fake) as hub,
    ):
        token, _ = await person(hub, "Ann")
        async with hub.client(token) as http:
            response = await http.post("/ollama/v1/chat/completions", json=_chat(words(500)))
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"].startswith(
            "The conversation exceeds gemma-3-270m's 512-token context window."
        )


async def _converse(hub: Any, turns: int, size: int) -> list[tuple[list[Any], str]]:
    return [await bot_turn(hub, bot_message(f"turn {i}: {words(size)}")) for i in range(turns)]


async def test_window_learned_from_a_dropped_stream_and_every_turn_answered(
    tmp_path: Path,
) -> None:
    # llama-cpp-python states its window nowhere: the hub assumes 4096 until a stream drops
    # right after a prompt larger than any that worked, then trims below that and retries.
    async with (
        FakeOpenAIServer("llama-cpp-python", window=512) as fake,
        hub_for(tmp_path, fake) as hub,
    ):
        results = await _converse(hub, 20, 40)
        assert all(isinstance(ended(events), Done) for events, _ in results)
        assert all(text.startswith("t0") for _, text in results)  # one may end at the window
        assert all(text == "t0 t1 t2 t3 t4" for _, text in results[-10:])  # room kept for it
        shown = [n for events, _ in results for n in notices(events)]
        assert len(shown) == 1 and shown[0].startswith(TRIMMED)
        assert fake.outcomes().count("empty") == 1  # learned once, then trimmed in time
        window = await hub.app.state.services.router.context_window(MODEL)
        # A bound in the hub's own (over-counting) estimate, far below the 4096 assumed before.
        assert window is not None and window < 1024


@pytest.mark.parametrize("flavour", ["vllm", "llama-server", "lmstudio"])
async def test_window_stated_by_an_overflow_replaces_the_reported_one(
    tmp_path: Path, flavour: FlavourName
) -> None:
    # The server said 4096 when the hub asked, then was restarted with a window of 512: its
    # overflow answer says so, the hub believes it, trims and answers.
    async with FakeOpenAIServer(flavour, window=4096) as fake, hub_for(tmp_path, fake) as hub:
        assert await hub.app.state.services.router.context_window(MODEL) == 4096
        fake.window = 512
        results = await _converse(hub, 12, 40)
        assert all(isinstance(ended(events), Done) for events, _ in results)
        assert await hub.app.state.services.router.context_window(MODEL) == 512
        refused = [o for o in fake.outcomes() if o != "complete"]
        assert len(refused) == 1  # one overflow, then every prompt fit


async def test_a_message_too_long_on_its_own_gets_a_clear_answer(tmp_path: Path) -> None:
    async with FakeOpenAIServer("vllm", window=512) as fake, hub_for(tmp_path, fake) as hub:
        events, _ = await bot_turn(hub, bot_message(words(800)))
        failed = ended(events)
        assert isinstance(failed, Failed) and failed.code == "bad_request"
        assert "no longer fits gemma-3-270m's 512-token context window" in failed.reason
        assert _up(hub)


async def test_windows_are_shown_and_can_be_configured(tmp_path: Path) -> None:
    async with FakeOpenAIServer("llama-server", window=512) as fake:
        async with hub_for(tmp_path / "a", fake) as hub:
            events, _ = await bot_turn(hub, bot_message("/models"))
            assert "gemma-3-270m (on tiny; 512-token window)" in notices(events)[0]
            client = ollama.AsyncClient(host=hub.ollama_url, headers=hub_auth(hub))
            shown = await client.show(MODEL)
            assert shown.modelinfo is not None
            assert shown.modelinfo["openai.context_length"] == 512
            assert "num_ctx" in (shown.parameters or "") and "512" in (shown.parameters or "")
        per_model = {"models": {MODEL: BackendModelConfig(context_window=300)}}
        async with hub_for(tmp_path / "b", fake, backend=per_model) as hub:
            assert await hub.app.state.services.router.context_window(MODEL) == 300
            client = ollama.AsyncClient(host=hub.ollama_url, headers=hub_auth(hub))
            assert "300" in ((await client.show(MODEL)).parameters or "")
        async with hub_for(tmp_path / "c", fake, backend={"context_window": 256}) as hub:
            assert await hub.app.state.services.router.context_window(MODEL) == 256
            assert hub.app.state.services.router.status()[0].name == BACKEND


async def test_empty_tools_and_ollama_only_fields_are_not_sent(tmp_path: Path) -> None:
    async with FakeOpenAIServer("vllm", window=4096) as fake, hub_for(tmp_path, fake) as hub:
        client = ollama.AsyncClient(host=hub.ollama_url, headers=hub_auth(hub))
        await client.chat(
            MODEL,
            messages=[{"role": "user", "content": "hi"}],
            tools=[],
            options={"temperature": 0.2, "num_ctx": 2048, "top_k": 5, "mirostat": 1},
            keep_alive="5m",
        )
        sent = fake.chat_requests[-1].json
        assert "tools" not in sent
        assert not {"options", "keep_alive", "num_ctx", "top_k", "mirostat"} & set(sent)
        assert sent["temperature"] == 0.2
        async with httpx.AsyncClient(base_url=hub.url, headers=hub_auth(hub)) as http:
            raw = await http.post(
                "/ollama/api/generate", json={"model": MODEL, "prompt": "x", "raw": True}
            )
        assert raw.status_code == 400 and "raw" in raw.json()["error"]
