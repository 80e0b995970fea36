"""The embedded default store: one SQLite file (`<data_dir>/chathub.db`) in WAL mode.

One aiosqlite connection serves every store. An `asyncio.Lock` keeps each operation (and each
multi-statement transaction) whole: without it, statements of two coroutines would interleave
inside one another's transactions on the shared connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from hub.core.ports import (
    ConversationStore,
    DuplicateError,
    PromptStore,
    SettingStore,
    StoreError,
    UsageStore,
    UserStore,
    WebChatStore,
)
from hub.core.stores.common import to_utc
from hub.core.stores.sqlite_schema import MIGRATIONS, Migration, migrate

log = logging.getLogger(__name__)

DB_FILE = "chathub.db"
Row = sqlite3.Row


def dump_time(value: datetime) -> str:
    """UTC ISO 8601 with milliseconds: fixed width, so text order is time order."""
    return to_utc(value).isoformat(timespec="milliseconds")


def load_time(value: str) -> datetime:
    """Inverse of `dump_time`: the text is already UTC at millisecond precision (hot path)."""
    return datetime.fromisoformat(value)


class SqliteDb:
    """The shared connection, serialised by a lock, with sqlite errors turned into StoreErrors."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path

    @contextmanager
    def _errors(self, duplicate: str | None) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                raise DuplicateError(duplicate or f"That entry already exists ({exc}).") from exc
            raise StoreError(f"{self.path}: the change was refused ({exc}).") from exc
        except sqlite3.Error as exc:
            raise StoreError(_describe(self.path, exc)) from exc
        except ValueError as exc:
            if "closed" not in str(exc) and "no active connection" not in str(exc):
                raise
            raise StoreError(f"The store at {self.path} is closed.") from exc

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._lock:
            with self._errors(None):
                return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def write(
        self, sql: str, params: Sequence[Any] = (), *, duplicate: str | None = None
    ) -> list[Row]:
        """Run one statement in autocommit mode; returns its `RETURNING` rows, if any."""
        async with self._lock:
            with self._errors(duplicate):
                return list(await self._conn.execute_fetchall(sql, params))

    async def changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        async with self._lock:
            with self._errors(None):
                cursor = await self._conn.execute(sql, params)
                count = cursor.rowcount
                await cursor.close()
                return int(count)

    @asynccontextmanager
    async def transaction(self, *, duplicate: str | None = None) -> AsyncIterator[Tx]:
        """Several statements applied together or not at all (also when cancelled)."""
        async with self._lock:
            with self._errors(duplicate):
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Tx(self._conn)
                except BaseException:
                    # The rollback is queued on the connection's thread before this await can
                    # be cancelled, behind any statement still running, so it always happens.
                    await self._conn.rollback()
                    raise
                await self._conn.commit()

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()


class Tx:
    """Statements inside one transaction (the lock is held)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        cursor = await self._conn.execute(sql, params)
        await cursor.close()


def _describe(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return (
            f"{path} is not a valid SQLite database ({text}); move it away to start with an "
            "empty store, or restore it from a backup."
        )
    if "readonly" in text or "unable to open" in text or "disk I/O" in text:
        return (
            f"Cannot write {path} ({text}); make it and its directory writable, or set "
            "HUB_DATA_DIR to a writable directory."
        )
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another process ({text}); stop it or wait, then retry."
    return f"SQLite store {path} failed: {text}."


def _prepare_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"Cannot create the data directory {data_dir} ({exc.strerror or exc}); create it "
            "or set HUB_DATA_DIR to a writable directory."
        ) from exc
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise StoreError(
            f"The data directory {data_dir} is not writable; fix its permissions or set "
            "HUB_DATA_DIR to a writable directory."
        )


async def _connect(path: Path, migrations: tuple[Migration, ...]) -> aiosqlite.Connection:
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(_describe(path, exc)) from exc
    try:
        conn.row_factory = sqlite3.Row
        # busy_timeout first: another process may hold the file while we switch to WAL.
        await conn.execute("PRAGMA busy_timeout = 5000")
        rows = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))
        if str(rows[0][0]).lower() != "wal":
            extra = {"path": str(path), "mode": str(rows[0][0])}
            log.warning("SQLite WAL mode unavailable", extra=extra)
        # NORMAL is durable against corruption in WAL mode; only the last commits may be lost
        # on power failure, which a chat history can afford for far fewer fsyncs.
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await migrate(conn, str(path), migrations)
    except BaseException as exc:
        await conn.close()
        if isinstance(exc, sqlite3.Error):
            raise StoreError(_describe(path, exc)) from exc
        raise
    return conn


class SqliteStores:
    """Every store on one SQLite file. Build it with `open_sqlite`."""

    def __init__(self, db: SqliteDb) -> None:
        from hub.core.stores.sqlite_content import (
            SqliteChats,
            SqlitePrompts,
            SqliteSettings,
            SqliteUsage,
        )
        from hub.core.stores.sqlite_people import SqliteConversations, SqliteUsers

        self.db = db
        self.users: UserStore = SqliteUsers(db)
        self.conversations: ConversationStore = SqliteConversations(db)
        self.prompts: PromptStore = SqlitePrompts(db)
        self.chats: WebChatStore = SqliteChats(db)
        self.usage: UsageStore = SqliteUsage(db)
        self.settings: SettingStore = SqliteSettings(db)
        self.description = f"SQLite at {db.path}"

    async def ping(self) -> None:
        await self.db.fetchall("SELECT 1")

    async def aclose(self) -> None:
        await self.db.close()


async def open_sqlite(
    data_dir: Path, *, migrations: tuple[Migration, ...] = MIGRATIONS
) -> SqliteStores:
    """Open (creating or upgrading) `<data_dir>/chathub.db`; raise StoreError if unusable."""
    await asyncio.to_thread(_prepare_dir, data_dir)
    path = data_dir / DB_FILE
    conn = await _connect(path, migrations)
    log.info("SQLite store opened", extra={"path": str(path)})
    return SqliteStores(SqliteDb(conn, path))
