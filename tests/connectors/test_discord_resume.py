"""A dropped gateway connection: discord.py reconnects and resumes, and no reply is lost or
repeated, whether the drop comes in the middle of a reply or while a message is on its way."""

from __future__ import annotations

import pytest

from hub.core.markup import discord as markup
from tests.fakes.discord import FakeDiscord
from tests.support.chat import ScriptedChat
from tests.support.discord_hub import connected
from tests.support.wait import until


def long_reply(words: int) -> str:
    return "\n\n".join(" ".join(f"w{i}-{j}" for j in range(12)) + "." for i in range(words // 12))


@pytest.mark.parametrize("code", [4000, None], ids=["close-frame", "dead-link"])
async def test_a_drop_mid_reply_loses_and_repeats_nothing(
    fake_discord: FakeDiscord, code: int | None
) -> None:
    guild = fake_discord.add_guild("Lab")
    ada = fake_discord.add_user("Ada", guild=guild)
    text = long_reply(240)
    chat = ScriptedChat(lambda m: text if "long" in m.text else "Short one.", tokens_per_second=60)
    channel = fake_discord.channel(guild)
    bot = fake_discord.mention(fake_discord.bot)
    async with connected(fake_discord, chat) as connector:
        await fake_discord.user_message(channel, ada, f"{bot} long please")
        await until(lambda: any(m.edits for m in fake_discord.messages_in(channel)), within=20)
        await fake_discord.drop(0, code=code)
        await until(lambda: len(fake_discord.gateway.resumes) == 1, within=30)
        await until(lambda: chat.finished == 1 and not connector.busy, within=30)
        await fake_discord.user_message(channel, ada, f"{bot} after the drop")
        await until(lambda: chat.finished == 2 and not connector.busy, within=20)
    assert [m.text for m in chat.received] == ["long please", "after the drop"]
    assert [m.content for m in fake_discord.messages_in(channel)] == [
        *markup.split(text),
        "Short one.",
    ]


async def test_a_message_sent_while_disconnected_is_answered_once_after_the_resume(
    fake_discord: FakeDiscord,
) -> None:
    guild = fake_discord.add_guild("Lab")
    ada = fake_discord.add_user("Ada", guild=guild)
    chat = ScriptedChat(lambda m: f"Answer to {m.text}.")
    channel = fake_discord.channel(guild)
    bot = fake_discord.mention(fake_discord.bot)
    async with connected(fake_discord, chat) as connector:
        await fake_discord.user_message(channel, ada, f"{bot} one")
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
        await fake_discord.drop(0)
        await fake_discord.user_message(channel, ada, f"{bot} two")  # while no one listens
        await until(lambda: len(fake_discord.gateway.resumes) == 1, within=30)
        await until(lambda: chat.finished == 2 and not connector.busy, within=20)
        await fake_discord.request_reconnect(0)  # Discord asks for a reconnect: resumed again
        await fake_discord.user_message(channel, ada, f"{bot} three")
        await until(lambda: chat.finished == 3 and not connector.busy, within=30)
    assert [m.text for m in chat.received] == ["one", "two", "three"]
    assert [m.content for m in fake_discord.messages_in(channel)] == [
        "Answer to one.",
        "Answer to two.",
        "Answer to three.",
    ]


async def test_a_message_delivered_twice_is_answered_once(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild("Lab")
    ada = fake_discord.add_user("Ada", guild=guild)
    chat = ScriptedChat(lambda m: "Once.")
    channel = fake_discord.channel(guild)
    async with connected(fake_discord, chat) as connector:
        posted = await fake_discord.user_message(
            channel, ada, f"{fake_discord.mention(fake_discord.bot)} hi"
        )
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
        # Discord's delivery is at least once: the same MESSAGE_CREATE again.
        data = fake_discord.world.message(posted, gateway=True)
        await fake_discord.gateway.dispatch("MESSAGE_CREATE", data, guild.id)
        await fake_discord.user_message(channel, ada, f"{fake_discord.mention(fake_discord.bot)} x")
        await until(lambda: chat.finished == 2 and not connector.busy, within=20)
    assert [m.text for m in chat.received] == ["hi", "x"]
