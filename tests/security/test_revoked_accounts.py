"""A deleted or disabled user's token stops working (issue 17, item 7): at once in the process
that made the change, and within the user cache's lifetime (README: 5 s) in another process:
here `chathub users disable|delete` run beside a real `chathub serve` on the same SQLite file."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from hub.core.models import PlatformUser
from hub.core.stores.fronted import USER_CACHE_SECONDS, CachedUsers
from hub.core.stores.sqlite import open_sqlite
from tests.support.served import serve_env, served_hub, write_config

PASSWORD = "correct horse battery staple"


async def _signup(client: httpx.AsyncClient, name: str) -> tuple[str, dict[str, Any]]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    body = {"name": name, "email": email, "password": PASSWORD}
    response = await client.post("/api/v1/auths/signup", json=body)
    assert response.status_code == 200, response.text
    user = response.json()
    return user["token"], user


async def _cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", *args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def test_accounts_changed_from_another_process_are_refused_within_the_cache_time(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "hub.yaml", {"webui": {"default_role": "user"}})
    env = serve_env(tmp_path / "data", HUB_CONFIG=config)
    async with served_hub(env, tmp_path) as hub, httpx.AsyncClient(base_url=hub.url) as http:
        await _signup(http, "Root")  # the first account is the admin
        tokens = {}
        for name in ("Paused", "Leaver"):
            token, me = await _signup(http, name)
            tokens[name] = (token, me["email"])

        async def status(name: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens[name][0]}"}
            return await http.get("/api/v1/chats/", headers=headers)

        for name in tokens:
            assert (await status(name)).status_code == 200  # now in the hub's user cache
        assert (await _cli(env, tmp_path, "users", "disable", tokens["Paused"][1]))[0] == 0
        assert (await _cli(env, tmp_path, "users", "delete", tokens["Leaver"][1], "--yes"))[0] == 0

        refused: dict[str, httpx.Response] = {}

        for _ in range(300):  # the cache holds users 5 s; this gives up after about a minute
            for name in set(tokens) - set(refused):
                response = await status(name)
                if response.status_code != 200:
                    refused[name] = response
            if len(refused) == len(tokens):
                break
            await asyncio.sleep(0.2)
        for name in tokens:  # and it stays so: no cache refill brings the user back
            assert (await status(name)).status_code == 401
    assert refused["Paused"].status_code == 401
    assert "disabled" in refused["Paused"].json()["detail"]
    assert refused["Leaver"].status_code == 401


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_another_process_sees_a_disabled_or_deleted_user_once_its_cache_entry_expires(
    tmp_path: Path,
) -> None:
    """Two processes' caches over one store: the one that changes the user sees it at once;
    the other serves its entry until `USER_CACHE_SECONDS` have passed, not one moment longer."""
    store = await open_sqlite(tmp_path)
    try:
        clock = Clock()
        here = CachedUsers(store.users, clock=clock)
        there = CachedUsers(store.users, clock=clock)
        paused = await here.for_identity(PlatformUser("telegram", "1", "Paused"))
        leaver = await here.for_identity(PlatformUser("telegram", "2", "Leaver"))
        for user in (paused, leaver):
            assert await there.get(user.id) == user  # cached there from now on
        assert await here.set_disabled(paused.id, True)
        assert await here.delete(leaver.id)
        seen = await here.get(paused.id)
        assert seen is not None and seen.disabled
        assert await here.get(leaver.id) is None

        clock.now += USER_CACHE_SECONDS - 0.001
        stale = await there.get(paused.id)
        assert stale is not None and not stale.disabled
        assert await there.get(leaver.id) is not None
        clock.now += 0.002
        fresh = await there.get(paused.id)
        assert fresh is not None and fresh.disabled
        assert await there.get(leaver.id) is None
    finally:
        await store.aclose()
