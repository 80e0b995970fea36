"""The fake Discord's state: one bot, its guilds, channels, messages, commands and interactions.

Builders turn it into the JSON of Discord's objects: the full guild of GUILD_CREATE, messages as
REST returns them and as the gateway dispatches them (with `guild_id` and the author's
`member`), interactions, application commands.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord_world import (
    ALL_PERMISSIONS,
    DM,
    PUBLIC_THREAD,
    TEXT,
    Channel,
    Guild,
    Member,
    Posted,
    Role,
    Snowflakes,
    User,
    iso,
)

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass
class Interaction:
    """One INTERACTION_CREATE and what the bot answered."""

    id: int
    token: str
    type: int  # 2 command, 3 component, 4 autocomplete
    channel_id: int
    guild_id: int | None
    user: User
    data: dict[str, Any]
    created: float  # loop time
    message_id: int | None = None  # component interactions: the clicked message
    response_type: int | None = None  # the callback type answered
    responded_at: float | None = None
    original_id: int | None = None
    followups: list[int] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None  # an autocomplete result

    def owns(self, message_id: int) -> bool:
        return message_id == self.original_id or message_id in self.followups


@dataclass
class Command:
    id: int
    guild_id: int | None
    body: dict[str, Any]
    version: int


class World:
    """Everything the fake knows. The bot is a member of every guild."""

    def __init__(self, bot_name: str = "Hub") -> None:
        self.ids = Snowflakes()
        self.bot = User(self.ids.next(), bot_name.lower(), bot_name, bot=True)
        self.application_id = self.bot.id
        self.owner = User(self.ids.next(), "owner", "Owner")
        self.users: dict[int, User] = {self.bot.id: self.bot, self.owner.id: self.owner}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Posted] = {}
        self.interactions: dict[int, Interaction] = {}
        self.commands: dict[tuple[int | None, str], Command] = {}
        self.files: dict[str, bytes] = {}  # CDN path → bytes
        self.cdn_base = ""

    # --- building the world ---------------------------------------------------------------------

    def add_user(self, username: str, *, bot: bool = False) -> User:
        user = User(self.ids.next(), username.lower(), username, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self, name: str, channels: tuple[str, ...], shard: tuple[int, int] | None
    ) -> Guild:
        guild = Guild(self.ids.next(shard=shard), name, owner_id=self.owner.id)
        guild.roles.append(Role(guild.id, "@everyone"))
        bot_role = Role(self.ids.next(), self.bot.global_name or "Hub", position=1)
        bot_role.bot_id = self.bot.id
        guild.roles.append(bot_role)
        guild.members[self.bot.id] = Member(self.bot, roles=[bot_role.id])
        guild.members[self.owner.id] = Member(self.owner)
        for channel_name in channels:
            channel = Channel(self.ids.next(), TEXT, channel_name, guild_id=guild.id)
            self.channels[channel.id] = channel
            guild.channel_ids.append(channel.id)
        self.guilds[guild.id] = guild
        return guild

    def join(self, guild: Guild, user: User, roles: tuple[int, ...] = ()) -> Member:
        member = Member(user, roles=list(roles))
        guild.members[user.id] = member
        return member

    def add_thread(self, parent: Channel, name: str, owner: User, thread_id: int = 0) -> Channel:
        assert parent.guild_id is not None
        thread = Channel(
            thread_id or self.ids.next(),
            PUBLIC_THREAD,
            name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=owner.id,
        )
        self.channels[thread.id] = thread
        self.guilds[parent.guild_id].thread_ids.append(thread.id)
        return thread

    def dm_channel(self, user: User) -> Channel:
        found = next((c for c in self.channels.values() if c.recipient is user), None)
        if found is None:
            found = Channel(self.ids.next(), DM, recipient=user)
            self.channels[found.id] = found
        return found

    def add_file(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        content_type: str,
        size: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        attachment_id = self.ids.next()
        path = f"/cdn/attachments/{channel_id}/{attachment_id}/{filename}"
        self.files[path] = data
        out: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": self.cdn_base + path,
            "proxy_url": self.cdn_base + path,
            "content_type": content_type,
            "flags": 0,
        }
        if size is not None:
            out["width"], out["height"] = size
        return out

    def shard_of(self, guild_id: int | None, count: int) -> int:
        """Discord's routing: guilds by `(guild_id >> 22) % num_shards`, DMs to shard 0."""
        return 0 if guild_id is None else (guild_id >> 22) % count

    # --- JSON -----------------------------------------------------------------------------------

    def guild_create(self, guild: Guild) -> dict[str, Any]:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.json() for r in guild.roles],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "joined_at": iso(),
            "large": False,
            "unavailable": False,
            "lazy": True,
            "member_count": len(guild.members),
            "members": [m.json() for m in guild.members.values()],
            "channels": [self.channels[c].json() for c in guild.channel_ids],
            "threads": [self.channels[t].json() for t in guild.thread_ids],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def message(self, posted: Posted, *, gateway: bool = False, depth: int = 0) -> dict[str, Any]:
        """A message object; `gateway` adds what MESSAGE_CREATE carries (guild_id, member)."""
        guild = self.guilds.get(posted.guild_id or 0)
        mentions = []
        for user_id in posted.mentioned_users:
            user = self.users.get(user_id)
            if user is None:
                continue
            entry = user.json()
            if gateway and guild is not None and user_id in guild.members:
                entry["member"] = guild.members[user_id].json(with_user=False)
            mentions.append(entry)
        out: dict[str, Any] = {
            "id": str(posted.id),
            "channel_id": str(posted.channel_id),
            "type": posted.type,
            "author": posted.author.json(),
            "content": posted.content,
            "timestamp": iso(posted.created),
            "edited_timestamp": iso(posted.edited) if posted.edited else None,
            "tts": False,
            "mention_everyone": "everyone" in posted.pings,
            "mentions": mentions,
            "mention_roles": [str(r) for r in posted.mentioned_roles],
            "attachments": posted.attachments,
            "embeds": posted.embeds,
            "components": posted.components,
            "pinned": False,
            "flags": posted.flags,
        }
        if posted.webhook_id is not None:
            out["webhook_id"] = str(posted.webhook_id)
            out["application_id"] = str(self.application_id)
        if posted.interaction_id is not None:
            out["interaction_metadata"] = self._interaction_metadata(posted.interaction_id)
        if posted.reference is not None:
            ref = self.messages.get(posted.reference)
            out["message_reference"] = {
                "type": 0,
                "message_id": str(posted.reference),
                "channel_id": str(posted.channel_id),
            }
            if posted.guild_id is not None:
                out["message_reference"]["guild_id"] = str(posted.guild_id)
            if posted.type == 19 and depth == 0:
                gone = ref is None or ref.deleted
                out["referenced_message"] = None if gone else self.message(ref, depth=1)  # type: ignore[arg-type]
        if posted.thread_id is not None and posted.thread_id in self.channels:
            out["thread"] = self.channels[posted.thread_id].json()
        if gateway and guild is not None:
            out["guild_id"] = str(guild.id)
            member = guild.members.get(posted.author.id)
            if member is not None and posted.webhook_id is None:
                out["member"] = member.json(with_user=False)
        return out

    def _interaction_metadata(self, interaction_id: int) -> dict[str, Any]:
        found = self.interactions.get(interaction_id)
        if found is None:
            return {
                "id": str(interaction_id),
                "type": 2,
                "user": self.owner.json(),
                "authorizing_integration_owners": {},
            }
        return {
            "id": str(found.id),
            "type": found.type,
            "user": found.user.json(),
            "authorizing_integration_owners": self._owners(found),
        }

    def _owners(self, interaction: Interaction) -> dict[str, str]:
        if interaction.guild_id is not None:
            return {"0": str(interaction.guild_id)}
        return {"1": str(interaction.user.id)}

    def interaction(self, found: Interaction) -> dict[str, Any]:
        channel = self.channels[found.channel_id]
        out: dict[str, Any] = {
            "id": str(found.id),
            "application_id": str(self.application_id),
            "type": found.type,
            "data": found.data,
            "channel": channel.json(),
            "channel_id": str(channel.id),
            "token": found.token,
            "version": 1,
            "app_permissions": str(ALL_PERMISSIONS),
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": self._owners(found),
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if found.guild_id is not None:
            guild = self.guilds[found.guild_id]
            member = guild.members[found.user.id]
            out["guild_id"] = str(guild.id)
            out["guild"] = {"id": str(guild.id), "locale": "en-US", "features": []}
            out["guild_locale"] = "en-US"
            out["member"] = member.json(permissions=guild.permissions(found.user.id))
            out["context"] = 0
        else:
            out["user"] = found.user.json()
            out["context"] = 1
        if found.message_id is not None:
            out["message"] = self.message(self.messages[found.message_id])
        return out

    def new_interaction(
        self,
        kind: int,
        channel: Channel,
        user: User,
        data: dict[str, Any],
        now: float,
        message_id: int | None = None,
    ) -> Interaction:
        found = Interaction(
            id=self.ids.next(),
            token="aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48),
            type=kind,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            user=user,
            data=data,
            created=now,
            message_id=message_id,
        )
        self.interactions[found.id] = found
        return found

    def command_json(self, command: Command) -> dict[str, Any]:
        body = command.body
        out: dict[str, Any] = {
            "id": str(command.id),
            "application_id": str(self.application_id),
            "version": str(command.version),
            "type": body.get("type", 1),
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description", ""),
            "description_localizations": body.get("description_localizations"),
            "options": body.get("options", []),
            "default_member_permissions": body.get("default_member_permissions"),
            "dm_permission": body.get("dm_permission", True),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types", [0]),
            "nsfw": body.get("nsfw", False),
        }
        if command.guild_id is not None:
            out["guild_id"] = str(command.guild_id)
        return out

    def find_command(self, name: str, guild_id: int | None) -> Command | None:
        if guild_id is not None and (guild_id, name) in self.commands:
            return self.commands[(guild_id, name)]
        return self.commands.get((None, name))
