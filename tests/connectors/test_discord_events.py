"""Discord messages → the hub's IncomingMessage, with the real discord.py fed by the fake."""

from __future__ import annotations

import discord
import pytest

from hub.connectors.discord.chain import reply_chain
from hub.connectors.discord.events import ImageRef, from_interaction, to_trigger
from hub.core.models import ChatMessage
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_world import Guild, User
from tests.support.discord_client import Inbox, make_client, running
from tests.support.wait import until


@pytest.fixture
def world(fake_discord: FakeDiscord) -> tuple[Guild, User, User]:
    guild = fake_discord.add_guild("Lab", ("general", "random"))
    return (
        guild,
        fake_discord.add_user("Ada", guild=guild),
        fake_discord.add_user("Bob", guild=guild),
    )


async def test_a_mention_in_a_guild_channel(
    fake_discord: FakeDiscord, world: tuple[Guild, User, User]
) -> None:
    guild, ada, bob = world
    general = fake_discord.channel(guild)
    client = make_client()
    inbox = Inbox(client)
    bot = fake_discord.mention(fake_discord.bot)
    async with running(client, fake_discord):
        await fake_discord.user_message(
            general, ada, f"{bot} what is   {fake_discord.mention(bob)} doing in <#{general.id}>?"
        )
        message = await inbox.next()
        await fake_discord.user_message(general, ada, "just chatting")
        quiet = await inbox.next()
        await fake_discord.user_message(general, ada, "@everyone listen")
        everyone = await inbox.next()
    trigger = to_trigger(message, fake_discord.bot.id)
    assert trigger is not None
    msg = trigger.incoming
    assert msg.text == "what is @Bob doing in #general?"
    assert (msg.platform, msg.chat_id, msg.thread_id) == ("discord", str(general.id), "")
    assert msg.user.platform_user_id == str(ada.id) and msg.user.display_name == "Ada"
    assert msg.is_group and msg.chat_name == "general" and msg.message_id == str(message.id)
    assert trigger.reply_to == message.id and trigger.channel_id == general.id
    assert trigger.guild_id == str(guild.id) and not trigger.continues_chain
    assert to_trigger(quiet, fake_discord.bot.id) is None
    assert to_trigger(everyone, fake_discord.bot.id) is None


async def test_the_bots_managed_role_counts_as_a_mention(
    fake_discord: FakeDiscord, world: tuple[Guild, User, User]
) -> None:
    guild, ada, _ = world
    role = next(r for r in guild.roles if r.bot_id == fake_discord.bot.id)
    client = make_client()
    inbox = Inbox(client)
    async with running(client, fake_discord):
        await fake_discord.user_message(fake_discord.channel(guild), ada, f"<@&{role.id}> hello")
        message = await inbox.next()
    trigger = to_trigger(message, fake_discord.bot.id)
    assert trigger is not None and trigger.incoming.text == "hello"


async def test_dms_are_answered_without_a_reply_reference(
    fake_discord: FakeDiscord, world: tuple[Guild, User, User]
) -> None:
    _, ada, _ = world
    dm = fake_discord.dm(ada)
    client = make_client()
    inbox = Inbox(client)
    async with running(client, fake_discord):
        await fake_discord.user_message(dm, ada, "hi there")
        message = await inbox.next()
    trigger = to_trigger(message, fake_discord.bot.id)
    assert trigger is not None
    assert trigger.incoming.text == "hi there" and not trigger.incoming.is_group
    assert trigger.incoming.chat_id == str(dm.id) and trigger.incoming.chat_name == "Ada"
    assert trigger.reply_to is None and trigger.guild_id == ""


async def test_a_reply_to_the_bot_continues_its_branch(
    fake_discord: FakeDiscord, world: tuple[Guild, User, User]
) -> None:
    guild, ada, _ = world
    general = fake_discord.channel(guild)
    bot = fake_discord.bot
    client = make_client()
    inbox = Inbox(client)
    async with running(client, fake_discord):
        # Earlier history exists on Discord but discord.py never saw it: it must fetch it.
        first = await fake_discord.user_message(
            general, ada, f"<@{bot.id}> first question", dispatch=False
        )
        part1 = await fake_discord.user_message(
            general, bot, "part one", reply_to=first, dispatch=False
        )
        part2 = await fake_discord.user_message(
            general, bot, "part two", reply_to=part1, dispatch=False
        )
        follow = await fake_discord.user_message(
            general, ada, "follow up", reply_to=part2, dispatch=False
        )
        answer = await fake_discord.user_message(
            general, bot, "second answer", reply_to=follow, dispatch=False
        )
        for ping in (True, False):
            await fake_discord.user_message(
                general, ada, "and then?", reply_to=answer, ping_reply=ping
            )
        pinged, unpinged = await inbox.next(), await inbox.next()
        gets = len(fake_discord.calls_of("messages.get"))
        history = await reply_chain(pinged, bot.id)
        fetched = len(fake_discord.calls_of("messages.get")) - gets
    for message in (pinged, unpinged):
        trigger = to_trigger(message, bot.id)
        assert trigger is not None and trigger.continues_chain
        assert trigger.incoming.reply_to_text == "second answer"
        assert trigger.reply_to == message.id
    assert history == (
        ChatMessage("user", "first question"),
        ChatMessage("assistant", "part one\npart two"),
        ChatMessage("user", "follow up"),
        ChatMessage("assistant", "second answer"),
    )
    # "second answer" came along with the message; each fetch brings its parent too.
    assert 1 <= fetched <= 3


