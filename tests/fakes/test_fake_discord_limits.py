"""Discord's rate limits as the fake enforces them, seen by the real discord.py."""

from __future__ import annotations

import asyncio

import discord
import pytest

from tests.fakes.discord import FakeDiscord
from tests.support.discord_client import make_client, running
from tests.support.wait import until


async def _channel(fake: FakeDiscord, client: discord.Client) -> discord.TextChannel:
    guild = fake.add_guild() if not fake.world.guilds else next(iter(fake.world.guilds.values()))
    channel = client.get_channel(fake.channel(guild).id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_every_answer_carries_bucket_headers_and_edits_are_paced(
    fake_discord: FakeDiscord,
) -> None:
    fake_discord.add_guild()
    fake_discord.set_limit("messages.edit", 5, 1.0)  # Discord's 5 per 5 s, on a shorter clock
    async with running(make_client(), fake_discord) as client:
        channel = await _channel(fake_discord, client)
        message = await channel.send("v0")
        for i in range(1, 8):
            message = await message.edit(content=f"v{i}")
    edits = fake_discord.calls_of("messages.edit")
    assert [c.status for c in edits] == [200] * 7
    assert fake_discord.enforced_429 == 0  # discord.py waited when Remaining hit 0
    assert edits[5].t - edits[0].t >= 0.95  # the sixth edit waited for the window to reset
    assert fake_discord.world.messages[message.id].content == "v7"


async def test_a_429_with_via_is_retried_by_discord_py_itself(fake_discord: FakeDiscord) -> None:
    fake_discord.add_guild()
    async with running(make_client(), fake_discord) as client:
        channel = await _channel(fake_discord, client)
        message = await channel.send("first")
        fake_discord.rate_limit_next("messages.edit", 0.3)
        await message.edit(content="second")
    assert [c.status for c in fake_discord.calls_of("messages.edit")] == [429, 200]
    assert fake_discord.world.messages[message.id].content == "second"


async def test_a_429_without_via_is_taken_for_a_cloudflare_ban(fake_discord: FakeDiscord) -> None:
    fake_discord.add_guild()
    async with running(make_client(), fake_discord) as client:
        channel = await _channel(fake_discord, client)
        message = await channel.send("first")
        fake_discord.rate_limit_next("messages.edit", 0.3, via=False)
        with pytest.raises(discord.HTTPException) as caught:
            await message.edit(content="second")
    assert caught.value.status == 429
    assert len(fake_discord.calls_of("messages.edit")) == 1


async def test_a_wait_longer_than_max_ratelimit_timeout_raises_rate_limited(
    fake_discord: FakeDiscord,
) -> None:
    fake_discord.add_guild()
    async with running(make_client(max_ratelimit_timeout=30), fake_discord) as client:
        channel = await _channel(fake_discord, client)
        message = await channel.send("first")
        fake_discord.rate_limit_next("messages.edit", 45.0, scope="shared")
        with pytest.raises(discord.RateLimited) as caught:
            await message.edit(content="second")
    assert caught.value.retry_after == pytest.approx(45.0)


async def test_two_clients_sharing_a_token_meet_the_enforced_limit(
    fake_discord: FakeDiscord,
) -> None:
    """A second process knows nothing of the first one's bucket: the fake answers 429."""
    fake_discord.add_guild()
    fake_discord.set_limit("messages.create", 5, 1.0)
    async with (
        running(make_client(), fake_discord) as one,
        running(make_client(), fake_discord) as two,
    ):
        channel_one = await _channel(fake_discord, one)
        channel_two = await _channel(fake_discord, two)
        # discord.py holds the call that emptied the bucket until the window resets, so the
        # second client sends as soon as the fake has counted five.
        burst = asyncio.gather(*(channel_one.send(f"a{i}") for i in range(5)))
        await until(lambda: len(fake_discord.calls_of("messages.create")) == 5)
        await channel_two.send("b")  # 429, then retried by discord.py after the window
        await burst
    creates = fake_discord.calls_of("messages.create")
    assert fake_discord.enforced_429 == 1
    assert [c.status for c in creates].count(200) == 6


async def test_the_global_limit_is_50_per_second(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild(channels=tuple(f"c{i}" for i in range(12)))
    fake_discord.set_limit("typing", 50, 5.0)
    async with running(make_client(), fake_discord) as client:
        channels = [client.get_channel(c) for c in guild.channel_ids]
        await asyncio.gather(*(c.typing() for c in channels for _ in range(5)))  # type: ignore[union-attr]
    typing = fake_discord.calls_of("typing")
    statuses = [c.status for c in typing]
    assert statuses.count(204) == 60
    assert statuses.count(429) >= 1  # the global window filled; discord.py waited it out
    first_ok = [c.t for c in typing if c.status == 204]
    in_first_second = [t for t in first_ok if t - first_ok[0] < 1.0]
    assert len(in_first_second) <= 50


async def test_content_over_2000_characters_is_refused_like_discord(
    fake_discord: FakeDiscord,
) -> None:
    fake_discord.add_guild()
    async with running(make_client(), fake_discord) as client:
        channel = await _channel(fake_discord, client)
        with pytest.raises(discord.HTTPException) as caught:
            await channel.send("x" * 2001)
        await channel.send("😀" * 2000)  # code points, not UTF-16 units
    assert caught.value.status == 400 and caught.value.code == 50035
    assert "Must be 2000 or fewer in length." in caught.value.text
