"""The official `ollama` client against the hub's `/ollama` routes (real sockets, fake Ollama)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import ollama
import pytest

from tests.api.conftest import API_KEY, Hub
from tests.fakes.ollama import FakeOllama

HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "one"},
    {"role": "assistant", "content": "two"},
    {"role": "user", "content": "three"},
]


def client(hub: Hub, token: str = API_KEY) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=hub.ollama_url, headers={"Authorization": f"Bearer {token}"})


async def test_version_and_root(hub: Hub) -> None:
    async with hub.client() as http:
        version = (await http.get("/ollama/api/version")).json()["version"]
        root = await http.get("/ollama/")
        head = await http.head("/ollama/")
        head_tags = await http.head(
            "/ollama/api/tags", headers={"Authorization": f"Bearer {API_KEY}"}
        )
    major, minor, patch = (int(p) for p in version.split("."))
    assert (major, minor, patch) >= (0, 1, 16)
    assert (root.status_code, root.text) == (200, "Ollama is running")
    assert root.headers["content-type"].startswith("text/plain")
    assert head.status_code == 200 and head.content == b""
    assert head_tags.status_code == 200


async def test_list_parses_with_the_official_client(hub: Hub) -> None:
    listed = await client(hub).list()
    names = [m.model for m in listed.models]
    assert set(names) == set(hub.fake.models)
    for model in listed.models:
        assert isinstance(model.modified_at, datetime)
        assert model.modified_at.tzinfo is not None
        assert model.details is not None and model.details.parameter_size
        assert model.digest and model.size


async def test_chat_stream_forwards_the_whole_history(hub: Hub) -> None:
    parts = [
        part
        async for part in await client(hub).chat(
            "gemma3:270m", messages=HISTORY, stream=True, options={"temperature": 0.25}
        )
    ]
    assert "".join(p.message.content or "" for p in parts) == "t0 t1 t2 t3 t4"
    assert [p.done for p in parts].count(True) == 1 and parts[-1].done
    assert parts[-1].done_reason == "stop"
    assert parts[-1].eval_count == 5 and parts[-1].total_duration
    assert all(p.eval_count is None for p in parts[:-1])
    sent = hub.fake.chat_requests[-1].json
    assert sent["messages"] == HISTORY
    assert sent["options"] == {"temperature": 0.25}


async def test_chat_not_streaming(hub: Hub) -> None:
    reply = await client(hub).chat(
        "alpha", messages=[{"role": "user", "content": "hi"}], stream=False
    )
    assert reply.message.role == "assistant"
    assert reply.message.content == "t0 t1 t2 t3 t4"
    assert reply.done and reply.done_reason == "stop" and reply.eval_count == 5
    assert hub.fake.chat_requests[-1].json["model"] == "alpha:latest"


async def test_passthrough_fields_reach_the_backend(hub: Hub) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    await client(hub).chat(
        "alpha:latest",
        messages=[{"role": "user", "content": "json please"}],
        format="json",
        keep_alive="7m",
        tools=tools,
        options={"seed": 42, "num_predict": 9},
    )
    sent = hub.fake.chat_requests[-1].json
    assert sent["format"] == "json"
    assert sent["keep_alive"] == "7m"
    assert sent["tools"] == tools
    assert sent["options"] == {"seed": 42, "num_predict": 9}


async def test_thinking_and_tool_calls_come_through(hub: Hub) -> None:
    parts = [
        p
        async for p in await client(hub).chat(
            "thinker", messages=[{"role": "user", "content": "time?"}], stream=True
        )
    ]
    assert "".join(p.message.thinking or "" for p in parts) == "Let me think."
    assert "".join(p.message.content or "" for p in parts) == "It is noon."
    calls = [c for p in parts for c in (p.message.tool_calls or [])]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_time", {"tz": "UTC"})
    ]


async def test_generate_stream_and_whole(hub: Hub) -> None:
    streamed = [
        p async for p in await client(hub).generate("alpha", prompt="go", system="sys", stream=True)
    ]
    assert "".join(p.response for p in streamed) == "t0 t1 t2 t3 t4"
    assert streamed[-1].done and streamed[-1].done_reason == "stop"
    assert streamed[-1].context == [1, 2, 3]  # the fake's `context`, on the last line only
    assert all(p.context is None for p in streamed[:-1])
    sent = hub.fake.chat_requests[-1]
    assert sent.path == "/api/generate"
    assert (sent.json["prompt"], sent.json["system"]) == ("go", "sys")
    assert "messages" not in sent.json and "raw" not in sent.json
    whole = await client(hub).generate("alpha", prompt="go")
    assert whole.response == "t0 t1 t2 t3 t4" and whole.done
    assert whole.context == [1, 2, 3]


async def test_generate_passes_fill_in_the_middle_and_raw_fields_through(hub: Hub) -> None:
    # Code completion clients (Continue, Twinny…) send suffix and raw: Ollama itself must see
    # them, and a prompt that starts with "/" is code, not a prompt command.
    whole = await client(hub).generate(
        "alpha",
        prompt="/usr/bin/env python\ndef add(a, b):\n",
        suffix="\n    return total\n",
        raw=True,
        template="{{ .Prompt }}",
        context=[7, 8, 9],
        options={"num_predict": 64},
    )
    assert whole.response == "t0 t1 t2 t3 t4"
    sent = hub.fake.chat_requests[-1]
    assert sent.path == "/api/generate"
    assert sent.json["prompt"] == "/usr/bin/env python\ndef add(a, b):\n"
    assert sent.json["suffix"] == "\n    return total\n"
    assert (sent.json["raw"], sent.json["template"]) == (True, "{{ .Prompt }}")
    assert sent.json["context"] == [7, 8, 9]
    assert sent.json["options"] == {"num_predict": 64}
    assert "system" not in sent.json


async def test_show(hub: Hub) -> None:
    shown = await client(hub).show("gemma3:270m")
    assert shown.modelinfo is not None
    assert shown.modelinfo["general.architecture"]
    assert shown.details is not None and shown.details.parameter_size


@pytest.mark.parametrize("call", ["chat", "generate", "show"])
async def test_unknown_model_is_404(hub: Hub, call: str) -> None:
    c = client(hub)
    with pytest.raises(ollama.ResponseError) as raised:
        if call == "chat":
            await c.chat("nope:1b", messages=[{"role": "user", "content": "hi"}])
        elif call == "generate":
            await c.generate("nope:1b", prompt="hi")
        else:
            await c.show("nope:1b")
    assert raised.value.status_code == 404
    assert raised.value.error == "model 'nope:1b' not found"


async def test_mid_stream_error_raises_in_the_client(hub: Hub) -> None:
    seen: list[str] = []
    with pytest.raises(ollama.ResponseError) as raised:
        async for part in await client(hub).chat(
            "broken", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            seen.append(part.message.content or "")
    assert "".join(seen) == "t0 t1 t2"
    assert raised.value.error


async def test_user_token_works_like_the_key(hub: Hub) -> None:
    token, _ = await hub.signup("Tokyo")
    reply = await client(hub, token).chat("alpha", messages=[{"role": "user", "content": "x"}])
    assert reply.message.content == "t0 t1 t2 t3 t4"


async def test_load_request_with_empty_messages_reaches_the_backend(hub: Hub) -> None:
    hub.fake.loaded.pop("alpha:latest", None)
    reply = await client(hub).chat("alpha", messages=[])
    assert reply.done and reply.done_reason == "load"
    sent = hub.fake.chat_requests[-1]
    assert (sent.path, sent.json["model"]) == ("/api/generate", "alpha:latest")
    assert sent.json["prompt"] == ""
    assert "alpha:latest" in hub.fake.loaded


async def test_aliases_are_listed_and_answer_with_or_without_latest(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    routing = {"models": {"quick": [{"backend": "ollama", "model": "gemma3:270m"}]}}
    async with make_hub(fake, routing=routing) as hub:
        c = client(hub)
        listed = {m.model: m for m in (await c.list()).models}
        assert "quick" in listed and "gemma3:270m" in listed
        quick = listed["quick"]
        assert quick.details is not None
        assert quick.details.parameter_size == listed["gemma3:270m"].details.parameter_size  # type: ignore[union-attr]
        for name in ("quick", "quick:latest"):  # stock Open WebUI appends :latest
            reply = await c.chat(name, messages=[{"role": "user", "content": "hi"}])
            assert reply.message.content == "t0 t1 t2 t3 t4"
            assert hub.fake.chat_requests[-1].json["model"] == "gemma3:270m"
            assert reply.model == name


async def test_tags_pass_every_upstream_field_through(hub: Hub) -> None:
    async with hub.client(API_KEY) as http:
        ours = {m["name"]: m for m in (await http.get("/ollama/api/tags")).json()["models"]}
        head = await http.head("/ollama/api/version")
    async with hub.client(base_url=hub.fake.url) as raw:
        upstream = {m["name"]: m for m in (await raw.get("/api/tags")).json()["models"]}
    assert head.status_code == 200
    assert ours == upstream


async def test_a_request_the_model_server_refuses_is_a_400(make_hub: Callable[..., Any]) -> None:
    # Ollama answers 400 for a request it cannot take (a bad `format`, say); retrying or
    # another server would not help, so the client gets a 400 with Ollama's reason, not a 502.
    fake = FakeOllama(["alpha:latest"])
    fake.script("alpha:latest", status=400, status_message="invalid JSON schema in format")
    async with fake, make_hub(fake) as hub:
        with pytest.raises(ollama.ResponseError) as raised:
            await client(hub).chat(
                "alpha", messages=[{"role": "user", "content": "hi"}], format={"type": 7}
            )
    assert raised.value.status_code == 400
    assert "invalid JSON schema in format" in raised.value.error
