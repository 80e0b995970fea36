"""SQLite users, platform identities, conversations and turns."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import cast

from hub.core.models import (
    Conversation,
    ConversationKey,
    Identity,
    PlatformUser,
    Turn,
    User,
    UserRole,
)
from hub.core.ports import DuplicateError, StaleWrite, StoreError
from hub.core.stores.common import (
    STALE_WRITE,
    new_id,
    normalise_email,
    now_utc,
    user_for_identity,
)
from hub.core.stores.sqlite_db import Row, SqliteDb, Tx, dump_time, load_time

_USER_BY_IDENTITY = (
    "SELECT u.* FROM identities i JOIN users u ON u.id = i.user_id "
    "WHERE i.platform = ? AND i.platform_user_id = ?"
)
_INSERT_USER = (
    "INSERT INTO users (id, name, role, email, password_hash, model, language, "
    "profile_image_url, created_at, disabled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _user(row: Row) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        role=cast(UserRole, row["role"]),
        email=row["email"],
        password_hash=row["password_hash"],
        model=row["model"],
        language=row["language"],
        profile_image_url=row["profile_image_url"],
        created_at=load_time(row["created_at"]),
        disabled=bool(row["disabled"]),
    )


def _user_params(user: User) -> tuple[object, ...]:
    return (
        user.id,
        user.name,
        user.role,
        user.email,
        user.password_hash,
        user.model,
        user.language,
        user.profile_image_url,
        dump_time(user.created_at),
        int(user.disabled),
    )


class SqliteUsers:
    """Hub users and the platform identities that map to them."""

    def __init__(self, db: SqliteDb) -> None:
        self._db = db

    async def for_identity(self, who: PlatformUser) -> User:
        params = (who.platform, who.platform_user_id)
        row = await self._db.fetchone(_USER_BY_IDENTITY, params)
        if row is not None:
            return _user(row)
        user = user_for_identity(who)
        async with self._db.transaction() as tx:
            # Another task may have created it since the read above.
            row = await tx.fetchone(_USER_BY_IDENTITY, params)
            if row is not None:
                return _user(row)
            await tx.run(_INSERT_USER, _user_params(user))
            await tx.run(
                "INSERT INTO identities (platform, platform_user_id, user_id) VALUES (?, ?, ?)",
                (*params, user.id),
            )
        return user

    async def get(self, user_id: str) -> User | None:
        row = await self._db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return None if row is None else _user(row)

    async def get_by_email(self, email: str) -> User | None:
        row = await self._db.fetchone(
            "SELECT * FROM users WHERE email = ?", (normalise_email(email),)
        )
        return None if row is None else _user(row)

    async def create(self, user: User) -> User:
        user = dataclasses.replace(
            user,
            id=user.id or new_id(),
            email=normalise_email(user.email),
            created_at=load_time(dump_time(user.created_at)),
        )
        try:
            await self._db.write(_INSERT_USER, _user_params(user))
        except DuplicateError as exc:
            if "users.email" in str(exc):
                raise DuplicateError(
                    f"The e-mail address {user.email} is already registered."
                ) from exc
            raise DuplicateError(f"A user with id {user.id} already exists.") from exc
        return user

    async def set_model(self, user_id: str, model: str | None) -> None:
        await self._db.changes("UPDATE users SET model = ? WHERE id = ?", (model, user_id))

    async def set_role(self, user_id: str, role: UserRole) -> bool:
        sql = "UPDATE users SET role = ? WHERE id = ?"
        return await self._db.changes(sql, (role, user_id)) > 0

    async def count(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM users")
        return int(row[0]) if row is not None else 0

    async def link_identity(self, user_id: str, platform: str, platform_user_id: str) -> None:
        async with self._db.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM users WHERE id = ?", (user_id,)) is None:
                raise StoreError(f"There is no user {user_id} to link {platform} identity to.")
            await tx.run(
                "INSERT INTO identities (platform, platform_user_id, user_id) VALUES (?, ?, ?) "
                "ON CONFLICT (platform, platform_user_id) DO UPDATE SET user_id = excluded.user_id",
                (platform, platform_user_id, user_id),
            )

    async def all(self) -> list[User]:
        rows = await self._db.fetchall("SELECT * FROM users ORDER BY created_at, id")
        return [_user(row) for row in rows]

    async def find_identity(self, platform: str, platform_user_id: str) -> User | None:
        row = await self._db.fetchone(_USER_BY_IDENTITY, (platform, platform_user_id))
        return None if row is None else _user(row)

    async def identities(self, user_id: str | None = None) -> list[Identity]:
        sql = "SELECT platform, platform_user_id, user_id FROM identities"
        if user_id is None:
            rows = await self._db.fetchall(sql + " ORDER BY platform, platform_user_id")
        else:
            rows = await self._db.fetchall(
                sql + " WHERE user_id = ? ORDER BY platform, platform_user_id", (user_id,)
            )
        return [Identity(row[0], row[1], row[2]) for row in rows]

    async def update_profile(
        self,
        user_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        profile_image_url: str | None = None,
    ) -> User | None:
        changes = {
            "name": name,
            "email": normalise_email(email),
            "profile_image_url": profile_image_url,
        }
        given = {column: value for column, value in changes.items() if value is not None}
        if not given:
            return await self.get(user_id)
        assignments = ", ".join(f"{column} = ?" for column in given)
        try:
            rows = await self._db.write(
                f"UPDATE users SET {assignments} WHERE id = ? RETURNING *",
                (*given.values(), user_id),
            )
        except DuplicateError as exc:
            raise DuplicateError(
                f"The e-mail address {given.get('email')} is already registered."
            ) from exc
        return _user(rows[0]) if rows else None

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        sql = "UPDATE users SET password_hash = ? WHERE id = ?"
        return await self._db.changes(sql, (password_hash, user_id)) > 0

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        sql = "UPDATE users SET disabled = ? WHERE id = ?"
        return await self._db.changes(sql, (int(disabled), user_id)) > 0

    async def delete(self, user_id: str) -> bool:
        async with self._db.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM users WHERE id = ?", (user_id,)) is None:
                return False
            # Turns go with their conversations and identities with the user (ON DELETE CASCADE).
            await tx.run("DELETE FROM conversations WHERE user_id = ?", (user_id,))
            await tx.run("DELETE FROM chats WHERE user_id = ?", (user_id,))
            await tx.run(
                "DELETE FROM prompts WHERE scope = 'personal' AND owner_id = ?", (user_id,)
            )
            await tx.run("DELETE FROM users WHERE id = ?", (user_id,))
        return True


_KEY_WHERE = "platform = ? AND chat_id = ? AND thread_id = ? AND key_user_id = ?"


def _key_params(key: ConversationKey) -> tuple[str, str, str, str]:
    return (key.platform, key.chat_id, key.thread_id, key.user_id)


def _conversation(row: Row) -> Conversation:
    return Conversation(
        id=row["id"],
        key=ConversationKey(row["platform"], row["chat_id"], row["thread_id"], row["key_user_id"]),
        user_id=row["user_id"],
        created_at=load_time(row["created_at"]),
        active=bool(row["active"]),
    )


_TURN_COLUMNS = (
    "id, role, text, created_at, model, backend, prompt_tokens, completion_tokens, "
    "interrupted, typed_text"
)


def _turn(row: Row) -> Turn:
    # Positional unpacking: this runs for every turn of every context that is read.
    (id_, role, text, created_at, model, backend, prompt, completion, interrupted, typed) = row
    return Turn(
        id=str(id_),
        role=role,
        text=text,
        created_at=datetime.fromisoformat(created_at),
        model=model,
        backend=backend,
        prompt_tokens=prompt,
        completion_tokens=completion,
        interrupted=bool(interrupted),
        typed_text=typed,
    )


class SqliteConversations:
    """Conversations keyed by platform, chat, thread and platform user; turns in their own table."""

    def __init__(self, db: SqliteDb) -> None:
        self._db = db

    async def active(self, key: ConversationKey, user_id: str) -> Conversation:
        sql = f"SELECT * FROM conversations WHERE {_KEY_WHERE} AND active = 1"
        row = await self._db.fetchone(sql, _key_params(key))
        if row is not None:
            return _conversation(row)
        async with self._db.transaction() as tx:
            row = await tx.fetchone(sql, _key_params(key))
            if row is not None:
                return _conversation(row)
            return await self._open(tx, key, user_id)

    async def start_new(self, key: ConversationKey, user_id: str) -> Conversation:
        async with self._db.transaction() as tx:
            await tx.run(
                f"UPDATE conversations SET active = 0 WHERE {_KEY_WHERE} AND active = 1",
                _key_params(key),
            )
            return await self._open(tx, key, user_id)

    @staticmethod
    async def _open(tx: Tx, key: ConversationKey, user_id: str) -> Conversation:
        conversation = Conversation(id=new_id(), key=key, user_id=user_id, created_at=now_utc())
        await tx.run(
            "INSERT INTO conversations (id, platform, chat_id, thread_id, key_user_id, user_id, "
            "created_at, active) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (conversation.id, *_key_params(key), user_id, dump_time(conversation.created_at)),
        )
        return conversation

    async def append(self, conversation_id: str, turn: Turn, *, fence: int | None = None) -> Turn:
        created_at = load_time(dump_time(turn.created_at))
        params = (
            conversation_id,
            conversation_id,
            turn.role,
            turn.text,
            dump_time(created_at),
            turn.model,
            turn.backend,
            turn.prompt_tokens,
            turn.completion_tokens,
            int(turn.interrupted),
            turn.typed_text,
        )
        # The next seq is computed inside the INSERT, so it is atomic without a transaction.
        insert = (
            "INSERT INTO turns (conversation_id, seq, role, text, created_at, model, backend, "
            "prompt_tokens, completion_tokens, interrupted, typed_text) VALUES (?, "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE conversation_id = ?), "
            "?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
        )
        try:
            if fence is None:
                rows = await self._db.write(insert, params)
            else:
                async with self._db.transaction() as tx:
                    await self._take_fence(tx, conversation_id, fence)
                    rows = await tx.fetchall(insert, params)
        except StoreError as exc:
            if "FOREIGN KEY" in str(exc):
                raise StoreError(f"There is no conversation {conversation_id}.") from exc
            raise
        return dataclasses.replace(turn, id=str(rows[0][0]), created_at=created_at)

    async def _take_fence(self, tx: Tx, conversation_id: str, fence: int) -> None:
        found = await tx.fetchone(
            "SELECT fence FROM conversations WHERE id = ?", (conversation_id,)
        )
        if found is None:
            raise StoreError(f"There is no conversation {conversation_id}.")
        if found["fence"] > fence:
            raise StaleWrite(STALE_WRITE)
        await tx.run("UPDATE conversations SET fence = ? WHERE id = ?", (fence, conversation_id))

    async def recent(self, conversation_id: str, limit: int) -> list[Turn]:
        if limit <= 0:
            return []
        rows = await self._db.fetchall(
            f"SELECT {_TURN_COLUMNS} FROM turns WHERE conversation_id = ? "
            "ORDER BY seq DESC LIMIT ?",
            (conversation_id, limit),
        )
        return [_turn(row) for row in reversed(rows)]
