"""Sharding and the rate-limit trace of the Discord connector, with the real discord.py."""

from __future__ import annotations

import discord

from hub.connectors.discord.limits import LimitTrace
from hub.core.budget import BudgetPools
from tests.fakes.discord import FakeDiscord
from tests.support.chat import ScriptedChat
from tests.support.discord_client import QuickShardedClient
from tests.support.discord_hub import connected, discord_settings
from tests.support.wait import until


async def test_as_many_shards_as_discord_recommends(fake_discord: FakeDiscord) -> None:
    fake_discord.shard_count = 2
    fake_discord.require_sharding = True  # an unsharded IDENTIFY would be refused
    guilds = [fake_discord.add_guild(f"G{i}", shard=i) for i in range(2)]
    people = [fake_discord.add_user(f"P{i}", guild=g) for i, g in enumerate(guilds)]
    chat = ScriptedChat(lambda m: "Hi " + m.user.display_name)
    options = {"client_options": {"client_class": QuickShardedClient}}  # no 5 s identify pause
    async with connected(fake_discord, chat, **options) as connector:
        assert isinstance(connector.client, discord.AutoShardedClient)
        assert connector.client.shard_count == 2
        for guild, person in zip(guilds, people, strict=True):
            channel = fake_discord.channel(guild)
            await fake_discord.user_message(
                channel, person, f"{fake_discord.mention(fake_discord.bot)} hello"
            )
        await until(lambda: chat.finished == 2 and not connector.busy, within=20)
    shards = sorted(tuple(i["shard"]) for i in fake_discord.gateway.identifies)
    assert shards == [(0, 2), (1, 2)]
    for guild, person in zip(guilds, people, strict=True):
        shown = [m.content for m in fake_discord.messages_in(fake_discord.channel(guild))]
        assert shown == [f"Hi {person.global_name or person.username}"]


async def test_one_shard_is_a_plain_client(fake_discord: FakeDiscord) -> None:
    fake_discord.add_guild("G")
    settings = discord_settings(fake_discord, shard_count=1)
    async with connected(fake_discord, ScriptedChat(lambda m: ""), settings) as connector:
        assert type(connector.client) is discord.Client
    assert "shard" not in fake_discord.gateway.identifies[0]


async def test_limits_are_learned_from_every_answer(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild("G")
    ada = fake_discord.add_user("Ada", guild=guild)
    chat = ScriptedChat(lambda m: " ".join(f"w{i}" for i in range(200)), tokens_per_second=80)
    async with connected(fake_discord, chat) as connector:
        await fake_discord.user_message(
            fake_discord.channel(guild), ada, f"{fake_discord.mention(fake_discord.bot)} go"
        )
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
        writes = len(
            fake_discord.calls_of("messages.create") + fake_discord.calls_of("messages.edit")
        )
        assert connector.trace.learned == writes >= 3
    assert fake_discord.count_429() == 0


async def test_which_budget_a_request_draws_from() -> None:
    trace = LimitTrace(BudgetPools())
    own = trace.budget_for("PATCH", "/api/v10/channels/42/messages/7")
    assert own is not None and "dc:channel:42" in own.describe()
    assert trace.budget_for("POST", "/api/v10/channels/42/messages") is not None
    assert trace.budget_for("POST", "/api/v10/channels/42/typing") is None  # not a write budget
    assert trace.budget_for("GET", "/api/v10/channels/42/messages/7") is None
    hook = BudgetPools().budget(("dc:interaction:1", own.own.rate))
    trace.watch("tok", hook)
    assert trace.budget_for("PATCH", "/api/v10/webhooks/9/tok/messages/@original") is hook
    trace.forget("tok")
    assert trace.budget_for("PATCH", "/api/v10/webhooks/9/tok/messages/@original") is None
