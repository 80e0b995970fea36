"""The Open WebUI v0.1.120 frontend's calls, in the order the browser makes them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.api.conftest import Hub
from tests.fakes.ollama import FakeOllama

TITLE_PROMPT = (
    "Create a concise, 3-5 word phrase as a header for the following query, strictly adhering "
    "to the 3-5 word limit and avoiding the use of the word 'title': {}"
)
AVATAR = "data:image/png;base64," + "iVBORw0KGgo" * 180  # about 2 KB, like the browser's
USER_KEYS = {"token", "token_type", "id", "email", "name", "role", "profile_image_url"}


def _user_message(text: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "parentId": None,
        "childrenIds": [],
        "role": "user",
        "content": text,
        "timestamp": 1714000000,
    }


@dataclass
class Walk:
    """What the browser keeps between calls."""

    http: httpx.AsyncClient
    fake: FakeOllama
    me: dict[str, Any]
    model: str = ""
    chat_id: str = ""
    first: dict[str, Any] = field(default_factory=dict)
    answer: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0


async def _sign_up_and_load(hub: Hub) -> dict[str, Any]:
    """Sign-up, then what every app load fetches without a token."""
    async with hub.client() as anon:
        signup = await anon.post(
            "/api/v1/auths/signup",
            json={
                "name": "Walker",
                "email": f"walker-{uuid.uuid4().hex[:6]}@example.com",
                "password": "pw-walk",
                "profile_image_url": AVATAR,
            },
        )
        assert signup.status_code == 200
        me: dict[str, Any] = signup.json()
        assert set(me) >= USER_KEYS
        assert me["profile_image_url"] == AVATAR and me["role"] in ("admin", "user")
        config = (await anon.get("/api/config")).json()
        assert config["status"] is True and config["version"] == "0.1.120"
        assert all(len(s["title"]) == 2 for s in config["default_prompt_suggestions"])
        changelog = (await anon.get("/api/changelog")).json()
        assert all({"date", "added"} <= set(entry) for entry in changelog.values())
    return me


async def _app_start(walk: Walk) -> None:
    http = walk.http
    assert (await http.get("/api/v1/auths/")).json()["id"] == walk.me["id"]
    tags = (await http.get("/ollama/api/tags")).json()["models"]
    walk.model = next(m["name"] for m in tags if m["name"] == "alpha:latest")
    version = (await http.get("/ollama/api/version")).json()["version"]
    assert tuple(int(p) for p in version.split(".")) >= (0, 1, 16)
    assert isinstance((await http.get("/api/v1/prompts/")).json(), list)


async def _new_chat(walk: Walk) -> None:
    walk.first = _user_message("Why is the sky blue?")
    walk.history = {"messages": {walk.first["id"]: walk.first}, "currentId": walk.first["id"]}
    chat = {
        "id": "",
        "title": "New Chat",
        "models": [walk.model],
        "options": {},
        "messages": [walk.first],
        "history": walk.history,
        "tags": [],
        "timestamp": 1714000000123,
    }
    new = (await walk.http.post("/api/v1/chats/new", json={"chat": chat})).json()
    walk.chat_id, walk.created_at = new["id"], new["created_at"]
    assert new["chat"]["messages"] == [walk.first]
    assert (await walk.http.get("/api/v1/chats/")).json()[0]["id"] == walk.chat_id


async def _stream_reply(walk: Walk) -> None:
    body = {
        "model": walk.model,
        "messages": [
            {"role": "user", "content": walk.first["content"]},
            {"role": "assistant", "content": ""},
        ],
        "options": {},
    }
    stream = await walk.http.post("/ollama/api/chat", json=body)
    lines = [json.loads(line) for line in stream.text.splitlines()]
    text = "".join(line["message"]["content"] for line in lines if not line["done"])
    final = lines[-1]
    assert text == "t0 t1 t2 t3 t4" and final["done"] is True
    # The trailing empty assistant message is the one being written: not forwarded.
    assert walk.fake.chat_requests[-1].json["messages"] == [body["messages"][0]]
    walk.answer = {
        "id": str(uuid.uuid4()),
        "parentId": walk.first["id"],
        "childrenIds": [],
        "role": "assistant",
        "content": text,
        "model": walk.model,
        "done": True,
        "context": None,
        "info": {k: final[k] for k in ("total_duration", "eval_count") if k in final},
        "timestamp": 1714000001,
    }


async def _save_and_reopen(walk: Walk) -> None:
    http, path = walk.http, f"/api/v1/chats/{walk.chat_id}"
    walk.history["messages"][walk.answer["id"]] = walk.answer
    walk.history["currentId"] = walk.answer["id"]
    messages = [walk.first, walk.answer]
    updated = await http.post(path, json={"chat": {"messages": messages, "history": walk.history}})
    assert updated.status_code == 200
    assert updated.json()["chat"]["models"] == [walk.model]  # shallow merge kept it
    assert (await http.get("/api/v1/chats/")).json()[0]["id"] == walk.chat_id
    got = (await http.get(path)).json()
    assert got["id"] == walk.chat_id and got["user_id"] == walk.me["id"]
    assert got["chat"]["messages"][1]["info"] == walk.answer["info"]
    assert got["chat"]["history"] == walk.history
    assert got["archived"] is False and got["share_id"] is None
    assert (await http.get(path + "/tags")).json() == []


async def _title(walk: Walk) -> None:
    http, path = walk.http, f"/api/v1/chats/{walk.chat_id}"
    prompt = TITLE_PROMPT.format(walk.first["content"])
    title_call = await http.post(
        "/ollama/v1/chat/completions",
        json={
            "model": walk.model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": False,
        },
    )
    title = title_call.json()["choices"][0]["message"]["content"]
    assert title == "t0 t1 t2 t3 t4"
    titled = (await http.post(path, json={"chat": {"title": title}})).json()
    assert titled["title"] == title
    assert titled["chat"]["messages"] == [walk.first, walk.answer]
    assert (await http.get("/api/v1/chats/")).json()[0] == {
        "id": walk.chat_id,
        "title": title,
        "updated_at": titled["updated_at"],
        "created_at": walk.created_at,
    }


async def test_frontend_walk(hub: Hub) -> None:
    me = await _sign_up_and_load(hub)
    async with hub.client(me["token"]) as http:
        walk = Walk(http, hub.fake, me)
        for step in (_app_start, _new_chat, _stream_reply, _save_and_reopen, _title):
            await step(walk)


async def test_trailing_slash_forms(hub: Hub) -> None:
    token, _ = await hub.signup("Slash")
    async with hub.client(token) as http:
        for path in ("/api/v1/prompts", "/api/v1/chats", "/api/v1/auths"):
            plain, slashed = await http.get(path), await http.get(path + "/")
            assert plain.status_code == slashed.status_code == 200, path
            assert plain.json() == slashed.json()
        chat_id = (await http.post("/api/v1/chats/new/", json={"chat": {"title": "x"}})).json()[
            "id"
        ]
        assert (await http.get(f"/api/v1/chats/{chat_id}/")).json()["id"] == chat_id
        assert (await http.get("/api/config/")).status_code == 200


async def test_chat_lifecycle(hub: Hub) -> None:
    token, _ = await hub.signup("Life")
    async with hub.client(token) as http:
        created = (
            await http.post(
                "/api/v1/chats/new", json={"chat": {"messages": [], "system": "keep me"}}
            )
        ).json()
        assert created["title"] == "New Chat"
        assert created["chat"] == {"messages": [], "system": "keep me"}
        chat_id = created["id"]
        updated = (
            await http.post(f"/api/v1/chats/{chat_id}", json={"chat": {"title": "Renamed"}})
        ).json()
        assert updated["chat"] == {"messages": [], "system": "keep me", "title": "Renamed"}
        assert updated["updated_at"] >= created["updated_at"]
        for n in range(3):
            await http.post("/api/v1/chats/new", json={"chat": {"title": f"c{n}"}})
        everything = (await http.get("/api/v1/chats/")).json()
        assert sorted(c["title"] for c in everything) == ["Renamed", "c0", "c1", "c2"]
        times = [c["updated_at"] for c in everything]
        assert times == sorted(times, reverse=True)
        assert (await http.get("/api/v1/chats/?skip=1&limit=2")).json() == everything[1:3]
        assert (await http.delete(f"/api/v1/chats/{chat_id}")).json() is True
        missing = await http.get(f"/api/v1/chats/{chat_id}")
        assert missing.status_code == 404 and "detail" in missing.json()


async def test_prompt_routes(hub: Hub) -> None:
    token, me = await hub.signup("Prompter")
    async with hub.client(token) as http:
        body = {"command": "/tldr", "title": "TL;DR", "content": "Summarise: {{CLIPBOARD}}"}
        created = await http.post("/api/v1/prompts/create", json=body)
        assert created.status_code == 200
        item = created.json()
        assert item["command"] == "/tldr" and item["user_id"] == me["id"]
        assert isinstance(item["timestamp"], int)
        again = await http.post("/api/v1/prompts/create", json=body)
        assert again.status_code == 400 and "detail" in again.json()
        assert (await http.get("/api/v1/prompts/command/tldr")).json()["title"] == "TL;DR"
        listed = (await http.get("/api/v1/prompts/")).json()
        assert [p["command"] for p in listed if p["user_id"] == me["id"]] == ["/tldr"]
        changed = await http.post(
            "/api/v1/prompts/command/tldr/update",
            json={"command": "/tldr", "title": "Short", "content": "Shorten: {{CLIPBOARD}}"},
        )
        assert changed.json()["content"] == "Shorten: {{CLIPBOARD}}"

        # The same prompt works as a /command on the Ollama route.
        await http.post(
            "/ollama/api/chat",
            json={"model": "alpha", "messages": [{"role": "user", "content": "/tldr long text"}]},
        )
        assert hub.fake.chat_requests[-1].json["messages"][-1]["content"] == "Shorten: long text"

        assert (await http.delete("/api/v1/prompts/command/tldr/delete")).json() is True
        gone = await http.get("/api/v1/prompts/command/tldr")
        assert gone.status_code == 404 and "detail" in gone.json()
