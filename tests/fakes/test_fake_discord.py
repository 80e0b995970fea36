"""The fake Discord against the real discord.py: login, READY, GUILD_CREATE, messages."""

from __future__ import annotations

import asyncio

import aiohttp
import discord
import pytest

from tests.fakes.discord import FakeDiscord, pointed_at
from tests.fakes.discord_control import RemoteFake
from tests.fakes.process import fake_process
from tests.support.discord_client import make_client, running
from tests.support.wait import until


async def test_login_ready_guild_create_and_a_mention_answered(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild("Lab", ("general", "random"))
    ada = fake_discord.add_user("Ada", guild=guild)
    general = fake_discord.channel(guild)
    client = make_client()
    seen: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        seen.append(message)
        await message.reply("Hello!", mention_author=False)

    async with running(client, fake_discord):
        assert client.user is not None and client.user.id == fake_discord.bot.id
        cached = client.get_guild(guild.id)
        assert cached is not None and {c.name for c in cached.text_channels} == {
            "general",
            "random",
        }
        assert cached.me is not None and cached.member_count == 3  # members intent off: no cache
        identify = fake_discord.gateway.identifies[0]
        assert identify["intents"] & (1 << 15)  # message content
        await fake_discord.user_message(
            general, ada, f"{fake_discord.mention(fake_discord.bot)} hi"
        )
        await until(lambda: len(fake_discord.messages_in(general)) == 1)
    message = seen[0]
    assert client.user in message.mentions
    assert message.content.endswith(" hi")
    answer = fake_discord.messages_in(general)[0]
    assert answer.content == "Hello!"
    assert answer.reference == message.id
    assert answer.pings == set()
    await asyncio.sleep(0)


async def test_message_kinds_reach_discord_py(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    general = fake_discord.channel(guild)
    client = make_client()
    got: list[discord.Message] = []
    client.event(_collector(got))
    async with running(client, fake_discord):
        dm = fake_discord.dm(ada)
        await fake_discord.user_message(dm, ada, "in private")
        bot_says = await client.get_channel(general.id).send("I am the bot")  # type: ignore[union-attr]
        posted = fake_discord.world.messages[bot_says.id]
        await fake_discord.user_message(general, ada, "a reply", reply_to=posted)
        thread = await fake_discord.add_thread(general, "Side talk", ada)
        await fake_discord.user_message(thread, ada, "in a thread")
        image = fake_discord.attachment(general, "cat.png", b"\x89PNG...", "image/png", (4, 3))
        await fake_discord.user_message(general, ada, "look", attachments=[image])
        await until(lambda: len(got) == 4)
        assert await got[3].attachments[0].read() == b"\x89PNG..."
    private, reply, threaded, picture = got
    assert isinstance(private.channel, discord.DMChannel) and private.guild is None
    assert reply.reference is not None and reply.reference.message_id == bot_says.id
    assert isinstance(reply.reference.resolved, discord.Message)
    assert reply.reference.resolved.author.id == fake_discord.bot.id
    assert client.user in reply.mentions  # replying pings the author by default
    assert isinstance(threaded.channel, discord.Thread)
    assert threaded.channel.parent_id == general.id
    assert picture.attachments[0].content_type == "image/png"
    assert (picture.attachments[0].width, picture.attachments[0].size) == (4, 7)


def _collector(into: list[discord.Message]):  # type: ignore[no-untyped-def]
    async def on_message(message: discord.Message) -> None:
        if not message.author.bot:
            into.append(message)

    return on_message


async def test_without_the_message_content_intent_guild_text_is_empty(
    fake_discord: FakeDiscord,
) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    general = fake_discord.channel(guild)
    client = make_client(intents=discord.Intents.default())
    got: list[discord.Message] = []
    client.event(_collector(got))
    async with running(client, fake_discord):
        await fake_discord.user_message(general, ada, "secret words")
        await fake_discord.user_message(
            general, ada, f"{fake_discord.mention(fake_discord.bot)} hi"
        )
        await fake_discord.user_message(fake_discord.dm(ada), ada, "private words")
        await until(lambda: len(got) == 3)
    assert [m.content for m in got] == ["", f"<@{fake_discord.bot.id}> hi", "private words"]


async def test_a_privileged_intent_not_enabled_in_the_portal_stops_the_client(
    fake_discord: FakeDiscord,
) -> None:
    fake_discord.privileged_intents = 0
    client = make_client()
    try:
        await asyncio.wait_for(client.start(fake_discord.token), 20)
    except discord.PrivilegedIntentsRequired:
        pass
    else:
        raise AssertionError("expected PrivilegedIntentsRequired")
    finally:
        await client.close()
    assert fake_discord.gateway.closed_codes == [4014]


async def test_a_bad_token_fails_login(fake_discord: FakeDiscord) -> None:
    client = make_client()
    try:
        await client.login("not-the-token")
    except discord.LoginFailure:
        pass
    else:
        raise AssertionError("expected LoginFailure")
    finally:
        await client.close()


async def test_the_fake_runs_as_its_own_process_for_benchmarks() -> None:
    with fake_process("tests.fakes.discord", "--channels", "2", "--users", "1") as root:
        remote = RemoteFake(root)
        async with aiohttp.ClientSession() as session:
            state = await remote.state(session)
            guild = state["guilds"][0]
            client = make_client()
            got: list[discord.Message] = []
            client.event(_collector(got))
            with pointed_at(remote):
                async with running(client, state["bot"]["token"]):
                    user_id = guild["members"][-1]
                    await remote.post(session, guild["channels"][1], user_id, "hello")
                    await until(lambda: len(got) == 1)
                    await got[0].reply("hi back")
                    after = await remote.state(session)
    assert got[0].content == f"<@{state['bot']['id']}> hello"
    assert [m["content"] for m in after["messages"]][-1] == "hi back"
    assert any(c["kind"] == "messages.create" for c in after["calls"])


async def test_a_thread_started_from_a_message(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    general = fake_discord.channel(guild)
    client = make_client()
    got: list[discord.Message] = []
    client.event(_collector(got))
    async with running(client, fake_discord):
        asked = await fake_discord.user_message(general, ada, "start here")
        await until(lambda: len(got) == 1)
        thread = await got[0].create_thread(name="A conversation")
        assert thread.id == asked.id and thread.owner_id == fake_discord.bot.id
        await until(lambda: client.get_channel(thread.id) is not None)  # THREAD_CREATE
        sent = await thread.send("inside")
        await sent.delete()
        with pytest.raises(discord.HTTPException) as again:
            await got[0].create_thread(name="Twice")
    assert again.value.code == 160004
    assert fake_discord.world.channels[thread.id].parent_id == general.id
    assert fake_discord.world.messages[sent.id].deleted
    assert fake_discord.calls_of("threads.create")[0].status == 201
