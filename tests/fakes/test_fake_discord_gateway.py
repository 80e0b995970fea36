"""Gateway failures and sharding with the real discord.py: resume, reconnect, invalid session."""

from __future__ import annotations

import asyncio

import discord
import pytest

from tests.fakes.discord import FakeDiscord
from tests.support.discord_client import QuickShardedClient, intents, make_client, running
from tests.support.wait import until


class Recorder:
    def __init__(self, client: discord.Client) -> None:
        self.messages: list[str] = []
        self.resumed = 0
        self.ready = 0
        client.event(self.on_message)
        client.event(self.on_resumed)
        client.event(self.on_ready)

    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:
            self.messages.append(message.content)

    async def on_resumed(self) -> None:
        self.resumed += 1

    async def on_ready(self) -> None:
        self.ready += 1


@pytest.mark.parametrize("code", [4000, None], ids=["close-frame", "dead-link"])
async def test_a_dropped_connection_is_resumed_and_missed_events_replayed_once(
    fake_discord: FakeDiscord, code: int | None
) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    general = fake_discord.channel(guild)
    client = make_client()
    seen = Recorder(client)
    async with running(client, fake_discord):
        await fake_discord.user_message(general, ada, "before")
        await until(lambda: seen.messages == ["before"])
        session = fake_discord.gateway.sessions[0]
        await fake_discord.drop(code=code)
        await fake_discord.user_message(general, ada, "while away")  # buffered, seq kept
        await until(lambda: seen.resumed == 1)
        await fake_discord.user_message(general, ada, "after")
        await until(lambda: len(seen.messages) == 3)
        await asyncio.sleep(0.1)
    assert seen.messages == ["before", "while away", "after"]
    resume = fake_discord.gateway.resumes[0]
    assert resume["session_id"] == session.id
    assert resume["path"] == "/resume/"  # READY's resume_gateway_url
    assert len(fake_discord.gateway.identifies) == 1
    assert seen.ready == 1


async def test_op_7_reconnect_resumes_the_session(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    client = make_client()
    seen = Recorder(client)
    async with running(client, fake_discord):
        await fake_discord.request_reconnect()
        await fake_discord.user_message(fake_discord.channel(guild), ada, "still here")
        await until(lambda: seen.resumed == 1 and seen.messages == ["still here"])
    assert len(fake_discord.gateway.identifies) == 1


async def test_an_invalid_session_makes_the_client_identify_again(
    fake_discord: FakeDiscord,
) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    client = make_client()
    seen = Recorder(client)
    async with running(client, fake_discord):
        first = fake_discord.gateway.sessions[0].id
        await fake_discord.invalidate(resumable=False)
        await until(lambda: len(fake_discord.gateway.identifies) == 2)
        await until(lambda: fake_discord.gateway.sessions[0].id != first)
        await until(lambda: seen.ready == 2)
        await fake_discord.user_message(fake_discord.channel(guild), ada, "new session")
        await until(lambda: seen.messages == ["new session"])


async def test_an_unknown_session_on_resume_gets_op_9_then_identify(
    fake_discord: FakeDiscord,
) -> None:
    fake_discord.add_guild()
    client = make_client()
    seen = Recorder(client)
    async with running(client, fake_discord):
        fake_discord.gateway.sessions[0].resumable = False  # e.g. Discord restarted
        await fake_discord.drop()
        await until(lambda: len(fake_discord.gateway.identifies) == 2)
        await until(lambda: seen.ready == 2)
    assert len(fake_discord.gateway.resumes) == 1


async def test_an_auto_sharded_client_runs_two_shards_with_guilds_routed(
    fake_discord: FakeDiscord,
) -> None:
    fake_discord.shard_count = 2
    guilds = [fake_discord.add_guild(f"G{i}", shard=i % 2) for i in range(4)]
    ada = fake_discord.add_user("Ada")
    for guild in guilds:
        fake_discord.world.join(guild, ada)
    client = QuickShardedClient(intents=intents(), guild_ready_timeout=0.2)
    got: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        if not message.author.bot:
            got.append(message)

    async with running(client, fake_discord):
        assert client.shard_count == 2
        shards = sorted(tuple(i["shard"]) for i in fake_discord.gateway.identifies)
        assert shards == [(0, 2), (1, 2)]
        assert fake_discord.calls_of("gateway.bot")
        assert {g.id for g in client.guilds} == {g.id for g in guilds}
        for guild in guilds:
            await fake_discord.user_message(fake_discord.channel(guild), ada, guild.name)
        await until(lambda: len(got) == 4)
        await fake_discord.drop(1)
        await until(lambda: len(fake_discord.gateway.resumes) == 1)
    for shard, session in fake_discord.gateway.sessions.items():
        sent = [f["d"] for f in session.sent if f["t"] in ("GUILD_CREATE", "MESSAGE_CREATE")]
        ids = {int(d.get("guild_id") or d["id"]) for d in sent}
        assert len(ids) == 2
        assert all((guild_id >> 22) % 2 == shard for guild_id in ids)
    assert {m.guild.shard_id for m in got if m.guild} == {0, 1}
