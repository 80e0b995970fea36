"""The Discord connector end to end with the real discord.py against the fake Discord:
mentions, DMs, threads, reply chains, the Stop button, mentions in model output, images."""

from __future__ import annotations

import pytest

from hub.core.markup import discord as markup
from hub.core.markup.fences import fence_state_after
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_world import Guild, User
from tests.support.chat import ScriptedChat
from tests.support.discord_hub import connected, discord_settings
from tests.support.wait import until


def long_reply(words: int) -> str:
    tokens = [f"word{i % 89}" for i in range(words)]
    lines = [" ".join(tokens[i : i + 10]) + "." for i in range(0, words, 10)]
    return "\n\n".join(" ".join(lines[i : i + 3]) for i in range(0, len(lines), 3))


@pytest.fixture
def lab(fake_discord: FakeDiscord) -> tuple[Guild, User]:
    guild = fake_discord.add_guild("Lab", ("general", "help"))
    return guild, fake_discord.add_user("Ada", guild=guild)


def bot_texts(fake: FakeDiscord, channel_id: int) -> list[str]:
    return [m.content for m in fake.messages_in(channel_id)]


async def test_a_mention_gets_a_streamed_reply_with_the_exact_final_text(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    text = "Here is **the answer**:\n\n- one\n- two\n\n" + long_reply(150)
    chat = ScriptedChat(lambda m: text, tokens_per_second=60.0)
    channel = fake_discord.channel(guild)
    async with connected(fake_discord, chat) as connector:
        asked = await fake_discord.user_message(
            channel, ada, f"{fake_discord.mention(fake_discord.bot)} tell me"
        )
        await until(lambda: chat.finished == 1 and not connector.busy, within=30)
    [msg] = chat.received
    assert msg.text == "tell me" and msg.workspace_id == str(guild.id) and msg.chain is None
    posted = fake_discord.messages_in(channel)
    assert [p.content for p in posted] == markup.split(text)
    assert posted[0].reference == asked.id and posted[0].edits >= 2  # streamed by edits
    assert posted[0].components == []  # the Stop button is gone
    assert fake_discord.count_429() == 0
    assert fake_discord.typing_in(channel) >= 1  # typing until the first text


async def test_a_long_reply_with_code_is_split_into_valid_parts(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    code = "```python\n" + "".join(f"total_{i} = add(total, {i})  # step {i}\n" for i in range(120))
    text = long_reply(150) + "\n\n" + code + "```\n\n" + long_reply(60)
    assert len(text) > 5000
    chat = ScriptedChat(lambda m: text, tokens_per_second=1000.0)
    channel = fake_discord.channel(guild)
    async with connected(fake_discord, chat) as connector:
        await fake_discord.user_message(
            channel, ada, f"{fake_discord.mention(fake_discord.bot)} code"
        )
        await until(lambda: chat.finished == 1 and not connector.busy, within=30)
    posted = fake_discord.messages_in(channel)
    assert [p.content for p in posted] == markup.split(text) and len(posted) >= 3
    for i, part in enumerate(posted):
        assert len(part.content) <= 2000 and fence_state_after(part.content) is None
        if i:
            assert part.reference == posted[i - 1].id
    assert any(p.content.startswith("```python\n") for p in posted[1:])
    assert fake_discord.count_429() == 0


async def test_dms_are_answered_without_a_mention_and_bots_are_ignored(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    robot = fake_discord.add_user("Robo", guild=guild, bot=True)
    chat = ScriptedChat(lambda m: "Hello " + m.text)
    dm = fake_discord.dm(ada)
    async with connected(fake_discord, chat) as connector:
        await fake_discord.user_message(
            fake_discord.channel(guild), robot, f"{fake_discord.mention(fake_discord.bot)} hi"
        )
        await fake_discord.user_message(fake_discord.channel(guild), ada, "no mention here")
        await fake_discord.user_message(dm, ada, "there")
        await until(lambda: chat.finished == 1 and not connector.busy, within=30)
    assert [m.text for m in chat.received] == ["there"]
    assert bot_texts(fake_discord, dm.id) == ["Hello there"]


def mention(fake: FakeDiscord, text: str) -> str:
    return f"{fake.mention(fake.bot)} {text}"


async def test_a_reply_to_the_bot_continues_that_branch_with_its_chain_as_history(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    bob = fake_discord.add_user("Bob", guild=guild)
    answers = iter(["Teal.", "Fig.", "Oak."])
    chat = ScriptedChat(lambda m: next(answers))
    channel = fake_discord.channel(guild)
    async with connected(fake_discord, chat) as connector:
        await fake_discord.user_message(channel, ada, mention(fake_discord, "name a colour"))
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
        [teal] = fake_discord.messages_in(channel)
        # Bob replies to the bot's answer without mentioning it: the branch goes on.
        await fake_discord.user_message(channel, bob, "and a fruit?", reply_to=teal)
        await until(lambda: chat.finished == 2 and not connector.busy, within=20)
        fig = fake_discord.messages_in(channel)[-1]
        # Ada, on a side branch: a mention without a reply starts from the stored history.
        await fake_discord.user_message(channel, ada, mention(fake_discord, "a tree?"))
        await until(lambda: chat.finished == 3 and not connector.busy, within=20)
    first, second, third = chat.received
    assert first.chain is None and third.chain is None
    assert second.text == "and a fruit?" and fig.reference == second_id(fake_discord, channel)
    assert second.chain is not None
    assert [(m.role, m.content) for m in second.chain] == [
        ("user", "Ada: name a colour"),
        ("assistant", "Teal."),
    ]


def second_id(fake: FakeDiscord, channel: object) -> int:
    people = [m for m in fake.messages_in(channel, by_bot=False) if "fruit" in m.content]  # type: ignore[arg-type]
    return people[0].id


async def test_a_chain_is_fetched_from_discord_when_not_delivered_along(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    chat = ScriptedChat(lambda m: "Sure.")
    channel = fake_discord.channel(guild)
    bot = fake_discord.bot
    # Earlier messages the connector never saw (before it started): only stored at the fake.
    root = await fake_discord.user_message(channel, ada, "the very first", dispatch=False)
    old = await fake_discord.user_message(
        channel, bot, "An old answer.", reply_to=root, dispatch=False
    )
    async with connected(fake_discord, chat) as connector:
        await fake_discord.user_message(channel, ada, "go on", reply_to=old)
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
    [msg] = chat.received
    assert msg.chain is not None
    assert [(m.role, m.content) for m in msg.chain] == [
        ("user", "the very first"),
        ("assistant", "An old answer."),
    ]


async def test_threads_are_conversations_of_their_own(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    chat = ScriptedChat(lambda m: f"On {m.text}.")
    help_channel = fake_discord.channel(guild, "help")
    general = fake_discord.channel(guild)
    settings = discord_settings(fake_discord, thread_channels=[str(help_channel.id)])
    async with connected(fake_discord, chat, settings) as connector:
        asked = await fake_discord.user_message(help_channel, ada, mention(fake_discord, "tides"))
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
        thread_id = fake_discord.world.messages[asked.id].thread_id
        assert thread_id is not None
        thread = fake_discord.world.channels[thread_id]
        await fake_discord.user_message(thread, ada, "and the moon")  # no mention needed
        await fake_discord.user_message(general, ada, mention(fake_discord, "elsewhere"))
        await until(lambda: chat.finished == 3 and not connector.busy, within=20)
    in_thread, follow_up, outside = chat.received
    assert in_thread.thread_id == follow_up.thread_id == str(thread_id)
    assert in_thread.key == follow_up.key and outside.key != in_thread.key
    assert outside.thread_id == "" and outside.chat_id == str(general.id)
    assert bot_texts(fake_discord, thread_id) == ["On tides.", "On and the moon."]
    assert fake_discord.messages_in(help_channel) == []  # the answer went into the thread
    assert fake_discord.messages_in(general)[0].content == "On elsewhere."


async def test_the_stop_button_stops_only_for_the_asker(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    bob = fake_discord.add_user("Bob", guild=guild)
    chat = ScriptedChat(lambda m: long_reply(600), tokens_per_second=30.0)
    channel = fake_discord.channel(guild)
    async with connected(fake_discord, chat) as connector:
        await fake_discord.user_message(channel, ada, mention(fake_discord, "go on"))
        await until(lambda: any(m.components for m in fake_discord.messages_in(channel)), within=20)
        shown = fake_discord.messages_in(channel)[0]
        custom_id = shown.custom_ids()[0]
        assert custom_id.startswith("stop:") and len(custom_id) <= 100
        refused = await fake_discord.click(shown, custom_id, bob)
        await until(lambda: refused.response_type is not None)
        assert connector.busy and chat.cancelled == 0
        await fake_discord.click(shown, custom_id, ada)
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
    assert chat.cancelled == 1
    final = [m for m in fake_discord.messages_in(channel) if m.interaction_id is None]
    assert final[-1].content.endswith("⚠ reply interrupted: stopped.")
    assert all(m.components == [] for m in final)
    told = [m for m in fake_discord.world.messages.values() if m.interaction_id == refused.id]
    assert [m.content for m in told] == ["Only the person who asked can stop this reply."]


async def test_everyone_in_model_output_pings_nobody(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    text = f"Hey @everyone and @here! Also <@{ada.id}> and <@&{guild.roles[0].id}>."
    chat = ScriptedChat(lambda m: text)
    channel = fake_discord.channel(guild)
    async with connected(fake_discord, chat) as connector:
        await fake_discord.user_message(channel, ada, mention(fake_discord, "ping them"))
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
    [posted] = fake_discord.messages_in(channel)
    assert posted.pings == set()
    assert "@everyone" not in posted.content and "@here" not in posted.content
    writes = [c for c in fake_discord.calls if c.kind in ("messages.create", "messages.edit")]
    assert writes and all(c.body["allowed_mentions"]["parse"] == [] for c in writes)