async def test_a_chain_with_several_people_names_them_and_stops_at_a_deleted_message(
    fake_discord: FakeDiscord, world: tuple[Guild, User, User]
) -> None:
    guild, ada, bob = world
    general = fake_discord.channel(guild)
    bot = fake_discord.bot
    client = make_client()
    inbox = Inbox(client)
    async with running(client, fake_discord):
        gone = await fake_discord.user_message(general, ada, "lost", dispatch=False)
        q = await fake_discord.user_message(
            general, ada, f"<@{bot.id}> question", reply_to=gone, dispatch=False
        )
        a = await fake_discord.user_message(general, bot, "answer", reply_to=q, dispatch=False)
        gone.deleted = True
        await fake_discord.user_message(general, bob, "why?", reply_to=a)
        message = await inbox.next()
        history = await reply_chain(message, bot.id)
    assert history == (ChatMessage("user", "Ada: question"), ChatMessage("assistant", "answer"))


async def test_threads_are_conversations_of_their_own(
    fake_discord: FakeDiscord, world: tuple[Guild, User, User]
) -> None:
    guild, ada, _ = world
    general = fake_discord.channel(guild)
    client = make_client()
    inbox = Inbox(client)
    async with running(client, fake_discord):
        theirs = await fake_discord.add_thread(general, "Ada's", ada)
        ours = await fake_discord.add_thread(general, "Ours", fake_discord.bot)
        await fake_discord.user_message(theirs, ada, "no mention here")
        await fake_discord.user_message(
            theirs, ada, f"{fake_discord.mention(fake_discord.bot)} now"
        )
        await fake_discord.user_message(ours, ada, "no mention needed")
        plain, mentioned, in_ours = [await inbox.next() for _ in range(3)]
    bot_id = fake_discord.bot.id
    assert to_trigger(plain, bot_id) is None
    trigger = to_trigger(mentioned, bot_id)
    assert trigger is not None
    assert (trigger.incoming.chat_id, trigger.incoming.thread_id) == (
        str(general.id),
        str(theirs.id),
    )
    assert trigger.channel_id == theirs.id and trigger.reply_to == mentioned.id
    assert trigger.incoming.chat_name == "Ada's"
    own = to_trigger(in_ours, bot_id)
    assert own is not None and own.incoming.thread_id == str(ours.id)
    assert own.reply_to is None  # the bot's own thread is its conversation: no reply needed
    assert own.incoming.key != trigger.incoming.key


async def test_bots_and_empty_messages_are_ignored(
    fake_discord: FakeDiscord, world: tuple[Guild, User, User]
) -> None:
    guild, ada, _ = world
    other_bot = fake_discord.add_user("Helper", guild=guild, bot=True)
    general = fake_discord.channel(guild)
    client = make_client()
    seen: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.append(message)

    async with running(client, fake_discord):
        bot = fake_discord.mention(fake_discord.bot)
        await fake_discord.user_message(general, other_bot, f"{bot} hello from a bot")
        await fake_discord.user_message(general, ada, bot)
        channel = client.get_channel(general.id)
        assert isinstance(channel, discord.TextChannel)
        await channel.send(f"{bot} talking to myself")
        await until(lambda: len(seen) == 3)
    assert [to_trigger(m, fake_discord.bot.id) for m in seen] == [None, None, None]


async def test_image_attachments_become_references_with_sizes(
    fake_discord: FakeDiscord, world: tuple[Guild, User, User]
) -> None:
    guild, ada, _ = world
    general = fake_discord.channel(guild)
    png = fake_discord.attachment(
        general, "cat.png", b"\x89PNG" + b"0" * 96, "image/png", (640, 480)
    )
    pdf = fake_discord.attachment(general, "notes.pdf", b"%PDF-1.7", "application/pdf")
    client = make_client()
    inbox = Inbox(client)
    async with running(client, fake_discord):
        await fake_discord.user_message(
            general, ada, fake_discord.mention(fake_discord.bot), attachments=[png, pdf]
        )
        message = await inbox.next()
    trigger = to_trigger(message, fake_discord.bot.id)
    assert trigger is not None and trigger.incoming.text == ""
    assert trigger.images == (ImageRef(png["url"], "cat.png", "image/png", 100, 640, 480),)
    assert trigger.skipped == ("notes.pdf",)


async def test_an_application_command_becomes_an_incoming_message(
    fake_discord: FakeDiscord, world: tuple[Guild, User, User]
) -> None:
    guild, ada, _ = world
    general = fake_discord.channel(guild)
    client = make_client()
    tree = discord.app_commands.CommandTree(client)
    made = []

    @tree.command(name="ask", description="Ask", guild=discord.Object(guild.id))
    async def ask(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer(thinking=True)
        made.append(from_interaction(interaction, prompt))

    async with running(client, fake_discord):
        await tree.sync(guild=discord.Object(guild.id))
        await fake_discord.slash(general, ada, "ask", prompt="why is the sky blue?")
        await until(lambda: bool(made))
    msg = made[0]
    assert msg.text == "why is the sky blue?" and msg.chat_id == str(general.id)
    assert msg.user.platform_user_id == str(ada.id) and msg.user.language == "en-US"
    assert msg.is_group and msg.platform == "discord"
