"""Who may use the Discord bot: the seam's allow lists extended with guild, channel and role
allow and deny lists (hub/connectors/discord/access.py), through the real discord.py."""

from __future__ import annotations

from hub.connectors.discord.access import DiscordAccess
from hub.connectors.discord.settings import DiscordSettings
from hub.core.access import REFUSAL
from hub.core.models import IncomingMessage, PlatformUser
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_world import Role
from tests.support.chat import ScriptedChat
from tests.support.discord_hub import connected, discord_settings
from tests.support.wait import until


def msg(
    user: str, chat: str = "c1", guild: str = "g1", roles: tuple[str, ...] = ()
) -> IncomingMessage:
    return IncomingMessage(
        "discord", chat, PlatformUser("discord", user), "hi", workspace_id=guild, roles=roles
    )


def test_the_policy_without_a_gateway() -> None:
    everyone = DiscordAccess(DiscordSettings())
    assert everyone.permits(msg("1"))
    by_role = DiscordAccess(DiscordSettings(allow_roles="7", admins="99"))
    assert by_role.permits(msg("1", roles=("7",))) and not by_role.permits(msg("1"))
    assert by_role.permits(msg("99"))  # admins pass
    by_guild = DiscordAccess(DiscordSettings(allow_chats="g1", deny_chats="c9", deny_users="5"))
    assert by_guild.permits(msg("1")) and not by_guild.permits(msg("1", guild="g2"))
    assert not by_guild.permits(msg("1", chat="c9"))  # a denied channel in an allowed guild
    assert not by_guild.permits(msg("5"))  # a denied person anywhere
    assert not by_guild.allows("5", "c1", "g1")  # nor may they press Stop
    muted = DiscordAccess(DiscordSettings(deny_roles="8", admins="99"))
    assert muted.permits(msg("1")) and not muted.permits(msg("1", roles=("8",)))
    assert muted.permits(msg("99", roles=("8",)))  # an admin cannot be locked out
    thread = IncomingMessage(
        "discord", "c1", PlatformUser("discord", "1"), "x", thread_id="t9", workspace_id="g1"
    )
    assert not DiscordAccess(DiscordSettings(deny_chats="t9")).permits(thread)


async def test_roles_and_deny_lists_through_the_gateway(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild("Lab", ("general", "offtopic"))
    helpers = Role(fake_discord.world.ids.next(), "helpers")
    muted = Role(fake_discord.world.ids.next(), "muted")
    guild.roles += [helpers, muted]
    ada = fake_discord.add_user("Ada", guild=guild, roles=(helpers.id,))
    bob = fake_discord.add_user("Bob", guild=guild)
    cleo = fake_discord.add_user("Cleo", guild=guild, roles=(helpers.id, muted.id))
    eve = fake_discord.add_user("Eve", guild=guild)
    general, offtopic = fake_discord.channel(guild), fake_discord.channel(guild, "offtopic")
    settings = discord_settings(
        fake_discord,
        allow_roles=[str(helpers.id)],
        deny_roles=[str(muted.id)],
        deny_chats=[str(offtopic.id)],
        admins=[str(eve.id)],
    )
    chat = ScriptedChat(lambda m: f"For {m.user.display_name}.")
    bot = fake_discord.mention(fake_discord.bot)
    async with connected(fake_discord, chat, settings) as connector:
        for who, where in ((bob, general), (cleo, general), (ada, offtopic), (ada, general)):
            await fake_discord.user_message(where, who, f"{bot} hello")
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
        await fake_discord.user_message(offtopic, eve, f"{bot} hello")  # admins pass deny lists
        await until(lambda: chat.finished == 2 and not connector.busy, within=20)
        dm = fake_discord.dm(bob)
        await fake_discord.user_message(dm, bob, "let me in")
        await until(lambda: len(fake_discord.messages_in(dm)) == 1, within=20)
    assert [m.user.display_name for m in chat.received] == ["Ada", "Eve"]
    assert [m.content for m in fake_discord.messages_in(general)] == ["For Ada."]
    assert [m.content for m in fake_discord.messages_in(dm)] == [REFUSAL]  # silence in guilds


async def test_a_refused_slash_command_is_told_privately(fake_discord: FakeDiscord) -> None:
    guild = fake_discord.add_guild("Lab")
    ada = fake_discord.add_user("Ada", guild=guild)
    bob = fake_discord.add_user("Bob", guild=guild)
    chat = ScriptedChat(lambda m: "Yes.")
    settings = discord_settings(fake_discord, allow_users=[str(ada.id)])
    channel = fake_discord.channel(guild)
    async with connected(fake_discord, chat, settings) as connector:
        await until(lambda: fake_discord.world.find_command("ask", guild.id) is not None)
        refused = await fake_discord.slash(channel, bob, "ask", text="let me in")
        await until(lambda: refused.response_type is not None)
        allowed = await fake_discord.slash(channel, ada, "ask", text="hello")
        await until(lambda: chat.finished == 1 and not connector.busy, within=20)
    told = fake_discord.world.messages[refused.original_id or 0]
    assert refused.response_type == 4 and told.content == REFUSAL and told.flags & 64  # ephemeral
    assert [m.text for m in chat.received] == ["hello"]
    assert fake_discord.world.messages[allowed.original_id or 0].content == "Yes."
