"""Discord on several replicas (real `chathub serve` processes, one Redis, one MongoDB-wire
server, the fake Discord): one replica holds the gateway and answers each message once; when it
dies another connects within seconds and answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.replicas import Replica, replica_set, routing, shared_env
from tests.fakes.discord import FakeDiscord
from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_wire import numbered_tokens
from tests.support.wait import until

MODEL = "alpha:latest"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeDiscord, FakeOllama]]:
    discord = FakeDiscord()
    await discord.start()
    async with FakeOllama([MODEL]) as ollama:
        yield discord, ollama
    await discord.stop()


async def discord_detail(client: httpx.AsyncClient, replica: Replica) -> str:
    ready = (await client.get(f"{replica.base}/ready")).json()
    return str(ready["checks"]["connector discord"]["detail"]).rpartition("; ")[2]


async def test_one_replica_holds_the_gateway_and_another_takes_over(
    tmp_path: Path, redis_url: str, mongo_url: str, fakes: tuple[FakeDiscord, FakeOllama]
) -> None:
    discord, ollama = fakes
    ollama.script(MODEL, token_count=5)
    ada = discord.add_user("Ada")
    dm = discord.dm(ada)
    env = shared_env(
        redis_url,
        mongo_url,
        HUB_DISCORD__TOKEN=discord.token,
        HUB_DISCORD__API_BASE=discord.api_base,
        HUB_DISCORD__GATEWAY_URL=discord.gateway_url,
    )
    answer = "".join(numbered_tokens(5))
    with replica_set(tmp_path, env, routing(ollama.url, max_concurrency=4)) as hub:
        pair = await hub.start(2)
        async with httpx.AsyncClient() as client:
            details = []
            for _ in range(600):
                details = [await discord_detail(client, r) for r in pair]
                if sorted(d.split(":")[0] for d in details) == ["standby", "the Discord gateway"]:
                    break
                await asyncio.sleep(0.05)
            holder = pair[details.index("the Discord gateway")]
            standby = pair[1 - pair.index(holder)]
            assert len(discord.gateway.identifies) == 1  # one connection, not one per replica
            await discord.user_message(dm, ada, "first")
            await until(lambda: [m.content for m in discord.messages_in(dm)] == [answer])

            holder.kill()
            await until(lambda: len(discord.gateway.identifies) == 2, within=30)
            for _ in range(600):
                if await discord_detail(client, standby) == "the Discord gateway":
                    break
                await asyncio.sleep(0.05)
            await discord.user_message(dm, ada, "second")
            await until(lambda: len(discord.messages_in(dm)) == 2, within=30)
            await asyncio.sleep(0.5)  # a second answer to either message would be here now
    assert [m.content for m in discord.messages_in(dm)] == [answer, answer]
    assert len(ollama.chat_requests) == 2
