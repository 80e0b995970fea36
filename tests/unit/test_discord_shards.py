"""Discord shards split over replicas: `shard_ids` checked against `shard_count`, handed to
discord.py, and naming the lease replicas compete for (never with the token in it)."""

from __future__ import annotations

import aiohttp
import discord
import pytest
from pydantic import ValidationError

from hub.connectors.discord import gateway_duty
from hub.connectors.discord.client import build_client
from hub.connectors.discord.settings import DiscordSettings

TOKEN = "MTIzNDU2.Gx7f.secret-part-of-the-token"


def test_shard_ids_need_a_count_and_must_be_within_it() -> None:
    with pytest.raises(ValidationError, match="set shard_count too"):
        DiscordSettings(token=TOKEN, shard_ids=[0])
    with pytest.raises(ValidationError, match=r"\[4\] not within 0..3"):
        DiscordSettings(token=TOKEN, shard_count=4, shard_ids=[1, 4])


async def test_a_replica_connects_only_its_shards() -> None:
    settings = DiscordSettings(token=TOKEN, shard_count=4, shard_ids=[2, 3])
    client = build_client(settings, aiohttp.TraceConfig())  # not started: nothing to close
    assert isinstance(client, discord.AutoShardedClient)
    assert client.shard_ids == [2, 3] and client.shard_count == 4


def test_the_lease_names_the_bot_and_the_shards_not_the_token() -> None:
    some = gateway_duty(DiscordSettings(token=TOKEN, shard_count=4, shard_ids=[3, 2]))
    every = gateway_duty(DiscordSettings(token=TOKEN))
    assert some.endswith(":2,3") and every.endswith(":all")
    assert some.rsplit(":", 1)[0] == every.rsplit(":", 1)[0]
    assert "secret" not in some and TOKEN.split(".")[0] not in some
