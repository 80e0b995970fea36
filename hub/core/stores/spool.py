"""Turns waiting for the store: a small SQLite file in the data dir, kept while the store is down.

The file (`spool.db`) is created on the first turn that needs it, so a hub whose store never
fails never has one; one left by a process that stopped during an outage is read at start and
written to the store then. Entries come out in the order they went in. Counts per conversation
are kept in memory, so asking "is anything waiting for this conversation?" costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from hub.core.models import ConversationKey, Turn
from hub.core.ports import StoreError
from hub.core.stores.sqlite_db import SqliteDb, describe_error, dump_time, load_time

log = logging.getLogger(__name__)

FILE_NAME = "spool.db"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, conv_key TEXT NOT "
    "NULL, user_id TEXT NOT NULL, conversation_id TEXT, turn TEXT NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class SpooledTurn:
    """One turn waiting for the store. `conversation_id` is None when the conversation itself
    could not be looked up: the turn then goes to the key's active conversation."""

    id: int
    key: ConversationKey
    user_id: str
    conversation_id: str | None
    turn: Turn


def _key_text(key: ConversationKey) -> str:
    return msgspec.json.encode([key.platform, key.chat_id, key.thread_id, key.user_id]).decode()


def _dump_turn(turn: Turn) -> str:
    fields: dict[str, Any] = {
        "role": turn.role,
        "text": turn.text,
        "created_at": dump_time(turn.created_at),
        "model": turn.model,
        "backend": turn.backend,
        "prompt_tokens": turn.prompt_tokens,
        "completion_tokens": turn.completion_tokens,
        "interrupted": turn.interrupted,
        "typed_text": turn.typed_text,
    }
    return msgspec.json.encode(fields).decode()


def _load(row: sqlite3.Row) -> SpooledTurn:
    platform, chat_id, thread_id, user_id = msgspec.json.decode(row["conv_key"])
    fields = msgspec.json.decode(row["turn"])
    fields["created_at"] = load_time(fields["created_at"])
    return SpooledTurn(
        id=int(row["id"]),
        key=ConversationKey(platform, chat_id, thread_id, user_id),
        user_id=str(row["user_id"]),
        conversation_id=row["conversation_id"],
        turn=Turn(**fields),
    )


class TurnSpool:
    """The spool file at `path`; `open()` reads what a previous process left."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: SqliteDb | None = None
        self._opening = asyncio.Lock()  # one connection, however many turns come at once
        self._waiting: Counter[str] = Counter()

    async def open(self) -> None:
        """Read a spool left by a previous process, if there is one."""
        if self.path.exists():
            db = await self._connect()
            rows = await db.fetchall("SELECT conv_key, COUNT(*) AS n FROM spool GROUP BY conv_key")
            self._waiting = Counter({str(r["conv_key"]): int(r["n"]) for r in rows})
            if self._waiting:
                log.info("turns spooled before a restart", extra={"count": self.waiting()})

    async def _connect(self) -> SqliteDb:
        if self._db is not None:
            return self._db
        async with self._opening:
            if self._db is None:
                self._db = await self._open_file()
            return self._db

    async def _open_file(self) -> SqliteDb:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"The spool at {self.path} cannot be opened ({exc}).") from exc
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            await conn.close()
            raise StoreError(describe_error(self.path, exc)) from exc
        return SqliteDb(conn, self.path)

    def waiting(self, key: ConversationKey | None = None) -> int:
        """Turns waiting: of conversation `key`, or all of them."""
        if key is None:
            return sum(self._waiting.values())
        return self._waiting.get(_key_text(key), 0)

    async def add(
        self, key: ConversationKey, user_id: str, conversation_id: str | None, turn: Turn
    ) -> None:
        """Keep `turn` until the store takes it (raises `StoreError` if the file cannot)."""
        db = await self._connect()
        text = _key_text(key)
        await db.write(
            "INSERT INTO spool (conv_key, user_id, conversation_id, turn) VALUES (?, ?, ?, ?)",
            (text, user_id, conversation_id, _dump_turn(turn)),
        )
        self._waiting[text] += 1

    async def of(self, key: ConversationKey) -> list[SpooledTurn]:
        """The turns of conversation `key`, oldest first."""
        if not self.waiting(key):
            return []
        db = await self._connect()
        rows = await db.fetchall(
            "SELECT * FROM spool WHERE conv_key = ? ORDER BY id", (_key_text(key),)
        )
        return [_load(row) for row in rows]

    async def oldest(self, limit: int) -> list[SpooledTurn]:
        """Up to `limit` turns, oldest first."""
        if not self._waiting:
            return []
        db = await self._connect()
        rows = await db.fetchall("SELECT * FROM spool ORDER BY id LIMIT ?", (limit,))
        return [_load(row) for row in rows]

    async def remove(self, spooled: SpooledTurn) -> None:
        """The store has `spooled` now."""
        db = await self._connect()
        await db.write("DELETE FROM spool WHERE id = ?", (spooled.id,))
        text = _key_text(spooled.key)
        self._waiting[text] -= 1
        if self._waiting[text] <= 0:
            del self._waiting[text]

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()
