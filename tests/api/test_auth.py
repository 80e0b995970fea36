"""Accounts, roles, tokens, API keys and ownership (IDOR) over real HTTP."""

from __future__ import annotations

import base64
import json
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from hub.api.auth import load_jwt_secret
from hub.settings import HubSettings
from tests.api.conftest import API_KEY, JWT_SECRET, Hub
from tests.fakes.ollama import FakeOllama


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tokens(user_id: str) -> dict[str, str]:
    now = int(time.time())
    return {
        "expired": jwt.encode({"id": user_id, "exp": now - 5}, JWT_SECRET, algorithm="HS256"),
        "wrong secret": jwt.encode(
            {"id": user_id, "exp": now + 60}, "not-the-secret-but-just-as-long-0123456789"
        ),
        "alg none": ".".join([_b64({"alg": "none"}), _b64({"id": user_id, "exp": now + 60}), ""]),
        "no exp": jwt.encode({"id": user_id}, JWT_SECRET, algorithm="HS256"),
        "no id": jwt.encode({"exp": now + 60}, JWT_SECRET, algorithm="HS256"),
        "unknown user": jwt.encode({"id": "ghost", "exp": now + 60}, JWT_SECRET),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize(
    ("path", "key"),
    [("/api/v1/chats/", "detail"), ("/api/v1/auths/", "detail"), ("/ollama/api/tags", "error")],
)
async def test_bad_tokens_are_refused(hub: Hub, path: str, key: str) -> None:
    token, me = await hub.signup("Tok")
    async with hub.client() as http:
        assert (
            await http.get(path, headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
        missing = await http.get(path)
        assert missing.status_code == 401 and list(missing.json()) == [key]
        for name, bad in _tokens(me["id"]).items():
            resp = await http.get(path, headers={"Authorization": f"Bearer {bad}"})
            assert resp.status_code == 401, name
            assert list(resp.json()) == [key], name


async def test_bad_token_on_openai_routes_has_openai_shape(hub: Hub) -> None:
    async with hub.client() as http:
        resp = await http.get("/ollama/v1/models", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "authentication_error"


async def test_token_cookie_is_accepted(hub: Hub) -> None:
    token, me = await hub.signup("Cookie")
    async with hub.client(cookies={"token": token}) as http:
        assert (await http.get("/api/v1/auths/")).json()["id"] == me["id"]


async def test_api_key_only_on_ollama_routes(hub: Hub) -> None:
    key = {"Authorization": f"Bearer {API_KEY}"}
    async with hub.client() as http:
        assert (await http.get("/ollama/api/tags", headers=key)).status_code == 200
        assert (await http.get("/ollama/v1/models", headers=key)).status_code == 200
        for path in ("/api/v1/chats/", "/api/v1/prompts/", "/api/v1/auths/"):
            refused = await http.get(path, headers=key)
            assert refused.status_code == 401 and "detail" in refused.json(), path
        wrong = await http.get("/ollama/api/tags", headers={"Authorization": "Bearer sk-nope"})
        assert wrong.status_code == 401 and "error" in wrong.json()


async def test_signin(hub: Hub) -> None:
    _, me = await hub.signup("Sign", password="s3cret pass")
    async with hub.client() as http:
        good = await http.post(
            "/api/v1/auths/signin", json={"email": me["email"].upper(), "password": "s3cret pass"}
        )
        assert good.status_code == 200
        assert good.json()["id"] == me["id"] and good.json()["token"]
        for body in (
            {"email": me["email"], "password": "wrong"},
            {"email": "nobody@example.com", "password": "s3cret pass"},
        ):
            bad = await http.post("/api/v1/auths/signin", json=body)
            assert bad.status_code == 400 and "detail" in bad.json()
        taken = await http.post(
            "/api/v1/auths/signup",
            json={"name": "Again", "email": me["email"], "password": "x"},
        )
        assert taken.status_code == 400 and "detail" in taken.json()
        invalid = await http.post(
            "/api/v1/auths/signup", json={"name": "X", "email": "no-at-sign", "password": "x"}
        )
        assert invalid.status_code == 400


async def test_users_never_see_each_others_chats(hub: Hub) -> None:
    token_a, _ = await hub.signup("Alice")
    token_b, _ = await hub.signup("Bob")
    async with hub.client(token_a) as alice, hub.client(token_b) as bob:
        chat = (
            await alice.post("/api/v1/chats/new", json={"chat": {"title": "secret", "n": 1}})
        ).json()
        path = f"/api/v1/chats/{chat['id']}"
        for resp in (
            await bob.get(path),
            await bob.post(path, json={"chat": {"title": "pwned"}}),
            await bob.delete(path),
            await bob.get(path + "/tags"),
        ):
            assert resp.status_code in (401, 404)
            assert "secret" not in resp.text and list(resp.json()) == ["detail"]
        assert all(c["id"] != chat["id"] for c in (await bob.get("/api/v1/chats/")).json())
        still = (await alice.get(path)).json()
        assert still["title"] == "secret" and still["chat"] == {"title": "secret", "n": 1}


async def test_users_never_see_each_others_prompts(hub: Hub) -> None:
    token_a, me_a = await hub.signup("Alma")
    token_b, _ = await hub.signup("Bert")
    command = f"/mine{int(time.time() * 1000) % 100000}"
    bare = command[1:]
    async with hub.client(token_a) as alma, hub.client(token_b) as bert:
        made = await alma.post(
            "/api/v1/prompts/create", json={"command": command, "title": "t", "content": "c"}
        )
        assert made.status_code == 200
        assert all(p["command"] != command for p in (await bert.get("/api/v1/prompts/")).json())
        assert (await bert.get(f"/api/v1/prompts/command/{bare}")).status_code == 404
        update = await bert.post(
            f"/api/v1/prompts/command/{bare}/update",
            json={"command": command, "title": "x", "content": "pwned"},
        )
        assert update.status_code == 404
        assert (await bert.delete(f"/api/v1/prompts/command/{bare}/delete")).status_code == 404
        kept = (await alma.get(f"/api/v1/prompts/command/{bare}")).json()
        assert kept["content"] == "c" and kept["user_id"] == me_a["id"]


async def test_roles_first_admin_then_default(
    make_hub: Callable[..., Any], fake: FakeOllama
) -> None:
    async with make_hub(fake) as hub:
        admin_token, admin = await hub.signup("First")
        user_token, user = await hub.signup("Second")
        assert (admin["role"], user["role"]) == ("admin", "user")
        async with hub.client(admin_token) as http:
            resp = await http.post(
                "/api/v1/configs/default/models", json={"models": "alpha:latest, gemma3:270m"}
            )
            assert resp.status_code == 200 and resp.json() == "alpha:latest,gemma3:270m"
        async with hub.client(user_token) as http:
            refused = await http.post("/api/v1/configs/default/models", json={"models": "x"})
            assert refused.status_code == 403 and "detail" in refused.json()
            config = (await http.get("/api/config")).json()
        assert config["default_models"] == "alpha:latest,gemma3:270m"


async def test_pending_users_wait(make_hub: Callable[..., Any], fake: FakeOllama) -> None:
    overrides = {"webui": {"default_role": "pending"}}
    async with make_hub(fake, **overrides) as hub:
        await hub.signup("Boss")
        token, me = await hub.signup("Newbie")
        assert me["role"] == "pending"
        async with hub.client(token) as http:
            assert (await http.get("/api/v1/auths/")).json()["role"] == "pending"
            for method, path, body in [
                ("GET", "/api/v1/chats/", None),
                ("POST", "/api/v1/chats/new", {"chat": {}}),
                ("GET", "/api/v1/prompts/", None),
                ("POST", "/ollama/api/chat", {"model": "alpha", "messages": []}),
                ("POST", "/ollama/v1/chat/completions", {"model": "alpha", "messages": []}),
            ]:
                resp = await http.request(method, path, json=body)
                assert resp.status_code in (401, 403), path


def test_jwt_secret_generated_once_with_private_mode(tmp_path: Path) -> None:
    settings = HubSettings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    first = load_jwt_secret(settings)
    path = tmp_path / "data" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and load_jwt_secret(settings) == first
    configured = HubSettings(_env_file=None, data_dir=tmp_path, jwt_secret="from-env")  # type: ignore[call-arg]
    assert load_jwt_secret(configured) == "from-env"
