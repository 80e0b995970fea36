"""Interactions with the real discord.py: a synced CommandTree, slash commands, autocomplete,
follow-ups, and a `discord.ui.View` button."""

from __future__ import annotations

import asyncio

import discord
import pytest
from discord import app_commands

from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_world import LOADING
from tests.support.discord_client import make_client, running
from tests.support.wait import until

MODELS = ["llama3.2", "llama3.1:70b", "qwen2.5", "mistral"]


def build_tree(
    client: discord.Client, guild: discord.Object, log: list[str]
) -> app_commands.CommandTree:
    tree = app_commands.CommandTree(client)

    @tree.command(name="ask", description="Ask the model", guild=guild)
    @app_commands.describe(prompt="What to ask")
    async def ask(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer(thinking=True)
        log.append(f"ask:{prompt}")
        await interaction.edit_original_response(content="Thinking about it ▌")
        await interaction.edit_original_response(content=f"Answer to {prompt}")
        await interaction.followup.send("And a second part.", wait=True)

    @tree.command(name="model", description="Choose your model", guild=guild)
    async def model(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"Model set to {name}", ephemeral=True)

    @model.autocomplete("name")
    async def model_names(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        log.append(f"complete:{current}")
        return [app_commands.Choice(name=m, value=m) for m in MODELS if current in m][:25]

    return tree


async def test_a_synced_tree_answers_a_slash_command_with_defer_and_follow_ups(
    fake_discord: FakeDiscord,
) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    general = fake_discord.channel(guild)
    log: list[str] = []
    client = make_client()
    tree = build_tree(client, discord.Object(guild.id), log)
    async with running(client, fake_discord):
        synced = await tree.sync(guild=discord.Object(guild.id))
        assert sorted(c.name for c in synced) == ["ask", "model"]
        again = await tree.sync(guild=discord.Object(guild.id))
        assert {c.id for c in again} == {c.id for c in synced}  # ids kept across overwrites
        assert await tree.fetch_commands(guild=discord.Object(guild.id))
        with pytest.raises(LookupError):
            await fake_discord.slash(general, ada, "nonexistent")
        found = await fake_discord.slash(general, ada, "ask", prompt="why?")
        await until(lambda: len(found.followups) == 1)
    assert log == ["ask:why?"]
    assert found.response_type == 5
    assert found.responded_at is not None and found.responded_at - found.created < 3.0
    original = fake_discord.world.messages[found.original_id or 0]
    assert original.content == "Answer to why?" and not original.flags & LOADING
    assert original.edits == 2 and original.pings == set()
    followup = fake_discord.world.messages[found.followups[0]]
    assert followup.content == "And a second part."
    assert followup.webhook_id == fake_discord.world.application_id
    kinds = [c.kind for c in fake_discord.calls if c.kind in ("interaction.callback", "webhook")]
    assert kinds == ["interaction.callback", "webhook", "webhook", "webhook"]


async def test_autocomplete_choices_reach_the_fake(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    general = fake_discord.channel(guild)
    log: list[str] = []
    client = make_client()
    tree = build_tree(client, discord.Object(guild.id), log)
    async with running(client, fake_discord):
        await tree.sync(guild=discord.Object(guild.id))
        found = await fake_discord.autocomplete(general, ada, "model", "name", name="llama")
        await until(lambda: found.choices is not None)
        chosen = await fake_discord.slash(general, ada, "model", name="qwen2.5")
        await until(lambda: chosen.original_id is not None)
    assert [c["value"] for c in found.choices or []] == ["llama3.2", "llama3.1:70b"]
    assert found.response_type == 8
    reply = fake_discord.world.messages[chosen.original_id or 0]
    assert reply.content == "Model set to qwen2.5" and reply.flags & 64  # ephemeral


async def test_an_answer_after_three_seconds_is_refused(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    fake_discord.ack_deadline = 0.2
    client = make_client()
    tree = app_commands.CommandTree(client)
    failures: list[Exception] = []

    @tree.command(name="slow", description="Too slow", guild=discord.Object(guild.id))
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.4)
        try:
            await interaction.response.defer()
        except discord.NotFound as exc:
            failures.append(exc)

    async with running(client, fake_discord):
        await tree.sync(guild=discord.Object(guild.id))
        await fake_discord.slash(fake_discord.channel(guild), ada, "slow")
        await until(lambda: bool(failures))
    assert getattr(failures[0], "code", None) == 10062


async def test_a_view_button_click_reaches_its_callback(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild()
    ada = fake_discord.add_user("Ada", guild=guild)
    pressed: list[int] = []

    class StopView(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=None)

        @discord.ui.button(label="Stop", style=discord.ButtonStyle.secondary, custom_id="stop:42")
        async def stop_button(
            self, interaction: discord.Interaction, button: discord.ui.Button
        ) -> None:  # type: ignore[type-arg]
            pressed.append(interaction.user.id)
            await interaction.response.edit_message(content="Stopped.", view=None)

    client = make_client()
    async with running(client, fake_discord):
        channel = client.get_channel(fake_discord.channel(guild).id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("Working ▌", view=StopView())
        posted = fake_discord.world.messages[sent.id]
        assert posted.custom_ids() == ["stop:42"]
        with pytest.raises(LookupError):
            await fake_discord.click(posted, "other", ada)
        found = await fake_discord.click(posted, "stop:42", ada)
        await until(lambda: found.response_type is not None)
    assert pressed == [ada.id]
    assert found.response_type == 7
    assert posted.content == "Stopped." and posted.components == []
