"""Control routes of the fake Discord run as its own process (`python -m tests.fakes.discord`).

They let another process (a benchmark) act as users and read what happened: `GET /_fake/state`
gives the ids (guilds, channels, members, the bot and its token), the recorded calls (times on
the fake's monotonic clock) and the messages; `POST /_fake/message` with `channel_id`, `user_id`
and `content` (`mention: true` prefixes the bot's mention) posts as that user. `RemoteFake`
is the other process's handle on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from tests.fakes.discord_world import DM

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord


@dataclass(frozen=True, slots=True)
class RemoteFake:
    """A fake Discord running in another process, by the root URL it printed."""

    root: str

    @property
    def api_base(self) -> str:
        return f"{self.root}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.root.replace("http://", "ws://", 1) + "/"

    async def state(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(f"{self.root}/_fake/state") as response:
            body: dict[str, Any] = await response.json()
            return body

    async def post(
        self,
        session: aiohttp.ClientSession,
        channel_id: str,
        user_id: str,
        content: str,
        *,
        mention: bool = True,
    ) -> str:
        """Post as `user_id`; the new message's id."""
        body = {
            "channel_id": channel_id,
            "user_id": user_id,
            "content": content,
            "mention": mention,
        }
        async with session.post(f"{self.root}/_fake/message", json=body) as response:
            return str((await response.json())["id"])


def _text_of(body: Any) -> str:
    """The start of a write's content (enough to tell a placeholder from reply text)."""
    content = body.get("content") if isinstance(body, dict) else None
    return str(content)[:80] if content else ""


def add_control_routes(app: web.Application, fake: FakeDiscord) -> None:
    async def message(request: web.Request) -> web.Response:
        return await _message(fake, request)

    async def state(request: web.Request) -> web.Response:
        return await _state(fake, request)

    app.router.add_post("/_fake/message", message)
    app.router.add_get("/_fake/state", state)


async def _message(fake: FakeDiscord, request: web.Request) -> web.Response:
    body = await request.json()
    channel = fake.world.channels[int(body["channel_id"])]
    author = fake.world.users[int(body["user_id"])]
    content = str(body["content"])
    if body.get("mention") and channel.type != DM:
        content = f"{fake.mention(fake.bot)} {content}"
    posted = await fake.user_message(channel, author, content)
    return web.json_response({"id": str(posted.id)})


async def _state(fake: FakeDiscord, request: web.Request) -> web.Response:
    return web.json_response(
        {
            "enforced_429": fake.enforced_429,
            "calls": [
                {
                    "t": c.t,
                    "method": c.method,
                    "kind": c.kind,
                    "major": c.major,
                    "status": c.status,
                    "text": _text_of(c.body),
                }
                for c in fake.rest.calls
            ],
            "messages": [
                {
                    "id": str(m.id),
                    "channel_id": str(m.channel_id),
                    "content": m.content,
                    "edits": m.edits,
                    "edit_times": m.edit_times,
                    "reference": str(m.reference or ""),
                    "pings": sorted(m.pings),
                    "components": m.components,
                }
                for m in fake.world.messages.values()
                if not m.deleted
            ],
            "guilds": [
                {
                    "id": str(g.id),
                    "channels": [str(c) for c in g.channel_ids],
                    "members": [str(u) for u in g.members],
                }
                for g in fake.world.guilds.values()
            ],
            "bot": {"id": str(fake.bot.id), "token": fake.token},
        }
    )
