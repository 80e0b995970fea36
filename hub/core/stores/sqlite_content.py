"""SQLite prompt commands, Open WebUI chats, usage counters and runtime settings."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, cast

from hub.core.models import Prompt, PromptScope, Usage, WebChat
from hub.core.stores.common import new_id, now_utc, owner_key, prompt_taken
from hub.core.stores.sqlite_db import Row, SqliteDb, dump_time, load_time


def _prompt(row: Row) -> Prompt:
    return Prompt(
        command=row["command"],
        title=row["title"],
        content=row["content"],
        owner_id=row["owner_id"],
        scope=cast(PromptScope, row["scope"]),
        created_at=load_time(row["created_at"]),
        updated_at=load_time(row["updated_at"]),
    )


class SqlitePrompts:
    """`/command` prompt templates; a personal prompt shadows the global one of that command."""

    def __init__(self, db: SqliteDb) -> None:
        self._db = db

    async def get(self, command: str, user_id: str) -> Prompt | None:
        row = await self._db.fetchone(
            "SELECT * FROM prompts WHERE command = ? AND (scope = 'global' OR "
            "(scope = 'personal' AND owner_id = ?)) ORDER BY scope = 'global' LIMIT 1",
            (command, user_id),
        )
        return None if row is None else _prompt(row)

    async def get_exact(self, command: str, owner_id: str, scope: PromptScope) -> Prompt | None:
        row = await self._db.fetchone(
            "SELECT * FROM prompts WHERE command = ? AND scope = ? AND owner_id = ?",
            (command, scope, owner_id),
        )
        return None if row is None else _prompt(row)

    async def visible(self, user_id: str) -> list[Prompt]:
        rows = await self._db.fetchall(
            "SELECT * FROM prompts WHERE (scope = 'personal' AND owner_id = ?) OR "
            "(scope = 'global' AND command NOT IN (SELECT command FROM prompts "
            "WHERE scope = 'personal' AND owner_id = ?)) ORDER BY command",
            (user_id, user_id),
        )
        return [_prompt(row) for row in rows]

    async def create(self, prompt: Prompt) -> Prompt:
        prompt = dataclasses.replace(
            prompt,
            created_at=load_time(dump_time(prompt.created_at)),
            updated_at=load_time(dump_time(prompt.updated_at)),
        )
        await self._db.write(
            "INSERT INTO prompts (command, scope, owner_key, owner_id, title, content, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                prompt.command,
                prompt.scope,
                owner_key(prompt.owner_id, prompt.scope),
                prompt.owner_id,
                prompt.title,
                prompt.content,
                dump_time(prompt.created_at),
                dump_time(prompt.updated_at),
            ),
            duplicate=prompt_taken(prompt),
        )
        return prompt

    async def update(
        self, command: str, owner_id: str, scope: PromptScope, *, title: str, content: str
    ) -> Prompt | None:
        rows = await self._db.write(
            "UPDATE prompts SET title = ?, content = ?, updated_at = ? "
            "WHERE command = ? AND scope = ? AND owner_id = ? RETURNING *",
            (title, content, dump_time(now_utc()), command, scope, owner_id),
        )
        return _prompt(rows[0]) if rows else None

    async def delete(self, command: str, owner_id: str, scope: PromptScope) -> bool:
        count = await self._db.changes(
            "DELETE FROM prompts WHERE command = ? AND scope = ? AND owner_id = ?",
            (command, scope, owner_id),
        )
        return count > 0


def _chat(row: Row) -> WebChat:
    return WebChat(
        id=row["id"],
        user_id=row["user_id"],
        title=row["title"],
        chat=json.loads(row["chat"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        archived=bool(row["archived"]),
        share_id=row["share_id"],
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class SqliteChats:
    """Open WebUI chats; every read and write is filtered by the owner."""

    def __init__(self, db: SqliteDb) -> None:
        self._db = db

    async def create(self, chat: WebChat) -> WebChat:
        chat = dataclasses.replace(chat, id=chat.id or new_id())
        await self._db.write(
            "INSERT INTO chats (id, user_id, title, chat, created_at, updated_at, archived, "
            "share_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chat.id,
                chat.user_id,
                chat.title,
                _json(chat.chat),
                chat.created_at,
                chat.updated_at,
                int(chat.archived),
                chat.share_id,
            ),
            duplicate=f"A chat with id {chat.id} already exists.",
        )
        return chat

    async def get(self, chat_id: str, user_id: str) -> WebChat | None:
        row = await self._db.fetchone(
            "SELECT * FROM chats WHERE id = ? AND user_id = ?", (chat_id, user_id)
        )
        return None if row is None else _chat(row)

    async def list(self, user_id: str, *, skip: int = 0, limit: int = 50) -> list[WebChat]:
        rows = await self._db.fetchall(
            "SELECT * FROM chats WHERE user_id = ? AND archived = 0 "
            "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?",
            (user_id, max(limit, 0), max(skip, 0)),
        )
        return [_chat(row) for row in rows]

    async def update(
        self, chat_id: str, user_id: str, chat: Mapping[str, Any], *, title: str, updated_at: int
    ) -> WebChat | None:
        rows = await self._db.write(
            "UPDATE chats SET chat = ?, title = ?, updated_at = ? "
            "WHERE id = ? AND user_id = ? RETURNING *",
            (_json(chat), title, updated_at, chat_id, user_id),
        )
        return _chat(rows[0]) if rows else None

    async def delete(self, chat_id: str, user_id: str) -> bool:
        count = await self._db.changes(
            "DELETE FROM chats WHERE id = ? AND user_id = ?", (chat_id, user_id)
        )
        return count > 0


class SqliteUsage:
    """Token and request counters per user, model and UTC day."""

    def __init__(self, db: SqliteDb) -> None:
        self._db = db

    async def add(
        self,
        user_id: str,
        model: str,
        day: str,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        requests: int = 1,
    ) -> None:
        await self._db.write(
            "INSERT INTO usage (user_id, model, day, requests, prompt_tokens, completion_tokens) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, day, model) DO UPDATE SET "
            "requests = requests + excluded.requests, "
            "prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
            "completion_tokens = completion_tokens + excluded.completion_tokens",
            (user_id, model, day, requests, prompt_tokens, completion_tokens),
        )

    async def for_user(self, user_id: str, day: str) -> list[Usage]:
        rows = await self._db.fetchall(
            "SELECT * FROM usage WHERE user_id = ? AND day = ? ORDER BY model", (user_id, day)
        )
        return [_usage(row) for row in rows]

    async def between(
        self, first_day: str, last_day: str, *, user_id: str | None = None, model: str | None = None
    ) -> list[Usage]:
        sql = "SELECT * FROM usage WHERE day >= ? AND day <= ?"
        params: list[str] = [first_day, last_day]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        rows = await self._db.fetchall(sql + " ORDER BY day, user_id, model", params)
        return [_usage(row) for row in rows]


def _usage(row: Row) -> Usage:
    return Usage(
        user_id=row["user_id"],
        model=row["model"],
        day=row["day"],
        requests=row["requests"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
    )


class SqliteSettings:
    """Small runtime settings as JSON values; an unknown name reads as None."""

    def __init__(self, db: SqliteDb) -> None:
        self._db = db

    async def get(self, name: str) -> Any:
        row = await self._db.fetchone("SELECT value FROM settings WHERE name = ?", (name,))
        return None if row is None else json.loads(row["value"])

    async def put(self, name: str, value: Any) -> None:
        await self._db.write(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, _json(value)),
        )

    async def put_new(self, name: str, value: Any) -> bool:
        # One statement: SQLite's write lock makes it atomic across processes on the file too.
        rows = await self._db.write(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO NOTHING RETURNING name",
            (name, _json(value)),
        )
        return bool(rows)
