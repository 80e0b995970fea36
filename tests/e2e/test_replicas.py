"""Replicas of one hub (real `chathub serve` processes) on one Redis and one MongoDB-wire
server keep the promises one process makes: one `max_concurrency` for all, one fair queue,
changes seen everywhere at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.api.test_jobs import Receiver
from tests.e2e.replicas import KEYS, Replica, bearer, replica_set, routing, shared_env
from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_wire import numbered_tokens
from tests.support.wait import until

MODEL = "alpha:latest"


@pytest.fixture
async def ollama() -> AsyncIterator[FakeOllama]:
    async with FakeOllama([MODEL]) as fake:
        yield fake


def chat(text: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": False}


async def ask(client: httpx.AsyncClient, replica: Replica, key: str, text: str) -> int:
    answer = await client.post(
        f"{replica.base}/ollama/api/chat", json=chat(text), headers=bearer(key), timeout=60
    )
    return answer.status_code


async def waiting_on(client: httpx.AsyncClient, replica: Replica) -> int:
    """Requests waiting for a backend slot on `replica` (its /metrics)."""
    text = (await client.get(f"{replica.base}/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("chathub_queue_waiting"))
    return int(float(line.split()[-1]))


async def queued(client: httpx.AsyncClient, replica: Replica, count: int) -> None:
    """Wait until `count` requests wait for a slot on `replica`."""
    for _ in range(3000):
        if await waiting_on(client, replica) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} requests never waited on {replica.base}")


async def test_one_max_concurrency_holds_over_three_replicas(
    tmp_path: Path, redis_url: str, mongo_url: str, ollama: FakeOllama
) -> None:
    ollama.script(MODEL, token_count=10, tokens_per_second=100)
    env = shared_env(redis_url, mongo_url)
    with replica_set(tmp_path, env, routing(ollama.url, max_concurrency=2)) as hub:
        three = await hub.start(3)
        async with httpx.AsyncClient() as client:
            codes = await asyncio.gather(
                *(ask(client, three[i % 3], KEYS[i % 3], f"q{i}") for i in range(20))
            )
    assert codes == [200] * 20
    assert len(ollama.chat_requests) == 20
    assert ollama.peak == 2


async def test_the_fair_queue_serves_people_in_turn_across_replicas(
    tmp_path: Path, redis_url: str, mongo_url: str, ollama: FakeOllama
) -> None:
    env = shared_env(redis_url, mongo_url)
    with replica_set(tmp_path, env, routing(ollama.url, max_concurrency=1)) as hub:
        one, two = await hub.start(2)
        async with httpx.AsyncClient() as client:
            ollama.script(MODEL, token_count=40, tokens_per_second=20)  # X holds the slot 2 s
            tasks = [asyncio.ensure_future(ask(client, one, KEYS[0], "X"))]
            await until(lambda: ollama.active == 1)
            ollama.script(MODEL, token_count=3)
            for text in ("A1", "A2", "A3"):
                tasks.append(asyncio.ensure_future(ask(client, one, KEYS[1], text)))
                await queued(client, one, len(tasks) - 1)
            tasks.append(asyncio.ensure_future(ask(client, two, KEYS[2], "B1")))
            await queued(client, two, 1)
            assert ollama.active == 1  # X still streams: everyone else waited
            assert await asyncio.gather(*tasks) == [200] * 5
    served = [r.json["messages"][-1]["content"] for r in ollama.chat_requests]
    assert served == ["X", "A1", "B1", "A2", "A3"]


async def test_a_role_change_on_one_replica_applies_on_the_other_at_once(
    tmp_path: Path, redis_url: str, mongo_url: str, ollama: FakeOllama
) -> None:
    env = shared_env(redis_url, mongo_url)
    with replica_set(tmp_path, env, routing(ollama.url, max_concurrency=2)) as hub:
        one, two = await hub.start(2)
        async with httpx.AsyncClient() as client:
            admin = await signup(client, one, "admin@example.com")
            person = await signup(client, one, "person@example.com")
            listing = f"{two.base}/api/v1/users/"
            as_person = {"Authorization": f"Bearer {person['token']}"}
            # The other replica has the person cached now, as a plain user.
            assert (await client.get(listing, headers=as_person)).status_code == 403
            promoted = await client.post(
                f"{one.base}/api/v1/users/update/role",
                json={"id": person["id"], "role": "admin"},
                headers={"Authorization": f"Bearer {admin['token']}"},
            )
            assert promoted.status_code == 200, promoted.text
            # Users are cached for 5 s; the change must not wait for that. The few tries
            # only cover the pub/sub message racing this request to the other replica.
            statuses = []
            for _ in range(20):
                statuses.append((await client.get(listing, headers=as_person)).status_code)
                if statuses[-1] == 200:
                    break
                await asyncio.sleep(0.05)
    assert statuses[-1] == 200, statuses


async def signup(client: httpx.AsyncClient, replica: Replica, email: str) -> dict[str, Any]:
    answer = await client.post(
        f"{replica.base}/api/v1/auths/signup",
        json={"name": email.split("@")[0], "email": email, "password": "correct horse 42"},
        headers={"X-Requested-With": "test"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_a_job_of_a_replica_killed_mid_reply_is_finished_by_another(
    tmp_path: Path, redis_url: str, mongo_url: str, ollama: FakeOllama
) -> None:
    ollama.script(MODEL, token_count=120, tokens_per_second=20)  # 6 s
    receiver = Receiver()
    await receiver.start()
    env = shared_env(redis_url, mongo_url, HUB_JOBS__CALLBACK_SECRET="cb-secret-0123456789")
    config = routing(ollama.url, max_concurrency=2)
    config["jobs"] = {"claim_after": 2, "workers": 1}
    try:
        with replica_set(tmp_path, env, config) as hub:
            (doomed,) = await hub.start(1)
            async with httpx.AsyncClient(headers=bearer(KEYS[1])) as client:
                job = {"request": chat(MODEL) | {"stream": True}, "callback_url": receiver.url}
                accepted = await client.post(f"{doomed.base}/api/v1/jobs", json=job)
                assert accepted.status_code == 202, accepted.text
                job_id = accepted.json()["id"]
                await until(lambda: ollama.active == 1, within=30)
                (survivor,) = await hub.start(1)
                view = await client.get(f"{survivor.base}/api/v1/jobs/{job_id}")
                assert view.json()["status"] == "running"
                doomed.kill()  # mid-reply: no release, no callback, nothing finished
                for _ in range(3000):
                    view = await client.get(f"{survivor.base}/api/v1/jobs/{job_id}")
                    if view.json()["status"] not in ("queued", "running"):
                        break
                    await asyncio.sleep(0.02)
                await until(lambda: len(receiver.calls) == 1, within=30)
                await asyncio.sleep(0.5)  # a second callback would come now
    finally:
        await receiver.stop()
    body = view.json()
    text = "".join(numbered_tokens(120))
    assert body["status"] == "done" and body["text"] == text  # once, not doubled
    assert body["result"]["message"]["content"] == text
    outcomes = [r.outcome for r in ollama.chat_requests]
    assert outcomes[-1] == "complete" and len(outcomes) == 2  # cut, then run again in full
    assert "taking over a job whose worker went silent" in survivor.log()
    assert len(receiver.calls) == 1
    assert json.loads(receiver.calls[0][1])["text"] == text
    # What the store holds once the survivor stopped (its usage written): one job, and the
    # reply counted once (the cut attempt never finished, so it counted nothing).
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        db = mongo[env["HUB_MONGODB_DB"]]
        assert await db["jobs"].count_documents({"_id": job_id}) == 1
        usage = await db["usage"].find({}).to_list()
    finally:
        await mongo.aclose()
    assert [(u["model"], u["requests"]) for u in usage] == [(MODEL, 1)]
