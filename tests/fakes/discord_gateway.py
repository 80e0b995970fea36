"""The fake Discord gateway: one websocket session per shard.

Discord's protocol (docs.discord.com/developers/events/gateway): HELLO → IDENTIFY (token,
intents, shard) → READY (`session_id`, `resume_gateway_url` pointing back here, `application`,
the shard's guilds as unavailable) → one GUILD_CREATE per guild of the shard. Heartbeats (op 1)
are acknowledged (op 11). Every dispatch gets the session's next sequence number and is kept, so
a RESUME (op 6) with the last sequence seen replays exactly the events missed, then RESUMED. On
demand the server drops a connection, asks for a reconnect (op 7) or invalidates the session
(op 9). Frames are zlib-stream compressed when the client asks for it, as discord.py does.
Without the Message Content intent, guild messages arrive with empty content unless they
mention the bot (the privileged-intent rules).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord

GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 12, 1 << 15
PRIVILEGED = (1 << 1) | (1 << 8) | MESSAGE_CONTENT  # members, presences, message content


@dataclass
class Connection:
    """One websocket connection of a client."""

    ws: web.WebSocketResponse
    request: web.Request
    path: str
    compress: Any = None  # a zlib compressor for zlib-stream

    async def send(self, frame: dict[str, Any]) -> None:
        data = json.dumps(frame, separators=(",", ":"))
        if self.compress is not None:
            raw = self.compress.compress(data.encode()) + self.compress.flush(zlib.Z_SYNC_FLUSH)
            await self.ws.send_bytes(raw)
        else:
            await self.ws.send_str(data)


@dataclass
class Session:
    """A gateway session: survives its connection until invalidated, so it can be resumed."""

    id: str
    shard: tuple[int, int]
    intents: int
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # every dispatch, for replay
    conn: Connection | None = None
    resumable: bool = True

    def wants(self, event: str, data: dict[str, Any]) -> bool:
        if event.startswith("MESSAGE_"):
            needed = GUILD_MESSAGES if data.get("guild_id") else DIRECT_MESSAGES
            return bool(self.intents & needed)
        if event.startswith(("GUILD_", "THREAD_", "CHANNEL_")):
            return bool(self.intents & GUILDS)
        return True


class Gateway:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.heartbeat_interval = 41250  # ms, as Discord sends
        self.sessions: dict[int, Session] = {}  # shard id → its current session
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.connections: list[Connection] = []
        self.closed_codes: list[int] = []

    # --- the websocket --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None
        conn = Connection(ws, request, request.path, compress)
        self.connections.append(conn)
        await conn.send(
            {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}, "s": None, "t": None}
        )
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                await self._receive(conn, json.loads(msg.data))
        finally:
            for session in self.sessions.values():
                if session.conn is conn:
                    session.conn = None
        return ws

    async def _receive(self, conn: Connection, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == 1:
            self.heartbeats += 1
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8:
            await self._members_chunk(conn, data or {})

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if data.get("token") != self.fake.token:
            await self._close(conn, 4004, "Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED & ~self.fake.privileged_intents:
            await self._close(conn, 4014, "Disallowed intent(s).")
            return
        shard_id, count = data.get("shard") or [0, 1]
        if count != self.fake.shard_count and self.fake.require_sharding:
            await self._close(conn, 4011, "Sharding required.")
            return
        session = Session(secrets.token_hex(16), (int(shard_id), int(count)), intents, conn=conn)
        self.sessions[session.shard[0]] = session
        world = self.fake.world
        guilds = [g for g in world.guilds.values() if world.shard_of(g.id, count) == shard_id]
        await self.send(
            session,
            "READY",
            {
                "v": 10,
                "user": {**world.bot.json(), "verified": True, "mfa_enabled": False},
                "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.fake.resume_url,
                "shard": [shard_id, count],
                "application": {"id": str(world.application_id), "flags": self.fake.app_flags},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "auth_session_id_hash": "",
            },
        )
        for guild in guilds:
            await self.send(session, "GUILD_CREATE", world.guild_create(guild))

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        self.resumes.append({**data, "path": conn.path})
        session = next((s for s in self.sessions.values() if s.id == data.get("session_id")), None)
        if session is None or not session.resumable or data.get("token") != self.fake.token:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        session.conn = conn
        last = int(data.get("seq") or 0)
        for frame in session.sent:
            if frame["s"] > last:
                await conn.send(frame)
        await self.send(session, "RESUMED", {})

    async def _members_chunk(self, conn: Connection, data: dict[str, Any]) -> None:
        guild = self.fake.world.guilds.get(int(data.get("guild_id", 0)))
        session = next((s for s in self.sessions.values() if s.conn is conn), None)
        if guild is None or session is None:
            return
        await self.send(
            session,
            "GUILD_MEMBERS_CHUNK",
            {
                "guild_id": str(guild.id),
                "members": [m.json() for m in guild.members.values()],
                "chunk_index": 0,
                "chunk_count": 1,
                "nonce": data.get("nonce"),
            },
        )

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        self.closed_codes.append(code)
        await conn.ws.close(code=code, message=reason.encode())

    # --- sending --------------------------------------------------------------------------------

    async def send(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.sent.append(frame)
        if session.conn is not None and not session.conn.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.conn.send(frame)

    async def dispatch(self, event: str, data: dict[str, Any], guild_id: int | None) -> bool:
        """Send `event` to the shard that owns `guild_id` (DMs: shard 0); False if none."""
        shard = self.fake.world.shard_of(guild_id, self.fake.shard_count)
        session = self.sessions.get(shard)
        if session is None or not session.wants(event, data):
            return False
        await self.send(session, event, self._visible(session, event, data))
        return True

    def _visible(self, session: Session, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """A guild message as a bot without the Message Content intent receives it."""
        if session.intents & MESSAGE_CONTENT or event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            return data
        bot_id = str(self.fake.world.bot.id)
        author = data.get("author", {}).get("id")
        mentioned = any(m.get("id") == bot_id for m in data.get("mentions", []))
        if not data.get("guild_id") or author == bot_id or mentioned:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    # --- failures on demand ---------------------------------------------------------------------

    async def drop(self, shard: int = 0, *, code: int | None = 4000) -> None:
        """Cut the shard's connection: a close frame with `code`, or (None) a dead TCP link."""
        session = self.sessions[shard]
        conn, session.conn = session.conn, None
        if conn is None:
            return
        if code is None:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        else:
            await self._close(conn, code, "dropped by the fake")

    async def request_reconnect(self, shard: int = 0) -> None:
        session = self.sessions[shard]
        if session.conn is not None:
            await session.conn.send({"op": 7, "d": None, "s": None, "t": None})

    async def invalidate(self, shard: int = 0, *, resumable: bool = False) -> None:
        session = self.sessions[shard]
        session.resumable = resumable
        if session.conn is not None:
            await session.conn.send({"op": 9, "d": resumable, "s": None, "t": None})

    async def close_all(self) -> None:
        for conn in self.connections:
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001)
