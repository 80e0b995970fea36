"""The Discord sinks under render(), with the real discord.py against the fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import pytest

from hub.connectors.discord.events import to_trigger
from hub.connectors.discord.sink import (
    DiscordHandle,
    DiscordSink,
    InteractionSink,
    channel_budget,
    interaction_budget,
)
from hub.connectors.discord.stop import StopControl
from hub.core.budget import BudgetPools
from hub.core.markup import discord as markup
from hub.core.markup.fences import fence_state_after
from hub.core.models import IncomingMessage, ReplyEvent
from hub.core.ports import SinkError, SinkMessageGone, SinkRateLimited, SinkText
from hub.core.render import render
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_world import Guild, User
from tests.support.chat import ScriptedChat
from tests.support.discord_client import Inbox, make_client, running
from tests.support.wait import until

NO_PINGS = {"parse": []}  # replied_user absent = false: the reply pings nobody either


def long_reply(words: int) -> str:
    tokens = [f"word{i % 89}" for i in range(words)]
    lines = [" ".join(tokens[i : i + 10]) + "." for i in range(0, words, 10)]
    return "\n\n".join(" ".join(lines[i : i + 3]) for i in range(0, len(lines), 3))


@pytest.fixture
def lab(fake_discord: FakeDiscord) -> tuple[Guild, User]:
    guild = fake_discord.add_guild("Lab")
    return guild, fake_discord.add_user("Ada", guild=guild)


async def ask(
    fake: FakeDiscord, inbox: Inbox, guild: Guild, ada: User, text: str
) -> discord.Message:
    await fake.user_message(fake.channel(guild), ada, f"{fake.mention(fake.bot)} {text}")
    return await inbox.next()


def events(
    chat: ScriptedChat, message: discord.Message, bot_id: int
) -> tuple[IncomingMessage, AsyncIterator[ReplyEvent]]:
    trigger = to_trigger(message, bot_id)
    assert trigger is not None
    return trigger.incoming, chat.reply(trigger.incoming)


async def test_a_mention_gets_a_streamed_reply_with_the_exact_final_text(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    text = "Here is **the answer** with `code`, a list:\n\n- one\n- two\n\n" + long_reply(120)
    chat = ScriptedChat(lambda m: text, tokens_per_second=50.0)
    client = make_client()
    inbox = Inbox(client)
    pools = BudgetPools()
    pressed: list[int] = []

    async def on_press(interaction: discord.Interaction) -> None:
        pressed.append(interaction.user.id)

    async with running(client, fake_discord):
        message = await ask(fake_discord, inbox, guild, ada, "tell me")
        sink = DiscordSink(
            message.channel,
            budget=channel_budget(pools, message.channel.id),
            reply_to=message,
            stop=StopControl("stop:1", on_press),
        )
        _, stream = events(chat, message, fake_discord.bot.id)
        result = await render(stream, sink)
    posted = fake_discord.messages_in(fake_discord.channel(guild))
    assert [p.content for p in posted] == markup.split(text)
    assert result.delivered and result.edits >= 2
    assert posted[0].reference == message.id
    assert posted[0].pings == set() and posted[0].allowed_mentions == NO_PINGS
    assert posted[0].components == []  # the Stop button is gone once finished
    first_create = fake_discord.calls_of("messages.create")[0]
    assert first_create.body["allowed_mentions"] == NO_PINGS
    assert first_create.body["components"][0]["components"][0]["custom_id"] == "stop:1"
    assert fake_discord.count_429() == 0
    assert pressed == []


async def test_a_long_reply_with_code_is_split_into_valid_chained_parts(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    code = "```python\n" + "".join(f"total_{i} = add(total, {i})  # step {i}\n" for i in range(120))
    text = long_reply(150) + "\n\n" + code + "```\n\n" + long_reply(60)
    assert len(text) > 5000
    chat = ScriptedChat(lambda m: text, tokens_per_second=2000.0)
    client = make_client()
    inbox = Inbox(client)
    async with running(client, fake_discord):
        message = await ask(fake_discord, inbox, guild, ada, "code please")
        sink = DiscordSink(
            message.channel,
            budget=channel_budget(BudgetPools(), message.channel.id),
            reply_to=message,
        )
        _, stream = events(chat, message, fake_discord.bot.id)
        await render(stream, sink)
    posted = fake_discord.messages_in(fake_discord.channel(guild))
    assert [p.content for p in posted] == markup.split(text)
    assert len(posted) >= 3
    for i, part in enumerate(posted):
        assert len(part.content) <= 2000
        assert fence_state_after(part.content) is None
        assert part.reference == (message.id if i == 0 else posted[i - 1].id)
    assert any(p.content.startswith("```python\n") for p in posted[1:])
    assert fake_discord.count_429() == 0


async def test_everyone_in_model_output_pings_nobody(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    text = f"Hey @everyone and @here! Also <@{ada.id}> and <@&{guild.roles[0].id}>."
    chat = ScriptedChat(lambda m: text, tokens_per_second=500.0)
    client = make_client()
    inbox = Inbox(client)
    async with running(client, fake_discord):
        message = await ask(fake_discord, inbox, guild, ada, "ping them")
        sink = DiscordSink(
            message.channel,
            budget=channel_budget(BudgetPools(), message.channel.id),
            reply_to=message,
        )
        _, stream = events(chat, message, fake_discord.bot.id)
        await render(stream, sink)
    posted = fake_discord.messages_in(fake_discord.channel(guild))
    assert len(posted) == 1
    assert posted[0].pings == set()
    assert "@everyone" not in posted[0].content and "@here" not in posted[0].content
    assert f"<@{ada.id}>" in posted[0].content  # shown as a name, pinging nobody
    assert all(
        c.body["allowed_mentions"]["parse"] == []
        for c in fake_discord.calls
        if c.kind in ("messages.create", "messages.edit")
    )


async def test_the_stop_button_stops_the_reply(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    chat = ScriptedChat(lambda m: long_reply(400), tokens_per_second=20.0)
    client = make_client()
    inbox = Inbox(client)
    pressed: list[int] = []
    async with running(client, fake_discord):
        message = await ask(fake_discord, inbox, guild, ada, "go on")
        incoming, stream = events(chat, message, fake_discord.bot.id)

        async def on_press(interaction: discord.Interaction) -> None:
            pressed.append(interaction.user.id)
            await chat.stop(incoming.key)

        sink = DiscordSink(
            message.channel,
            budget=channel_budget(BudgetPools(), message.channel.id),
            reply_to=message,
            stop=StopControl("stop:me", on_press),
        )
        task = asyncio.create_task(render(stream, sink))
        channel = fake_discord.channel(guild)
        await until(lambda: any(p.edits >= 1 for p in fake_discord.messages_in(channel)))
        shown = fake_discord.messages_in(channel)[0]
        click = await fake_discord.click(shown, "stop:me", ada)
        result = await asyncio.wait_for(task, 30)
    assert pressed == [ada.id] and chat.cancelled == 1
    assert click.response_type == 6  # acknowledged silently
    final = fake_discord.messages_in(channel)[0]
    assert final.components == [] and "interrupted" in final.content
    assert result.delivered


async def test_errors_map_to_the_sink_port(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    client = make_client(max_ratelimit_timeout=30)
    inbox = Inbox(client)
    async with running(client, fake_discord):
        message = await ask(fake_discord, inbox, guild, ada, "hi")
        sink = DiscordSink(
            message.channel,
            budget=channel_budget(BudgetPools(), message.channel.id),
            reply_to=message,
        )
        handle = await sink.send(SinkText("first"))
        assert isinstance(handle, DiscordHandle)
        await sink.edit(handle, SinkText("first"))  # identical: no call
        assert fake_discord.calls_of("messages.edit") == []
        fake_discord.rate_limit_next("messages.edit", 45.0, scope="shared")
        with pytest.raises(SinkRateLimited) as limited:
            await sink.edit(handle, SinkText("second"))
        assert limited.value.retry_after == pytest.approx(45.0)
        fake_discord.rate_limit_next("messages.edit", 2.0, via=False)
        with pytest.raises(SinkRateLimited):
            await sink.edit(handle, SinkText("third"))
        fake_discord.world.messages[handle.message.id].deleted = True
        with pytest.raises(SinkMessageGone):
            await sink.edit(handle, SinkText("fourth"))
        await sink.delete(handle)  # already gone: fine
        fake_discord.channel(guild).can_send = False
        with pytest.raises(SinkError) as refused:
            await sink.send(SinkText("nope"))
        assert not isinstance(refused.value, SinkRateLimited | SinkMessageGone)
        await sink.typing()
    assert fake_discord.typing_in(fake_discord.channel(guild)) == 1


async def test_concurrent_replies_in_one_channel_stay_within_its_budget(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    text = long_reply(150)
    chat = ScriptedChat(lambda m: text, tokens_per_second=60.0)
    client = make_client()
    inbox = Inbox(client)
    pools = BudgetPools()
    async with running(client, fake_discord):
        messages = [await ask(fake_discord, inbox, guild, ada, f"q{i}") for i in range(3)]
        renders = []
        for message in messages:
            sink = DiscordSink(
                message.channel, budget=channel_budget(pools, message.channel.id), reply_to=message
            )
            renders.append(render(events(chat, message, fake_discord.bot.id)[1], sink))
        results = await asyncio.gather(*renders)
    assert all(r.delivered for r in results)
    assert fake_discord.count_429() == 0
    # One write a second for the channel, all three replies together (a busy machine only
    # spreads them further apart).
    kinds = ("messages.create", "messages.edit")
    writes = sorted(c.t for c in fake_discord.calls if c.kind in kinds)
    assert len(writes) - 1 <= (writes[-1] - writes[0]) + 1.5
    assert [p.content for p in fake_discord.messages_in(fake_discord.channel(guild))] == (
        [markup.to_discord(text)] * 3
    )


async def test_a_deferred_slash_command_streams_through_follow_ups(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    text = long_reply(500)
    chat = ScriptedChat(lambda m: text, tokens_per_second=1000.0)
    client = make_client()
    tree = discord.app_commands.CommandTree(client)
    done: list[bool] = []

    @tree.command(name="ask", description="Ask the model", guild=discord.Object(guild.id))
    async def ask_command(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer(thinking=True)
        from hub.connectors.discord.events import from_interaction

        incoming = from_interaction(interaction, prompt)
        sink = InteractionSink(
            interaction,
            budget=interaction_budget(BudgetPools(), interaction.id),
            stop=StopControl("stop:slash", _ignore),
        )
        result = await render(chat.reply(incoming), sink)
        done.append(result.delivered)

    async with running(client, fake_discord):
        await tree.sync(guild=discord.Object(guild.id))
        found = await fake_discord.slash(fake_discord.channel(guild), ada, "ask", prompt="essay")
        await until(lambda: bool(done), within=60)
    assert done == [True]
    parts = markup.split(text)
    assert len(parts) >= 2
    original = fake_discord.world.messages[found.original_id or 0]
    followups = [fake_discord.world.messages[i] for i in found.followups]
    assert [original.content] + [f.content for f in followups] == parts
    assert all(m.components == [] and m.pings == set() for m in [original, *followups])
    assert found.responded_at is not None and found.responded_at - found.created < 3.0
    assert fake_discord.count_429() == 0


async def _ignore(interaction: discord.Interaction) -> None:
    return None


async def test_an_interaction_whose_original_is_gone_continues_in_a_follow_up(
    fake_discord: FakeDiscord, lab: tuple[Guild, User]
) -> None:
    guild, ada = lab
    client = make_client()
    tree = discord.app_commands.CommandTree(client)
    outcome: list[object] = []

    @tree.command(name="quick", description="Answer", guild=discord.Object(guild.id))
    async def quick(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.delete_original_response()  # e.g. dismissed by the user
        sink = InteractionSink(
            interaction, budget=interaction_budget(BudgetPools(), interaction.id)
        )
        handle = await sink.send(SinkText("the answer"), final=True)
        outcome.append(handle.original)

    @tree.command(name="silent", description="Never answered", guild=discord.Object(guild.id))
    async def silent(interaction: discord.Interaction) -> None:
        sink = InteractionSink(
            interaction, budget=interaction_budget(BudgetPools(), interaction.id)
        )
        try:
            await sink.send(SinkText("too late"), final=True)
        except SinkError as exc:
            outcome.append(type(exc))

    async with running(client, fake_discord):
        await tree.sync(guild=discord.Object(guild.id))
        found = await fake_discord.slash(fake_discord.channel(guild), ada, "quick")
        await until(lambda: len(outcome) == 1)
        await fake_discord.slash(fake_discord.channel(guild), ada, "silent")
        await until(lambda: len(outcome) == 2)
    assert outcome == [False, SinkError]  # a follow-up; then a plain error, not "gone"
    assert [fake_discord.world.messages[i].content for i in found.followups] == ["the answer"]
