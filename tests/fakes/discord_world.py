"""What the fake Discord knows: users, guilds, channels, threads and messages, as Discord's JSON.

Payloads carry every field discord.py reads unconditionally (`member.flags`, an interaction's
`attachment_size_limit`, snowflake ids everywhere…), shaped like Discord API v10 objects
(discord.com/developers/docs/resources/*). Ids are real snowflakes, so discord.py's
`snowflake_time` and a guild's shard, `(guild_id >> 22) % num_shards`, work as with Discord.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
TEXT, DM, PUBLIC_THREAD = 0, 1, 11
DEFAULT, REPLY, CHAT_INPUT_COMMAND, THREAD_STARTER = 0, 19, 20, 21
ALL_PERMISSIONS = (1 << 41) - 1
EVERYONE_PERMISSIONS = 0x0000_0006_3A4F_FEC1  # Discord's default @everyone set (no admin)
LOADING = 1 << 7
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).isoformat()


class Snowflakes:
    """Snowflake ids from the wall clock, strictly increasing."""

    def __init__(self) -> None:
        self._ms = 0
        self._seq = 0

    def next(self, *, shard: tuple[int, int] | None = None) -> int:
        """A new id; with `shard=(i, n)` one whose guild would live on shard i of n."""
        ms = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, self._ms)
        if shard is not None:
            ms = max(ms, self._ms + 1)
            while ms % shard[1] != shard[0]:
                ms += 1
        self._seq = self._seq + 1 if ms == self._ms else 0
        self._ms = ms
        return (ms << 22) | (1 << 17) | (1 << 12) | (self._seq & 0xFFF)


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    def json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
        }


@dataclass
class Role:
    id: int
    name: str
    permissions: int = EVERYONE_PERMISSIONS
    position: int = 0
    bot_id: int | None = None  # the bot's own managed role ("@Hub" picked in the client)

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.bot_id is not None,
            "mentionable": self.bot_id is None,
            "flags": 0,
        }
        if self.bot_id is not None:
            out["tags"] = {"bot_id": str(self.bot_id)}
        return out


@dataclass
class Member:
    user: User
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso)

    def json(self, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            out["user"] = self.user.json()
        if permissions is not None:
            out["permissions"] = str(permissions)
        return out


@dataclass
class Channel:
    """A guild text channel, a DM, or a public thread."""

    id: int
    type: int
    name: str = ""
    guild_id: int | None = None
    parent_id: int | None = None  # threads: the channel they live in
    owner_id: int | None = None  # threads: who started them
    recipient: User | None = None  # DMs: the other person
    can_send: bool = True  # False: the bot lacks Send Messages here (403 50013)
    message_count: int = 0

    def json(self) -> dict[str, Any]:
        if self.type == DM:
            assert self.recipient is not None
            return {
                "id": str(self.id),
                "type": DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.recipient.json()],
            }
        out: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
            "parent_id": str(self.parent_id) if self.parent_id else None,
        }
        if self.type == PUBLIC_THREAD:
            out |= {
                "owner_id": str(self.owner_id),
                "message_count": self.message_count,
                "total_message_sent": self.message_count,
                "member_count": 2,
                "applied_tags": [],
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": iso(),
                    "locked": False,
                    "invitable": True,
                    "create_timestamp": iso(),
                },
            }
        else:
            out |= {
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "topic": None,
                "default_auto_archive_duration": 1440,
            }
        return out


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: list[Role] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    thread_ids: list[int] = field(default_factory=list)

    def role(self, role_id: int) -> Role | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def permissions(self, user_id: int) -> int:
        member = self.members.get(user_id)
        roles = [r for r in self.roles if r.id == self.id or (member and r.id in member.roles)]
        value = 0
        for r in roles:
            value |= r.permissions
        return ALL_PERMISSIONS if user_id == self.owner_id else value


@dataclass
class Posted:
    """A message as the people in the channel see it now."""

    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str
    type: int = DEFAULT
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    embeds: list[dict[str, Any]] = field(default_factory=list)
    reference: int | None = None  # the message this one replies to
    allowed_mentions: dict[str, Any] | None = None
    pings: set[str] = field(default_factory=set)  # who was notified: "everyone", "user:ID"…
    flags: int = 0
    webhook_id: int | None = None
    interaction_id: int | None = None
    created: float = field(default_factory=time.time)
    edited: float | None = None
    edits: int = 0
    edit_times: list[float] = field(default_factory=list)  # loop time of each edit
    deleted: bool = False
    thread_id: int | None = None  # a thread started from this message

    @property
    def mentioned_users(self) -> list[int]:
        return sorted({int(p[5:]) for p in self.pings if p.startswith("user:")})

    @property
    def mentioned_roles(self) -> list[int]:
        return sorted({int(p[5:]) for p in self.pings if p.startswith("role:")})

    def custom_ids(self) -> list[str]:
        return [
            str(c.get("custom_id"))
            for row in self.components
            for c in row.get("components", [])
            if c.get("custom_id")
        ]


def mentions_in(content: str) -> tuple[set[int], set[int], bool]:
    """(user ids, role ids, @everyone or @here) written in `content`, as Discord parses them."""
    users = {int(m) for m in _USER_MENTION.findall(content)}
    roles = {int(m) for m in _ROLE_MENTION.findall(content)}
    return users, roles, "@everyone" in content or "@here" in content


def pings_for(content: str, allowed: dict[str, Any] | None, replied_user: int | None) -> set[str]:
    """Who a new message notifies, per Discord's allowed_mentions rules.

    Without `allowed_mentions` everything written pings and a reply pings its author; with it,
    only what `parse`, `users`, `roles` and `replied_user` allow.
    """
    users, roles, everyone = mentions_in(content)
    if allowed is None:
        parse = {"users", "roles", "everyone"}
        allowed_users: set[int] = set()
        allowed_roles: set[int] = set()
        reply_ping = True
    else:
        parse = set(allowed.get("parse") or [])
        allowed_users = {int(u) for u in allowed.get("users") or []}
        allowed_roles = {int(r) for r in allowed.get("roles") or []}
        reply_ping = bool(allowed.get("replied_user", False))
    pings = {f"user:{u}" for u in users if "users" in parse or u in allowed_users}
    pings |= {f"role:{r}" for r in roles if "roles" in parse or r in allowed_roles}
    if everyone and "everyone" in parse:
        pings.add("everyone")
    if replied_user is not None and reply_ping:
        pings.add(f"user:{replied_user}")
    return pings
