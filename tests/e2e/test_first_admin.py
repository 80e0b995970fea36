"""The first web account becomes the one admin, however many sign up at once.

Two real `chathub serve` processes on one MongoDB-wire server race first sign-ups (the claim
must hold across processes, not just inside one), and one process on SQLite does the same.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from tests.e2e.test_serve import Served, hub_env, start_serve, stop
from tests.services.mongo_server import unique_db_name

PER_HUB = 8
ROUNDS = 12


async def _sign_up_at_once(bases: list[str], per_hub: int = PER_HUB) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=60) as http:

        async def one(base: str, n: int) -> dict[str, Any]:
            body = {"name": f"P{n}", "email": f"p{n}@example.com", "password": f"pw-{n}"}
            response = await http.post(f"{base}/api/v1/auths/signup", json=body)
            assert response.status_code == 200, response.text
            user: dict[str, Any] = response.json()
            return user

        jobs = [one(bases[n % len(bases)], n) for n in range(per_hub * len(bases))]
        return list(await asyncio.gather(*jobs))


async def _serve_all(envs: list[dict[str, str]]) -> list[Served]:
    return list(await asyncio.gather(*(asyncio.to_thread(start_serve, env) for env in envs)))


async def test_two_hubs_on_one_mongodb_make_exactly_one_admin(
    tmp_path: Path, mongo_url: str
) -> None:
    database = unique_db_name("race")
    envs = [
        hub_env(
            tmp_path / name,
            HUB_MONGODB_URL=mongo_url,
            HUB_MONGODB_DB=database,
            HUB_OLLAMA_URL="http://127.0.0.1:9",
            HUB_LOG_LEVEL="WARNING",
        )
        for name in ("a", "b")
    ]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    db = client[database]
    hubs = await _serve_all(envs)
    try:
        # Round after round, each hub gets one first sign-up at the same moment (a burst
        # spreads them out: each waits for its password hash). Between rounds the store is
        # emptied so the next pair is "first" again.
        for _ in range(ROUNDS):
            users = await _sign_up_at_once([hub.base for hub in hubs], per_hub=1)
            assert [u["role"] for u in users].count("admin") == 1, users
            await db["users"].delete_many({})
            await db["settings"].delete_many({})
        users = await _sign_up_at_once([hub.base for hub in hubs])
        stored = await db["users"].find({}, {"role": 1}).to_list(None)
    finally:
        for hub in hubs:
            code, out = await asyncio.to_thread(stop, hub)
            assert code == 0, out
        await client.drop_database(database)
        await client.close()
    assert [u["role"] for u in users].count("admin") == 1, users
    assert len(stored) == len(users)
    assert [doc["role"] for doc in stored].count("admin") == 1


async def test_one_hub_on_sqlite_makes_exactly_one_admin(tmp_path: Path) -> None:
    env = hub_env(tmp_path, HUB_OLLAMA_URL="http://127.0.0.1:9", HUB_LOG_LEVEL="WARNING")
    (hub,) = await _serve_all([env])
    try:
        users = await _sign_up_at_once([hub.base])
        async with httpx.AsyncClient(base_url=hub.base) as http:
            admin = next(u for u in users if u["role"] == "admin")
            listed = await http.get(
                "/api/v1/users/", headers={"Authorization": f"Bearer {admin['token']}"}
            )
    finally:
        code, out = await asyncio.to_thread(stop, hub)
        assert code == 0, out
    assert [u["role"] for u in users].count("admin") == 1, users
    assert listed.status_code == 200, listed.text
    assert [u["role"] for u in listed.json()].count("admin") == 1
