"""Byte-level checks of the NDJSON and SSE streams and of error bodies, with raw httpx."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.api.conftest import API_KEY, Hub

AUTH = {"Authorization": f"Bearer {API_KEY}"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
METRICS = {
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
}


async def _raw(hub: Hub, path: str, body: dict[str, Any]) -> tuple[dict[str, str], list[bytes]]:
    """POST and collect the body as the chunks the transport delivered."""
    async with hub.client() as http, http.stream("POST", path, json=body, headers=AUTH) as resp:
        assert resp.status_code == 200
        return dict(resp.headers), [chunk async for chunk in resp.aiter_raw()]


async def test_ndjson_chat_stream_framing(hub: Hub) -> None:
    body = {"model": "alpha:latest", "messages": [{"role": "user", "content": "hi"}]}
    headers, chunks = await _raw(hub, "/ollama/api/chat", body)
    assert headers["content-type"] == "application/x-ndjson"
    assert headers["x-accel-buffering"] == "no"
    assert headers["cache-control"] == "no-cache"
    data = b"".join(chunks)
    assert data.endswith(b"\n") and b"\r" not in data
    lines = [json.loads(line) for line in data.split(b"\n")[:-1]]
    assert all(not line.startswith(b" ") for line in data.split(b"\n"))
    for line in lines:
        assert "id" not in line and "detail" not in line and "error" not in line
        assert RFC3339.match(line["created_at"]), line["created_at"]
        assert line["model"] == "alpha:latest"
    *chunks_, final = lines
    assert chunks_ and all(c["done"] is False for c in chunks_)
    assert "".join(c["message"]["content"] for c in chunks_) == "t0 t1 t2 t3 t4"
    assert all(c["message"]["role"] == "assistant" for c in lines)
    assert all(not METRICS & c.keys() for c in chunks_)
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert {"total_duration", "eval_count", "eval_duration", "prompt_eval_count"} <= final.keys()
    assert all(isinstance(final[k], int) for k in METRICS & final.keys())


async def test_ndjson_generate_framing(hub: Hub) -> None:
    _, chunks = await _raw(hub, "/ollama/api/generate", {"model": "alpha", "prompt": "x"})
    lines = [json.loads(line) for line in b"".join(chunks).splitlines()]
    assert "".join(line["response"] for line in lines) == "t0 t1 t2 t3 t4"
    assert lines[-1]["done"] is True and lines[-1]["response"] == ""
    assert "message" not in lines[0]


async def test_ndjson_mid_stream_error_is_the_last_line(hub: Hub) -> None:
    body = {"model": "broken", "messages": [{"role": "user", "content": "hi"}]}
    _, chunks = await _raw(hub, "/ollama/api/chat", body)
    lines = [json.loads(line) for line in b"".join(chunks).splitlines()]
    assert all(line["done"] is False for line in lines[:-1])
    assert "".join(line["message"]["content"] for line in lines[:-1]) == "t0 t1 t2"
    assert set(lines[-1]) == {"error"} and lines[-1]["error"]


async def test_paced_tokens_are_flushed_one_by_one(hub: Hub) -> None:
    """A token is written as soon as it arrives: separate lines, separate network reads."""
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        hub.client() as http,
        http.stream("POST", "/ollama/api/chat", json=body, headers=AUTH) as resp,
    ):
        reads: list[bytes] = []
        async for raw in resp.aiter_raw():
            reads.append(raw)
            if len(reads) == 4:
                break
    contents = [json.loads(r)["message"]["content"] for r in reads]
    assert contents == ["t0", " t1", " t2", " t3"]


async def test_not_streaming_is_one_json_object(hub: Hub) -> None:
    body = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    async with hub.client() as http:
        resp = await http.post("/ollama/api/chat", json=body, headers=AUTH)
    assert resp.headers["content-type"] == "application/json"
    reply = resp.json()
    assert reply["message"]["content"] == "t0 t1 t2 t3 t4" and reply["done"] is True
    assert reply["done_reason"] == "stop" and reply["eval_count"] == 5


async def test_sse_framing(hub: Hub) -> None:
    body = {
        "model": "alpha",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers, chunks = await _raw(hub, "/ollama/v1/chat/completions", body)
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-accel-buffering"] == "no"
    data = b"".join(chunks)
    assert data.endswith(b"data: [DONE]\n\n")
    events = data.split(b"\n\n")[:-1]
    assert all(e.startswith(b"data: ") and b"\n" not in e for e in events)
    objects = [json.loads(e[6:]) for e in events[:-1]]
    assert len({o["id"] for o in objects}) == 1 and objects[0]["id"].startswith("chatcmpl-")
    assert len({o["created"] for o in objects}) == 1
    assert objects[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in o["choices"][0]["delta"] for o in objects[1:-2])
    finish, usage = objects[-2], objects[-1]
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 5
    assert all(o["object"] == "chat.completion.chunk" for o in objects)


async def test_sse_mid_stream_error(hub: Hub) -> None:
    body = {"model": "broken", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    _, chunks = await _raw(hub, "/ollama/v1/chat/completions", body)
    events = b"".join(chunks).split(b"\n\n")[:-1]
    assert events[-1] == b"data: [DONE]"  # the error event, then the end of the stream
    error = json.loads(events[-2][6:])
    assert error["error"]["message"] and error["error"]["type"]


@pytest.mark.parametrize(
    ("path", "body", "status", "shape"),
    [
        ("/ollama/api/chat", {"model": "zzz", "messages": []}, 404, "ollama"),
        ("/ollama/api/show", {"model": "zzz"}, 404, "ollama"),
        ("/ollama/api/chat", {"messages": []}, 400, "ollama"),
        ("/ollama/v1/chat/completions", {"model": "zzz", "messages": []}, 404, "openai"),
        ("/ollama/v1/chat/completions", {"messages": "x"}, 400, "openai"),
        ("/api/v1/chats/new", {"chat": 5}, 401, "webui"),
    ],
)
async def test_error_shapes_per_prefix(
    hub: Hub, path: str, body: dict[str, Any], status: int, shape: str
) -> None:
    async with hub.client() as http:
        resp = await http.post(path, json=body, headers=AUTH)
    assert resp.status_code == status
    payload = resp.json()
    if shape == "ollama":
        assert list(payload) == ["error"] and isinstance(payload["error"], str)
    elif shape == "openai":
        assert set(payload["error"]) == {"message", "type", "param", "code"}
    else:
        assert list(payload) == ["detail"]


async def test_unmatched_paths_keep_their_family_shape(hub: Hub) -> None:
    async with hub.client() as http:
        native = await http.get("/ollama/api/nothing", headers=AUTH)
        compat = await http.get("/ollama/v1/nothing", headers=AUTH)
        webui = await http.get("/api/v1/nothing")
    assert (native.status_code, list(native.json())) == (404, ["error"])
    assert (compat.status_code, list(compat.json()["error"])[:2]) == (404, ["message", "type"])
    assert (webui.status_code, list(webui.json())) == (404, ["detail"])


async def test_openapi_describes_every_route(hub: Hub) -> None:
    async with hub.client() as http:
        schema = (await http.get("/schema/openapi.json")).json()
    paths = set(schema["paths"])
    for expected in [
        "/ollama",
        "/ollama/api/version",
        "/ollama/api/tags",
        "/ollama/api/chat",
        "/ollama/api/generate",
        "/ollama/api/show",
        "/ollama/api/ps",
        "/ollama/v1/chat/completions",
        "/ollama/v1/models",
        "/api/config",
        "/api/changelog",
        "/api/version",
        "/api/v1/auths",
        "/api/v1/auths/signup",
        "/api/v1/auths/signin",
        "/api/v1/prompts",
        "/api/v1/prompts/create",
        "/api/v1/prompts/command/{command}",
        "/api/v1/prompts/command/{command}/update",
        "/api/v1/prompts/command/{command}/delete",
        "/api/v1/chats",
        "/api/v1/chats/new",
        "/api/v1/chats/{chat_id}",
        "/api/v1/chats/{chat_id}/tags",
        "/api/v1/configs/default/models",
    ]:
        assert expected in paths, expected
