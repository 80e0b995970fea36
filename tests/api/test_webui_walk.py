"""The Open WebUI v0.1.120 frontend's calls, in the order the browser makes them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.api.conftest import Hub

TITLE_PROMPT = (
    "Create a concise, 3-5 word phrase as a header for the following query, strictly adhering "
    "to the 3-5 word limit and avoiding the use of the word 'title': {}"
)
AVATAR = "data:image/png;base64," + "iVBORw0KGgo" * 180  # about 2 KB, like the browser's


def _user_message(text: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "parentId": None,
        "childrenIds": [],
        "role": "user",
        "content": text,
        "timestamp": 1714000000,
    }


async def test_frontend_walk(hub: Hub) -> None:
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
        me = signup.json()
        assert {"token", "token_type", "id", "email", "name", "role", "profile_image_url"} <= set(
            me
        )
        assert me["profile_image_url"] == AVATAR and me["role"] in ("admin", "user")
        config = (await anon.get("/api/config")).json()
        assert config["status"] is True and config["version"] == "0.1.120"
        assert all(len(s["title"]) == 2 for s in config["default_prompt_suggestions"])
        changelog = (await anon.get("/api/changelog")).json()
        assert all({"date", "added"} <= set(entry) for entry in changelog.values())

    async with hub.client(me["token"]) as http:
        assert (await http.get("/api/v1/auths/")).json()["id"] == me["id"]
        tags = (await http.get("/ollama/api/tags")).json()["models"]
        model = next(m["name"] for m in tags if m["name"] == "alpha:latest")
        version = (await http.get("/ollama/api/version")).json()["version"]
        assert tuple(int(p) for p in version.split(".")) >= (0, 1, 16)
        assert isinstance((await http.get("/api/v1/prompts/")).json(), list)

        first = _user_message("Why is the sky blue?")
        history = {"messages": {first["id"]: first}, "currentId": first["id"]}
        new = await http.post(
            "/api/v1/chats/new",
            json={
                "chat": {
                    "id": "",
                    "title": "New Chat",
                    "models": [model],
                    "options": {},
                    "messages": [first],
                    "history": history,
                    "tags": [],
                    "timestamp": 1714000000123,
                }
            },
        )
        chat_id = new.json()["id"]
        assert new.json()["chat"]["messages"] == [first]
        sidebar = (await http.get("/api/v1/chats/")).json()
        assert sidebar[0]["id"] == chat_id

        stream = await http.post(
            "/ollama/api/chat",
            json={
                "model": model,
                "messages": [
                    {"role": "user", "content": first["content"]},
                    {"role": "assistant", "content": ""},
                ],
                "options": {},
            },
        )
        lines = [json.loads(line) for line in stream.text.splitlines()]
        text = "".join(line["message"]["content"] for line in lines if not line["done"])
        final = lines[-1]
        assert text == "t0 t1 t2 t3 t4" and final["done"] is True
        # The trailing empty assistant message is the one being written: not forwarded.
        assert hub.fake.chat_requests[-1].json["messages"] == [
            {"role": "user", "content": first["content"]}
        ]

        info = {k: final[k] for k in ("total_duration", "eval_count") if k in final}
        answer = {
            "id": str(uuid.uuid4()),
            "parentId": first["id"],
            "childrenIds": [],
            "role": "assistant",
            "content": text,
            "model": model,
            "done": True,
            "context": None,
            "info": info,
            "timestamp": 1714000001,
        }
        history["messages"][answer["id"]] = answer
        history["currentId"] = answer["id"]
        updated = await http.post(
            f"/api/v1/chats/{chat_id}",
            json={"chat": {"messages": [first, answer], "history": history}},
        )
        assert updated.status_code == 200
        assert updated.json()["chat"]["models"] == [model]  # shallow merge kept it
        assert (await http.get("/api/v1/chats/")).json()[0]["id"] == chat_id

        got = (await http.get(f"/api/v1/chats/{chat_id}")).json()
        assert got["id"] == chat_id and got["user_id"] == me["id"]
        assert got["chat"]["messages"][1]["info"] == info
        assert got["chat"]["history"] == history
        assert got["archived"] is False and got["share_id"] is None
        assert (await http.get(f"/api/v1/chats/{chat_id}/tags")).json() == []

        title_call = await http.post(
            "/ollama/v1/chat/completions",
            json={
                "model": model,
                "messages": [{"role": "user", "content": TITLE_PROMPT.format(first["content"])}],
                "stream": False,
            },
        )
        title = title_call.json()["choices"][0]["message"]["content"]
        assert title == "t0 t1 t2 t3 t4"
        titled = await http.post(f"/api/v1/chats/{chat_id}", json={"chat": {"title": title}})
        assert titled.json()["title"] == title
        assert titled.json()["chat"]["messages"] == [first, answer]
        listed = (await http.get("/api/v1/chats/")).json()
        assert listed[0] == {
            "id": chat_id,
            "title": title,
            "updated_at": titled.json()["updated_at"],
            "created_at": got["created_at"],
        }


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
