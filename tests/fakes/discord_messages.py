"""Channel messages in the fake Discord: create, fetch, edit, delete, typing, threads.

Validated like Discord: content of at most 2,000 code points (400 50035
`BASE_TYPE_MAX_LENGTH`), never an empty message (50006), components within Discord's layout
limits, a `message_reference` to an existing message unless `fail_if_not_exists` is false. Who a
new message notifies follows `allowed_mentions` (`discord_world.pings_for`); edits notify nobody.
Each change is dispatched on the gateway (MESSAGE_CREATE, MESSAGE_UPDATE, MESSAGE_DELETE,
THREAD_CREATE) to the shard of the channel's guild.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord_rest import ApiError, Req, Rest, form_error
from tests.fakes.discord_world import (
    LOADING,
    PUBLIC_THREAD,
    REPLY,
    Channel,
    Posted,
    User,
    pings_for,
)

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord

MAX_CONTENT = 2000
MAX_CUSTOM_ID = 100
UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
EMPTY_MESSAGE = (400, 50006, "Cannot send an empty message")
EPHEMERAL = 1 << 6


class MessageApi:
    def __init__(self, fake: FakeDiscord, rest: Rest) -> None:
        self.fake, self.rest, self.world = fake, rest, fake.world
        self.typing: list[tuple[float, int]] = []  # (loop time, channel id)

    def routes(self, app: web.Application) -> None:
        add = self.rest.add
        channel = "/channels/{channel_id}"
        message = channel + "/messages/{message_id}"
        add(app, "POST", channel + "/messages", "messages.create", self._create, "channel_id")
        add(app, "GET", message, "messages.get", self._get, "channel_id")
        add(app, "PATCH", message, "messages.edit", self._edit, "channel_id")
        add(app, "DELETE", message, "messages.delete", self._delete, "channel_id")
        add(app, "POST", channel + "/typing", "typing", self._typing, "channel_id")
        add(app, "POST", message + "/threads", "threads.create", self._thread, "channel_id")

    def channel(self, req: Req) -> Channel:
        found = self.world.channels.get(req.id("channel_id"))
        if found is None:
            raise ApiError(*UNKNOWN_CHANNEL)
        return found

    def message(self, req: Req, channel: Channel) -> Posted:
        found = self.world.messages.get(req.id("message_id"))
        if found is None or found.deleted or found.channel_id != channel.id:
            raise ApiError(*UNKNOWN_MESSAGE)
        return found

    async def _create(self, req: Req) -> tuple[int, Any]:
        channel = self.channel(req)
        if not channel.can_send:
            raise ApiError(403, 50013, "Missing Permissions")
        posted = await self.post(channel, self.world.bot, req.body or {})
        return 200, self.world.message(posted)

    async def _get(self, req: Req) -> tuple[int, Any]:
        channel = self.channel(req)
        return 200, self.world.message(self.message(req, channel))

    async def _edit(self, req: Req) -> tuple[int, Any]:
        channel = self.channel(req)
        posted = self.message(req, channel)
        if posted.author.id != self.world.bot.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        await self.edit(posted, req.body or {}, req.now)
        return 200, self.world.message(posted)

    async def _delete(self, req: Req) -> tuple[int, Any]:
        channel = self.channel(req)
        posted = self.message(req, channel)
        await self.delete(posted)
        return 204, None

    async def _typing(self, req: Req) -> tuple[int, Any]:
        channel = self.channel(req)
        self.typing.append((req.now, channel.id))
        return 204, None

    async def _thread(self, req: Req) -> tuple[int, Any]:
        channel = self.channel(req)
        posted = self.message(req, channel)
        body = req.body or {}
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if channel.type != 0:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if posted.thread_id is not None:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = self.world.add_thread(channel, name, self.world.bot, thread_id=posted.id)
        posted.thread_id = thread.id
        data = {**thread.json(), "newly_created": True}
        await self.fake.gateway.dispatch("THREAD_CREATE", data, channel.guild_id)
        return 201, thread.json()

    # --- what messages do (shared with webhooks and interaction callbacks) ---------------------

    def check_content(self, body: dict[str, Any]) -> None:
        content = body.get("content")
        if content is not None and len(str(content)) > MAX_CONTENT:
            raise form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        rows = body.get("components") or []
        if len(rows) > 5:
            raise form_error("components", "BASE_TYPE_BAD_LENGTH", "Must be 5 or fewer in length.")
        for i, row in enumerate(rows):
            items = row.get("components") or []
            if row.get("type") != 1 or not 1 <= len(items) <= 5:
                raise form_error(
                    f"components.{i}",
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
            for j, item in enumerate(items):
                if len(str(item.get("custom_id") or "")) > MAX_CUSTOM_ID:
                    raise form_error(
                        f"components.{i}.components.{j}.custom_id",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 100 or fewer in length.",
                    )

    async def post(
        self,
        channel: Channel,
        author: User,
        body: dict[str, Any],
        *,
        webhook: bool = False,
        interaction_id: int | None = None,
        kind: int | None = None,
        flags: int = 0,
    ) -> Posted:
        """Create a message in `channel` (validated like Discord) and dispatch MESSAGE_CREATE."""
        self.check_content(body)
        content = str(body.get("content") or "")
        components = list(body.get("components") or [])
        embeds = list(body.get("embeds") or [])
        if not content and not components and not embeds and not flags & LOADING:
            raise ApiError(*EMPTY_MESSAGE)
        reference = self._reference(channel, body.get("message_reference"))
        replied = self.world.messages[reference].author.id if reference else None
        if replied == author.id:
            replied = None
        posted = Posted(
            id=self.world.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=content,
            type=kind if kind is not None else (REPLY if reference else 0),
            components=components,
            embeds=embeds,
            reference=reference,
            allowed_mentions=body.get("allowed_mentions"),
            pings=pings_for(content, body.get("allowed_mentions"), replied),
            flags=int(body.get("flags") or 0) | flags,
            webhook_id=self.world.application_id if webhook else None,
            interaction_id=interaction_id,
        )
        self.world.messages[posted.id] = posted
        if channel.type == PUBLIC_THREAD:
            channel.message_count += 1
        if not posted.flags & EPHEMERAL:  # ephemeral messages are not broadcast
            data = self.world.message(posted, gateway=True)
            await self.fake.gateway.dispatch("MESSAGE_CREATE", data, channel.guild_id)
        return posted

    def _reference(self, channel: Channel, ref: dict[str, Any] | None) -> int | None:
        if not ref or not ref.get("message_id"):
            return None
        target = self.world.messages.get(int(ref["message_id"]))
        if target is None or target.deleted or target.channel_id != channel.id:
            if ref.get("fail_if_not_exists", True):
                raise form_error(
                    "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            return None
        return target.id

    async def edit(self, posted: Posted, body: dict[str, Any], now: float) -> None:
        """Apply an edit like Discord: fields present replace, `null` clears; MESSAGE_UPDATE."""
        self.check_content(body)
        content = posted.content
        if "content" in body:
            content = str(body["content"] or "")
        components = posted.components
        if "components" in body:
            components = list(body["components"] or [])
        if not content and not components and not posted.embeds and not posted.attachments:
            raise ApiError(*EMPTY_MESSAGE)
        posted.content, posted.components = content, components
        if "allowed_mentions" in body:
            posted.allowed_mentions = body["allowed_mentions"]
        if "embeds" in body:
            posted.embeds = list(body["embeds"] or [])
        if "flags" in body and body["flags"] is not None:
            posted.flags = int(body["flags"])
        posted.flags &= ~LOADING
        posted.edits += 1
        posted.edit_times.append(now)
        posted.edited = time.time()
        data = self.world.message(posted, gateway=True)
        await self.fake.gateway.dispatch("MESSAGE_UPDATE", data, posted.guild_id)

    async def delete(self, posted: Posted) -> None:
        posted.deleted = True
        data: dict[str, Any] = {"id": str(posted.id), "channel_id": str(posted.channel_id)}
        if posted.guild_id is not None:
            data["guild_id"] = str(posted.guild_id)
        await self.fake.gateway.dispatch("MESSAGE_DELETE", data, posted.guild_id)
