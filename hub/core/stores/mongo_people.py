"""MongoDB users, platform identities, conversations and turns."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

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
    to_utc,
    user_for_identity,
)
from hub.core.stores.mongo_db import Doc, MongoDb


def _user_doc(user: User) -> Doc:
    doc: Doc = {
        "_id": user.id,
        "name": user.name,
        "role": user.role,
        "password_hash": user.password_hash,
        "model": user.model,
        "language": user.language,
        "profile_image_url": user.profile_image_url,
        "created_at": user.created_at,
        "disabled": user.disabled,
    }
    # Absent rather than null, so the partial unique index ignores users without an e-mail.
    if user.email is not None:
        doc["email"] = user.email
    return doc


def _user(doc: Doc) -> User:
    return User(
        id=doc["_id"],
        name=doc["name"],
        role=cast(UserRole, doc["role"]),
        email=doc.get("email"),
        password_hash=doc.get("password_hash"),
        model=doc.get("model"),
        language=doc.get("language", ""),
        profile_image_url=doc.get("profile_image_url", ""),
        created_at=to_utc(doc["created_at"]),
        disabled=bool(doc.get("disabled", False)),
    )


class MongoUsers:
    """Hub users (`users`) and the platform identities that map to them (`identities`)."""

    def __init__(self, db: MongoDb) -> None:
        self._db = db
        self._users = db.collection("users")
        self._identities = db.collection("identities")

    async def for_identity(self, who: PlatformUser) -> User:
        where = {"platform": who.platform, "platform_user_id": who.platform_user_id}
        with self._db.errors():
            identity = await self._identities.find_one(where)
            if identity is not None:
                found = await self._users.find_one({"_id": identity["user_id"]})
                if found is not None:
                    return _user(found)
            user = user_for_identity(who)
            await self._users.insert_one(_user_doc(user))
            if identity is not None:  # it pointed at a user that is gone: adopt it
                await self._identities.update_one(
                    {"_id": identity["_id"]}, {"$set": {"user_id": user.id}}
                )
                return user
            try:
                await self._identities.insert_one({**where, "user_id": user.id})
            except DuplicateKeyError as exc:
                # Another task created this identity first: drop ours and use theirs.
                await self._users.delete_one({"_id": user.id})
                identity = await self._identities.find_one(where)
                found = await self._users.find_one({"_id": (identity or {}).get("user_id")})
                if found is None:
                    raise StoreError("The identity changed while it was looked up; retry.") from exc
                return _user(found)
        return user

    async def get(self, user_id: str) -> User | None:
        with self._db.errors():
            doc = await self._users.find_one({"_id": user_id})
        return None if doc is None else _user(doc)

    async def get_by_email(self, email: str) -> User | None:
        with self._db.errors():
            doc = await self._users.find_one({"email": normalise_email(email)})
        return None if doc is None else _user(doc)

    async def create(self, user: User) -> User:
        user = dataclasses.replace(
            user,
            id=user.id or new_id(),
            email=normalise_email(user.email),
            created_at=to_utc(user.created_at),
        )
        with self._db.errors():
            try:
                await self._users.insert_one(_user_doc(user))
            except DuplicateKeyError as exc:
                # Servers word the error differently; look which key is taken instead.
                if await self._users.find_one({"_id": user.id}, {"_id": 1}) is not None:
                    raise DuplicateError(f"A user with id {user.id} already exists.") from exc
                raise DuplicateError(
                    f"The e-mail address {user.email} is already registered."
                ) from exc
        return user

    async def set_model(self, user_id: str, model: str | None) -> None:
        with self._db.errors():
            await self._users.update_one({"_id": user_id}, {"$set": {"model": model}})

    async def set_role(self, user_id: str, role: UserRole) -> bool:
        return await self._set(user_id, {"role": role})

    async def _set(self, user_id: str, fields: Doc) -> bool:
        with self._db.errors():
            result = await self._users.update_one({"_id": user_id}, {"$set": fields})
        return result.matched_count > 0

    async def count(self) -> int:
        with self._db.errors():
            return await self._users.count_documents({})

    async def link_identity(self, user_id: str, platform: str, platform_user_id: str) -> None:
        where = {"platform": platform, "platform_user_id": platform_user_id}
        with self._db.errors():
            if await self._users.find_one({"_id": user_id}, {"_id": 1}) is None:
                raise StoreError(f"There is no user {user_id} to link {platform} identity to.")
            try:
                await self._identities.update_one(
                    where, {"$set": {"user_id": user_id}}, upsert=True
                )
            except DuplicateKeyError:  # two upserts raced; the identity exists now
                await self._identities.update_one(where, {"$set": {"user_id": user_id}})

    async def all(self) -> list[User]:
        with self._db.errors():
            docs = await self._users.find({}).sort([("created_at", 1), ("_id", 1)]).to_list(None)
        return [_user(doc) for doc in docs]

    async def find_identity(self, platform: str, platform_user_id: str) -> User | None:
        where = {"platform": platform, "platform_user_id": platform_user_id}
        with self._db.errors():
            identity = await self._identities.find_one(where)
            if identity is None:
                return None
            doc = await self._users.find_one({"_id": identity["user_id"]})
        return None if doc is None else _user(doc)

    async def identities(self, user_id: str | None = None) -> list[Identity]:
        where = {} if user_id is None else {"user_id": user_id}
        with self._db.errors():
            docs = await self._identities.find(where).to_list(None)
        found = [Identity(d["platform"], d["platform_user_id"], d["user_id"]) for d in docs]
        return sorted(found, key=lambda i: (i.platform, i.platform_user_id))

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
        given = {field: value for field, value in changes.items() if value is not None}
        taken = DuplicateError(f"The e-mail address {given.get('email')} is already registered.")
        with self._db.errors():
            if not given:
                doc = await self._users.find_one({"_id": user_id})
                return None if doc is None else _user(doc)
            # Asked first as well: not every wire server checks unique indexes on updates.
            if "email" in given and await self._users.find_one(
                {"email": given["email"], "_id": {"$ne": user_id}}, {"_id": 1}
            ):
                raise taken
            try:
                doc = await self._users.find_one_and_update(
                    {"_id": user_id}, {"$set": given}, return_document=ReturnDocument.AFTER
                )
            except DuplicateKeyError as exc:
                raise taken from exc
        return None if doc is None else _user(doc)

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        return await self._set(user_id, {"password_hash": password_hash})

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        return await self._set(user_id, {"disabled": disabled})

    async def delete(self, user_id: str) -> bool:
        db = self._db
        with db.errors():
            if await self._users.find_one({"_id": user_id}, {"_id": 1}) is None:
                return False
            # Identities first, so a bot message meanwhile starts a new user, not the old one's.
            await self._identities.delete_many({"user_id": user_id})
            conversations = db.collection("conversations")
            ids = [
                d["_id"]
                for d in await conversations.find({"user_id": user_id}, {"_id": 1}).to_list(None)
            ]
            if ids:
                await db.collection("turns").delete_many({"conversation_id": {"$in": ids}})
                await conversations.delete_many({"_id": {"$in": ids}})
            await db.collection("chats").delete_many({"user_id": user_id})
            await db.collection("prompts").delete_many({"scope": "personal", "owner_id": user_id})
            result = await self._users.delete_one({"_id": user_id})
        return result.deleted_count > 0


def _active_key(key: ConversationKey) -> str:
    # JSON, not `as_str()`: ids may contain ':' and the unique key must not be ambiguous.
    return json.dumps([key.platform, key.chat_id, key.thread_id, key.user_id])


def _conversation(doc: Doc) -> Conversation:
    return Conversation(
        id=doc["_id"],
        key=ConversationKey(doc["platform"], doc["chat_id"], doc["thread_id"], doc["key_user_id"]),
        user_id=doc["user_id"],
        created_at=to_utc(doc["created_at"]),
        active=bool(doc.get("active", False)),
    )


def _turn(doc: Doc) -> Turn:
    return Turn(
        id=str(doc["_id"]),
        role=doc["role"],
        text=doc["text"],
        created_at=to_utc(doc["created_at"]),
        model=doc.get("model"),
        backend=doc.get("backend"),
        prompt_tokens=doc.get("prompt_tokens", 0),
        completion_tokens=doc.get("completion_tokens", 0),
        interrupted=bool(doc.get("interrupted", False)),
        typed_text=doc.get("typed_text"),
    )


class MongoConversations:
    """`conversations` (one active per key, via a unique partial index) and `turns`."""

    def __init__(self, db: MongoDb) -> None:
        self._db = db
        self._conversations = db.collection("conversations")
        self._turns = db.collection("turns")

    async def active(self, key: ConversationKey, user_id: str) -> Conversation:
        with self._db.errors():
            doc = await self._conversations.find_one({"active_key": _active_key(key)})
            if doc is not None:
                return _conversation(doc)
            return await self._open(key, user_id)

    async def start_new(self, key: ConversationKey, user_id: str) -> Conversation:
        with self._db.errors():
            await self._conversations.update_many(
                {"active_key": _active_key(key)},
                {"$set": {"active": False}, "$unset": {"active_key": ""}},
            )
            return await self._open(key, user_id)

    async def _open(self, key: ConversationKey, user_id: str) -> Conversation:
        conversation = Conversation(id=new_id(), key=key, user_id=user_id, created_at=now_utc())
        doc: Doc = {
            "_id": conversation.id,
            "platform": key.platform,
            "chat_id": key.chat_id,
            "thread_id": key.thread_id,
            "key_user_id": key.user_id,
            "user_id": user_id,
            "created_at": conversation.created_at,
            "active": True,
            "active_key": _active_key(key),
            "next_seq": 0,
        }
        try:
            await self._conversations.insert_one(doc)
        except DuplicateKeyError:
            # Another task opened one for this key at the same moment: both use that one.
            won = await self._conversations.find_one({"active_key": _active_key(key)})
            if won is None:
                raise StoreError("The conversation changed while it was opened; retry.") from None
            return _conversation(won)
        return conversation

    async def append(self, conversation_id: str, turn: Turn, *, fence: int | None = None) -> Turn:
        created_at = to_utc(turn.created_at)
        with self._db.errors():
            counter = await self._next_seq(conversation_id, fence)
            result = await self._turns.insert_one(
                {
                    "conversation_id": conversation_id,
                    "seq": counter["next_seq"],
                    "role": turn.role,
                    "text": turn.text,
                    "created_at": created_at,
                    "model": turn.model,
                    "backend": turn.backend,
                    "prompt_tokens": turn.prompt_tokens,
                    "completion_tokens": turn.completion_tokens,
                    "interrupted": turn.interrupted,
                    "typed_text": turn.typed_text,
                }
            )
        return dataclasses.replace(turn, id=str(result.inserted_id), created_at=created_at)

    async def _next_seq(self, conversation_id: str, fence: int | None) -> Doc:
        """Take the next seq from the conversation's counter (each seq once, however many
        writers); with `fence`, only while no larger fence has written there."""
        where: dict[str, Any] = {"_id": conversation_id}
        change: dict[str, Any] = {"$inc": {"next_seq": 1}}
        if fence is not None:
            # A plain comparison: NX-27017 mismatches `_id` beside a top-level $or, and skips
            # documents without the field under $not.
            where["fence"] = {"$lte": fence}
            change["$set"] = {"fence": fence}
        for _ in range(2):
            counter = await self._conversations.find_one_and_update(
                where, change, projection={"next_seq": 1}, return_document=ReturnDocument.AFTER
            )
            if counter is not None:
                return counter
            found = await self._conversations.find_one({"_id": conversation_id}, {"fence": 1})
            if found is None:
                break
            if fence is not None and "fence" in found:
                raise StaleWrite(STALE_WRITE)
            # Written before fences existed: give it the lowest fence, then take the seq.
            missing = {"_id": conversation_id, "fence": {"$exists": False}}
            await self._conversations.update_one(missing, {"$set": {"fence": 0}})
        raise StoreError(f"There is no conversation {conversation_id}.")

    async def recent(self, conversation_id: str, limit: int) -> list[Turn]:
        if limit <= 0:
            return []
        with self._db.errors():
            cursor = (
                self._turns.find({"conversation_id": conversation_id})
                .sort("seq", DESCENDING)
                .limit(limit)
            )
            docs = await cursor.to_list(limit)
        return [_turn(doc) for doc in reversed(docs)]
