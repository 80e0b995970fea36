"""The embedded default store: one SQLite file (`<data_dir>/chathub.db`) in WAL mode.

One aiosqlite connection (`sqlite_db.SqliteDb`) serves every store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path

import aiosqlite

from hub.core.ports import (
    ConversationStore,
    JobStore,
    PromptStore,
    SettingStore,
    StoreError,
    UsageStore,
    UserStore,
    WebChatStore,
)
from hub.core.stores.sqlite_content import SqliteChats, SqlitePrompts, SqliteSettings, SqliteUsage
from hub.core.stores.sqlite_db import SqliteDb, describe_error
from hub.core.stores.sqlite_jobs import SqliteJobs
from hub.core.stores.sqlite_people import SqliteConversations, SqliteUsers
from hub.core.stores.sqlite_schema import MIGRATIONS, Migration, migrate

log = logging.getLogger(__name__)

DB_FILE = "chathub.db"


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
        raise StoreError(describe_error(path, exc)) from exc
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
            raise StoreError(describe_error(path, exc)) from exc
        raise
    return conn


class SqliteStores:
    """Every store on one SQLite file. Build it with `open_sqlite`."""

    def __init__(self, db: SqliteDb) -> None:
        self.db = db
        self.users: UserStore = SqliteUsers(db)
        self.conversations: ConversationStore = SqliteConversations(db)
        self.prompts: PromptStore = SqlitePrompts(db)
        self.chats: WebChatStore = SqliteChats(db)
        self.usage: UsageStore = SqliteUsage(db)
        self.settings: SettingStore = SqliteSettings(db)
        self.jobs: JobStore = SqliteJobs(db)
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
