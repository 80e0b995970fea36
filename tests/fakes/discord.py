"""A fake Discord (REST API v10 and the gateway) on an ephemeral port, for real discord.py.

Point discord.py at it with `pointed_at(fake)` (it sets and restores the process-wide
`discord.http.Route.BASE` and `DiscordWebSocket.DEFAULT_GATEWAY`); discord.py then logs in,
identifies (one shard or many, `AutoShardedClient`), resumes and answers as with Discord.
Pieces: `discord_world.py` and `discord_state.py` (what exists, as Discord's JSON),
`discord_gateway.py` (the websocket), `discord_rest.py` (the envelope, rate limits from
`discord_limits.py`, messages), `discord_interactions.py` (callbacks, webhooks, commands).

Tests act as users: `user_message` (a guild mention, a DM, a reply with `message_reference`, a
message in a thread, attachments), `slash`, `autocomplete` and `click` (INTERACTION_CREATE), and
as Discord: `drop`, `request_reconnect`, `invalidate`, `rate_limit_next`, `fail_next`. Every
REST call is recorded (`calls`, `calls_of`); `messages_in` shows what users see.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import yarl
from aiohttp import web
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fakes.discord_control import RemoteFake, add_control_routes
from tests.fakes.discord_gateway import MESSAGE_CONTENT, Gateway
from tests.fakes.discord_interactions import InteractionApi
from tests.fakes.discord_messages import MessageApi
from tests.fakes.discord_rest import Call, Rest
from tests.fakes.discord_state import Interaction, World
from tests.fakes.discord_world import Channel, Guild, Posted, User, pings_for

MESSAGE_CONTENT_LIMITED = 1 << 19  # application flag: the intent is switched on in the portal
_OPTION_TYPES = {str: 3, int: 4, bool: 5, float: 10}


class FakeDiscord:
    """Start with `await fake.start()`; `fake.api_base` and `fake.gateway_url` point at it."""

    def __init__(self, token: str = "fake.discord.token", *, shards: int = 1) -> None:
        self.token = token
        self.world = World()
        self.shard_count = shards
        self.require_sharding = False  # True: an unsharded IDENTIFY is closed with 4011
        self.privileged_intents = MESSAGE_CONTENT  # what the developer portal switched on
        self.gateway = Gateway(self)
        self.rest = Rest(self)
        self.messages_api = MessageApi(self, self.rest)
        self.interactions_api = InteractionApi(self, self.rest, self.messages_api)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get("/resume/", self.gateway.handle)
        self.rest.routes(app)
        self.messages_api.routes(app)
        self.interactions_api.routes(app)
        add_control_routes(app, self)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.world.cdn_base = self.root

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """For `discord.http.Route.BASE` (and `HUB_DISCORD__API_BASE`)."""
        return f"{self.root}/api/v10"

    @property
    def gateway_url(self) -> str:
        """For `DiscordWebSocket.DEFAULT_GATEWAY` (and `HUB_DISCORD__GATEWAY_URL`)."""
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def resume_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume/"

    @property
    def app_flags(self) -> int:
        return MESSAGE_CONTENT_LIMITED if self.privileged_intents & MESSAGE_CONTENT else 0

    # --- the world ------------------------------------------------------------------------------

    @property
    def bot(self) -> User:
        return self.world.bot

    def add_guild(
        self,
        name: str = "Test guild",
        channels: tuple[str, ...] = ("general",),
        *,
        shard: int | None = None,
    ) -> Guild:
        """A guild the bot is in; `shard` picks an id that routes it to that shard."""
        where = (shard, self.shard_count) if shard is not None else None
        return self.world.add_guild(name, channels, where)

    def add_user(
        self,
        name: str = "Ada",
        *,
        guild: Guild | None = None,
        roles: tuple[int, ...] = (),
        bot: bool = False,
    ) -> User:
        user = self.world.add_user(name, bot=bot)
        if guild is not None:
            self.world.join(guild, user, roles)
        return user

    def channel(self, guild: Guild, name: str = "general") -> Channel:
        found = (self.world.channels[c] for c in guild.channel_ids)
        return next(c for c in found if c.name == name)

    async def add_thread(self, parent: Channel, name: str, owner: User) -> Channel:
        """A public thread (announced with THREAD_CREATE)."""
        thread = self.world.add_thread(parent, name, owner)
        await self.gateway.dispatch(
            "THREAD_CREATE", {**thread.json(), "newly_created": True}, parent.guild_id
        )
        return thread

    def dm(self, user: User) -> Channel:
        return self.world.dm_channel(user)

    def attachment(
        self,
        channel: Channel,
        filename: str,
        data: bytes,
        content_type: str,
        size: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """An uploaded file, served on the fake's CDN path."""
        return self.world.add_file(channel.id, filename, data, content_type, size)

    # --- acting as users ------------------------------------------------------------------------

    async def user_message(
        self,
        channel: Channel,
        author: User,
        content: str,
        *,
        reply_to: Posted | None = None,
        ping_reply: bool = True,
        attachments: list[dict[str, Any]] | None = None,
        dispatch: bool = True,
    ) -> Posted:
        """A person's message; `dispatch=False` only stores it (history the bot must fetch)."""
        replied = reply_to.author.id if reply_to is not None and ping_reply else None
        posted = Posted(
            id=self.world.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=content,
            type=19 if reply_to is not None else 0,
            attachments=list(attachments or []),
            reference=reply_to.id if reply_to is not None else None,
            pings=pings_for(content, None, replied),
        )
        self.world.messages[posted.id] = posted
        if dispatch:
            data = self.world.message(posted, gateway=True)
            await self.gateway.dispatch("MESSAGE_CREATE", data, channel.guild_id)
        return posted

    def mention(self, user: User) -> str:
        return f"<@{user.id}>"

    async def slash(
        self, channel: Channel, user: User, name: str, /, **options: Any
    ) -> Interaction:
        """A slash command as Discord sends it: only one registered for that guild or globally."""
        command = self.world.find_command(name, channel.guild_id)
        if command is None:
            raise LookupError(f"/{name} is not registered for this channel's guild or globally")
        data: dict[str, Any] = {
            "id": str(command.id),
            "name": name,
            "type": 1,
            "options": self._options(command.body, options, None),
        }
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        return await self._interact(2, channel, user, data)

    async def autocomplete(
        self, channel: Channel, user: User, name: str, focused: str, /, **options: Any
    ) -> Interaction:
        """An autocomplete request while `user` types option `focused` of /`name`."""
        command = self.world.find_command(name, channel.guild_id)
        if command is None:
            raise LookupError(f"/{name} is not registered")
        data: dict[str, Any] = {
            "id": str(command.id),
            "name": name,
            "type": 1,
            "options": self._options(command.body, options, focused),
        }
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        return await self._interact(4, channel, user, data)

    async def click(self, message: Posted, custom_id: str, user: User) -> Interaction:
        """A button press: only on a button the message shows now."""
        if message.deleted or custom_id not in message.custom_ids():
            raise LookupError(f"message {message.id} has no button {custom_id!r}")
        channel = self.world.channels[message.channel_id]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, channel, user, data, message.id)

    def _options(
        self, body: dict[str, Any], given: dict[str, Any], focused: str | None
    ) -> list[dict[str, Any]]:
        defined = {o["name"]: o for o in body.get("options") or []}
        out = []
        for name, value in given.items():
            if name not in defined:
                raise LookupError(f"/{body['name']} has no option {name!r}")
            kind = defined[name].get("type", _OPTION_TYPES.get(type(value), 3))
            option: dict[str, Any] = {"name": name, "type": kind, "value": value}
            if name == focused:
                option["focused"] = True
            out.append(option)
        return out

    async def _interact(
        self,
        kind: int,
        channel: Channel,
        user: User,
        data: dict[str, Any],
        message_id: int | None = None,
    ) -> Interaction:
        now = asyncio.get_running_loop().time()
        found = self.world.new_interaction(kind, channel, user, data, now, message_id)
        await self.gateway.dispatch(
            "INTERACTION_CREATE", self.world.interaction(found), channel.guild_id
        )
        return found

    # --- acting as Discord ----------------------------------------------------------------------

    async def drop(self, shard: int = 0, *, code: int | None = 4000) -> None:
        await self.gateway.drop(shard, code=code)

    async def request_reconnect(self, shard: int = 0) -> None:
        await self.gateway.request_reconnect(shard)

    async def invalidate(self, shard: int = 0, *, resumable: bool = False) -> None:
        await self.gateway.invalidate(shard, resumable=resumable)

    def rate_limit_next(
        self, kind: str, retry_after: float, *, scope: str = "user", via: bool = True
    ) -> None:
        """The next request of bucket `kind` gets a 429 (`scope`: user, shared or global)."""
        self.rest.limits.script(kind, retry_after, scope, via)

    def fail_next(self, kind: str, status: int, code: int, message: str) -> None:
        self.rest.fail_next(kind, status, code, message)

    def set_limit(self, kind: str, limit: int, per: float) -> None:
        self.rest.limits.limits[kind] = (limit, per)

    @property
    def ack_deadline(self) -> float:
        return self.interactions_api.ack_deadline

    @ack_deadline.setter
    def ack_deadline(self, seconds: float) -> None:
        self.interactions_api.ack_deadline = seconds

    # --- what happened --------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        return self.rest.calls

    def calls_of(self, kind: str, method: str | None = None) -> list[Call]:
        return [c for c in self.rest.calls if c.kind == kind and method in (None, c.method)]

    @property
    def enforced_429(self) -> int:
        """429s the fake's own limits answered (scripted ones not counted)."""
        return self.rest.enforced_429

    def count_429(self) -> int:
        return sum(1 for c in self.rest.calls if c.status == 429)

    def messages_in(self, channel: Channel | int, *, by_bot: bool = True) -> list[Posted]:
        channel_id = channel if isinstance(channel, int) else channel.id
        return [
            m
            for m in self.world.messages.values()
            if m.channel_id == channel_id
            and not m.deleted
            and (not by_bot or m.author.id == self.world.bot.id)
        ]

    def typing_in(self, channel: Channel) -> int:
        return sum(1 for _, c in self.messages_api.typing if c == channel.id)


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord | RemoteFake) -> Iterator[None]:
    """discord.py's REST base and gateway URL aimed at `fake`, restored afterwards.

    Both are process-wide class attributes, so tests using them must not run in parallel
    within one process.
    """
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


async def _serve(port: int, guilds: int, channels: int, users: int) -> None:
    fake = FakeDiscord()
    for g in range(guilds):
        guild = fake.add_guild(f"Guild {g}", tuple(f"channel-{c}" for c in range(channels)))
        for u in range(users):
            fake.add_user(f"user{g}-{u}", guild=guild)
    await fake.start(port)
    print(fake.root, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main() -> None:
    """`python -m tests.fakes.discord [--port N] [--guilds G] [--channels C] [--users U]`.

    Serves until SIGTERM and prints its root URL: the REST base is `<root>/api/v10`, the
    gateway `ws://…/`. `GET /_fake/state` gives the ids (guilds, channels, members, the bot and
    its token), the recorded calls and the messages; `POST /_fake/message` with `channel_id`,
    `user_id`, `content` (and `mention: true` to prefix the bot's mention) posts as a user.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.discord")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--guilds", type=int, default=1)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--users", type=int, default=1)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.guilds, args.channels, args.users))


if __name__ == "__main__":
    main()
