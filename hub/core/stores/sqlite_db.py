"""The SQLite connection the SQLite stores share: one aiosqlite connection serialised by a lock,
transactions, timestamps as text, and sqlite errors turned into the store port's errors.

An `asyncio.Lock` keeps each operation (and each multi-statement transaction) whole: without it,
statements of two coroutines would interleave inside one another's transactions on the shared
connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from hub.core.ports import DuplicateError, StoreError
from hub.core.stores.common import to_utc

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
            raise StoreError(describe_error(self.path, exc)) from exc
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


def describe_error(path: Path, exc: sqlite3.Error) -> str:
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
