"""The Open WebUI v0.1.120 admin panel's routes, over real HTTP on a hub whose new accounts
wait for approval (`webui.default_role: pending`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.settings import WebUISettings
from tests.api.conftest import API_KEY, Hub, hub_settings, running_hub
from tests.fakes.ollama import FakeOllama

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
async def admin_hub(
    fake: FakeOllama, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Hub, str]]:
    settings = hub_settings(
        tmp_path_factory.mktemp("admin"), fake, webui=WebUISettings(default_role="pending")
    )
    async with running_hub(settings, fake) as hub:
        token, first = await hub.signup("Root")
        assert first["role"] == "admin"
        yield hub, token


async def _user(hub: Hub, admin: str, name: str, role: str = "user") -> tuple[str, dict[str, Any]]:
    """A new account, approved as `role` unless `pending` is wanted."""
    token, me = await hub.signup(name)
    assert me["role"] == "pending"
    if role != "pending":
        async with hub.client(admin) as http:
            changed = await http.post(
                "/api/v1/users/update/role", json={"id": me["id"], "role": role}
            )
        assert changed.status_code == 200, changed.text
    return token, me


async def test_admin_lists_every_user_in_open_webui_shape(admin_hub: tuple[Hub, str]) -> None:
    hub, admin = admin_hub
    _, me = await _user(hub, admin, "Lister")
    async with hub.client(admin) as http:
        listed = await http.get("/api/v1/users/")
        async with hub.client(API_KEY) as key:
            assert (await key.get("/ollama/api/tags")).status_code == 200
        again = await http.get("/api/v1/users")
    assert listed.status_code == 200
    item = next(u for u in listed.json() if u["id"] == me["id"])
    assert {"id", "name", "email", "role", "profile_image_url", "timestamp"} <= set(item)
    assert (item["email"], item["role"], item["disabled"]) == (me["email"], "user", False)
    assert isinstance(item["timestamp"], int)
    # The API key acts as a user of its own, listed with its fingerprint identity.
    keyed = [u for u in again.json() if any(i.startswith("api-key:") for i in u["identities"])]
    assert len(keyed) == 1 and keyed[0]["email"] == ""


async def test_pending_account_is_approved_and_can_chat_at_once(
    admin_hub: tuple[Hub, str],
) -> None:
    hub, admin = admin_hub
    token, me = await _user(hub, admin, "Waiting", role="pending")
    async with hub.client(token) as waiting, hub.client(admin) as root:
        assert (await waiting.get("/api/v1/chats/")).status_code == 403
        assert (await waiting.get("/api/v1/auths/")).json()["role"] == "pending"
        approved = await root.post(
            "/api/v1/users/update/role", json={"id": me["id"], "role": "user"}
        )
        assert approved.status_code == 200 and approved.json()["role"] == "user"
        assert (await waiting.get("/api/v1/chats/")).status_code == 200
        assert (await waiting.get("/api/v1/auths/")).json()["role"] == "user"


async def test_users_cannot_change_roles_and_nobody_raises_their_own(
    admin_hub: tuple[Hub, str],
) -> None:
    hub, admin = admin_hub
    token, me = await _user(hub, admin, "Climber")
    _, other = await _user(hub, admin, "Other")
    root_id = (await _me(hub, admin))["id"]
    async with hub.client(token) as user, hub.client(admin) as root:
        for target in (me["id"], other["id"]):
            refused = await user.post(
                "/api/v1/users/update/role", json={"id": target, "role": "admin"}
            )
            assert refused.status_code == 403 and "detail" in refused.json()
        for path in (
            "/api/v1/users/",
            "/api/v1/auths/signup/enabled",
            "/api/v1/users/permissions/user",
        ):
            assert (await user.get(path)).status_code == 403, path
        sneaky = await user.post(
            "/api/v1/auths/update/profile", json={"name": "Climber", "role": "admin"}
        )
        assert sneaky.status_code == 200 and sneaky.json()["role"] == "user"
        own = await root.post("/api/v1/users/update/role", json={"id": root_id, "role": "user"})
        assert own.status_code == 403
        bad = await root.post("/api/v1/users/update/role", json={"id": me["id"], "role": "god"})
        assert bad.status_code == 400
        ghost = await root.post("/api/v1/users/update/role", json={"id": "ghost", "role": "user"})
        assert ghost.status_code == 404
    assert (await _me(hub, token))["role"] == "user"
    assert (await _me(hub, admin))["role"] == "admin"


async def _me(hub: Hub, token: str) -> dict[str, Any]:
    async with hub.client(token) as http:
        response = await http.get("/api/v1/auths/")
    assert response.status_code == 200, response.text
    me: dict[str, Any] = response.json()
    return me


async def test_a_second_admin_cannot_demote_the_first(admin_hub: tuple[Hub, str]) -> None:
    hub, admin = admin_hub
    token, _ = await _user(hub, admin, "Deputy", role="admin")
    root_id = (await _me(hub, admin))["id"]
    async with hub.client(token) as deputy:
        refused = await deputy.post(
            "/api/v1/users/update/role", json={"id": root_id, "role": "pending"}
        )
        assert refused.status_code == 403
        assert (
            await deputy.delete(f"/api/v1/users/{(await _me(hub, token))['id']}")
        ).status_code == 403


async def test_delete_takes_effect_at_once(admin_hub: tuple[Hub, str]) -> None:
    hub, admin = admin_hub
    token, me = await _user(hub, admin, "Leaver")
    async with hub.client(token) as leaver, hub.client(admin) as root:
        made = await leaver.post("/api/v1/chats/new", json={"chat": {"title": "mine"}})
        assert made.status_code == 200
        assert (await leaver.get("/api/v1/chats/")).status_code == 200
        deleted = await root.delete(f"/api/v1/users/{me['id']}")
        assert deleted.status_code == 200 and deleted.json() is True
        assert (await leaver.get("/api/v1/chats/")).status_code == 401
        assert all(u["id"] != me["id"] for u in (await root.get("/api/v1/users/")).json())
        assert (await root.delete(f"/api/v1/users/{me['id']}")).status_code == 404
        signin = await root.post(
            "/api/v1/auths/signin", json={"email": me["email"], "password": PASSWORD}
        )
        assert signin.status_code == 400


async def test_disabling_takes_effect_at_once(admin_hub: tuple[Hub, str]) -> None:
    hub, admin = admin_hub
    token, me = await _user(hub, admin, "Paused")
    users = hub.app.state.services.stores.users
    async with hub.client(token) as paused, hub.client() as anyone:
        assert (await paused.get("/api/v1/chats/")).status_code == 200
        await users.set_disabled(me["id"], True)
        refused = await paused.get("/api/v1/chats/")
        assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
        signin = await anyone.post(
            "/api/v1/auths/signin", json={"email": me["email"], "password": PASSWORD}
        )
        assert signin.status_code == 403 and "disabled" in signin.json()["detail"]
        await users.set_disabled(me["id"], False)
        assert (await paused.get("/api/v1/chats/")).status_code == 200


async def test_a_disabled_api_key_is_refused(admin_hub: tuple[Hub, str]) -> None:
    hub, _ = admin_hub
    users = hub.app.state.services.stores.users
    async with hub.client(API_KEY) as key:
        assert (await key.get("/ollama/api/tags")).status_code == 200
        principal = next(i for i in await users.identities() if i.platform == "api-key")
        await users.set_disabled(principal.user_id, True)
        try:
            refused = await key.get("/ollama/api/tags")
            assert refused.status_code == 401 and "disabled" in refused.json()["error"]
        finally:
            await users.set_disabled(principal.user_id, False)
        assert (await key.get("/ollama/api/tags")).status_code == 200


async def test_toggle_sign_up(admin_hub: tuple[Hub, str]) -> None:
    hub, admin = admin_hub
    async with hub.client(admin) as root, hub.client() as anyone:
        assert (await root.get("/api/v1/auths/signup/enabled")).json() is True
        assert (await root.get("/api/v1/auths/signup/enabled/toggle")).json() is False
        try:
            assert (await root.get("/api/v1/auths/signup/enabled")).json() is False
            refused = await anyone.post(
                "/api/v1/auths/signup",
                json={"name": "Late", "email": "late@example.com", "password": "x"},
            )
            assert refused.status_code == 403 and "detail" in refused.json()
        finally:
            assert (await root.get("/api/v1/auths/signup/enabled/toggle")).json() is True
    await hub.signup("Welcome")


async def test_default_role_of_new_accounts(admin_hub: tuple[Hub, str]) -> None:
    hub, admin = admin_hub
    async with hub.client(admin) as root:
        assert (await root.get("/api/v1/auths/signup/user/role")).json() == "pending"
        chosen = await root.post("/api/v1/auths/signup/user/role", json={"role": "user"})
        assert chosen.status_code == 200 and chosen.json() == "user"
        try:
            _, newcomer = await hub.signup("Straight")
            assert newcomer["role"] == "user"
            refused = await root.post("/api/v1/auths/signup/user/role", json={"role": "admin"})
            assert refused.status_code == 400
        finally:
            await root.post("/api/v1/auths/signup/user/role", json={"role": "pending"})
    _, later = await hub.signup("Queued")
    assert later["role"] == "pending"


async def test_permissions_decide_whether_users_delete_chats(admin_hub: tuple[Hub, str]) -> None:
    hub, admin = admin_hub
    token, _ = await _user(hub, admin, "Keeper")
    async with hub.client(admin) as root, hub.client(token) as user:
        assert (await root.get("/api/v1/users/permissions/user")).json() == {
            "chat": {"deletion": True}
        }
        off = {"chat": {"deletion": False}}
        assert (await root.post("/api/v1/users/permissions/user", json=off)).json() == off
        try:
            chat = (await user.post("/api/v1/chats/new", json={"chat": {"title": "k"}})).json()
            refused = await user.delete(f"/api/v1/chats/{chat['id']}")
            assert refused.status_code == 403
            assert (await user.get(f"/api/v1/chats/{chat['id']}")).status_code == 200
            own = (await root.post("/api/v1/chats/new", json={"chat": {"title": "r"}})).json()
            assert (await root.delete(f"/api/v1/chats/{own['id']}")).status_code == 200
            bad = await root.post("/api/v1/users/permissions/user", json={"chat": "no"})
            assert bad.status_code == 400
        finally:
            on = {"chat": {"deletion": True}}
            await root.post("/api/v1/users/permissions/user", json=on)
        assert (await user.delete(f"/api/v1/chats/{chat['id']}")).status_code == 200


async def test_own_profile_and_password(admin_hub: tuple[Hub, str]) -> None:
    hub, admin = admin_hub
    token, me = await _user(hub, admin, "Self")
    async with hub.client(token) as user, hub.client() as anyone:
        renamed = await user.post(
            "/api/v1/auths/update/profile", json={"name": "Self B", "profile_image_url": "/b.png"}
        )
        assert renamed.status_code == 200
        assert (renamed.json()["name"], renamed.json()["profile_image_url"]) == ("Self B", "/b.png")
        wrong = await user.post(
            "/api/v1/auths/update/password", json={"password": "nope", "new_password": "n3w"}
        )
        assert wrong.status_code == 400
        right = await user.post(
            "/api/v1/auths/update/password", json={"password": PASSWORD, "new_password": "n3w"}
        )
        assert right.status_code == 200 and right.json() is True
        for password, status in ((PASSWORD, 400), ("n3w", 200)):
            signin = await anyone.post(
                "/api/v1/auths/signin", json={"email": me["email"], "password": password}
            )
            assert signin.status_code == status


async def test_admin_edits_a_user(admin_hub: tuple[Hub, str]) -> None:
    hub, admin = admin_hub
    _, me = await _user(hub, admin, "Edited")
    _, other = await _user(hub, admin, "Taken")
    async with hub.client(admin) as root, hub.client() as anyone:
        body = {
            "name": "Edited B",
            "email": "edited.b@example.com",
            "profile_image_url": "/e.png",
            "password": "s3t by admin",
        }
        edited = await root.post(f"/api/v1/users/{me['id']}/update", json=body)
        assert edited.status_code == 200, edited.text
        assert (edited.json()["name"], edited.json()["email"]) == ("Edited B", body["email"])
        signin = await anyone.post(
            "/api/v1/auths/signin", json={"email": body["email"], "password": body["password"]}
        )
        assert signin.status_code == 200
        taken = await root.post(
            f"/api/v1/users/{me['id']}/update", json={**body, "email": other["email"]}
        )
        assert taken.status_code == 400 and "another account" in taken.json()["detail"]
        missing = await root.post("/api/v1/users/ghost/update", json=body)
        assert missing.status_code == 404
        malformed = await root.post(f"/api/v1/users/{me['id']}/update", json={"email": 3})
        assert malformed.status_code == 400
