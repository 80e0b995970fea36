"""MongoDB prompt commands, Open WebUI chats, usage counters and runtime settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from hub.core.models import Prompt, PromptScope, Usage, WebChat
from hub.core.stores.common import new_id, owner_key, prompt_taken, to_utc
from hub.core.stores.mongo_db import Doc, MongoDb


def _prompt(doc: Doc) -> Prompt:
    return Prompt(
        command=doc["command"],
        title=doc["title"],
        content=doc["content"],
        owner_id=doc["owner_id"],
        scope=cast(PromptScope, doc["scope"]),
        created_at=to_utc(doc["created_at"]),
        updated_at=to_utc(doc["updated_at"]),
    )


def _exact(command: str, owner_id: str, scope: PromptScope) -> Doc:
    return {"command": command, "scope": scope, "owner_id": owner_id}


class MongoPrompts:
    """`prompts`, unique by (scope, command, owner_key): owner_key is '' for global commands."""

    def __init__(self, db: MongoDb) -> None:
        self._db = db
        self._prompts = db.collection("prompts")

    async def get(self, command: str, user_id: str) -> Prompt | None:
        with self._db.errors():
            # "personal" sorts after "global": descending puts the user's own first.
            docs = (
                await self._prompts.find(
                    {
                        "command": command,
                        "$or": [{"scope": "global"}, {"scope": "personal", "owner_id": user_id}],
                    }
                )
                .sort("scope", DESCENDING)
                .limit(1)
                .to_list(1)
            )
        return _prompt(docs[0]) if docs else None

    async def get_exact(self, command: str, owner_id: str, scope: PromptScope) -> Prompt | None:
        with self._db.errors():
            doc = await self._prompts.find_one(_exact(command, owner_id, scope))
        return None if doc is None else _prompt(doc)

    async def visible(self, user_id: str) -> list[Prompt]:
        with self._db.errors():
            docs = await self._prompts.find(
                {"$or": [{"scope": "global"}, {"scope": "personal", "owner_id": user_id}]}
            ).to_list(None)
        by_command: dict[str, Prompt] = {}
        for prompt in map(_prompt, docs):
            if prompt.command not in by_command or prompt.scope == "personal":
                by_command[prompt.command] = prompt
        return [by_command[command] for command in sorted(by_command)]

    async def create(self, prompt: Prompt) -> Prompt:
        prompt = dataclasses.replace(
            prompt, created_at=to_utc(prompt.created_at), updated_at=to_utc(prompt.updated_at)
        )
        with self._db.errors(duplicate=prompt_taken(prompt)):
            await self._prompts.insert_one(
                {
                    "command": prompt.command,
                    "scope": prompt.scope,
                    "owner_key": owner_key(prompt.owner_id, prompt.scope),
                    "owner_id": prompt.owner_id,
                    "title": prompt.title,
                    "content": prompt.content,
                    "created_at": prompt.created_at,
                    "updated_at": prompt.updated_at,
                }
            )
        return prompt

    async def update(
        self, command: str, owner_id: str, scope: PromptScope, *, title: str, content: str
    ) -> Prompt | None:
        with self._db.errors():
            doc = await self._prompts.find_one_and_update(
                _exact(command, owner_id, scope),
                # $currentDate rather than $set: NX-27017 stores $set datetimes as strings.
                {
                    "$set": {"title": title, "content": content},
                    "$currentDate": {"updated_at": True},
                },
                return_document=ReturnDocument.AFTER,
            )
        return None if doc is None else _prompt(doc)

    async def delete(self, command: str, owner_id: str, scope: PromptScope) -> bool:
        with self._db.errors():
            result = await self._prompts.delete_one(_exact(command, owner_id, scope))
        return result.deleted_count > 0


def _chat(doc: Doc) -> WebChat:
    return WebChat(
        id=doc["_id"],
        user_id=doc["user_id"],
        title=doc["title"],
        chat=doc["chat"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        archived=bool(doc.get("archived", False)),
        share_id=doc.get("share_id"),
    )


class MongoChats:
    """`chats`: Open WebUI chats with the chat object as a sub-document, filtered by owner."""

    def __init__(self, db: MongoDb) -> None:
        self._db = db
        self._chats = db.collection("chats")

    async def create(self, chat: WebChat) -> WebChat:
        chat = dataclasses.replace(chat, id=chat.id or new_id())
        with self._db.errors(duplicate=f"A chat with id {chat.id} already exists."):
            await self._chats.insert_one(
                {
                    "_id": chat.id,
                    "user_id": chat.user_id,
                    "title": chat.title,
                    "chat": dict(chat.chat),
                    "created_at": chat.created_at,
                    "updated_at": chat.updated_at,
                    "archived": chat.archived,
                    "share_id": chat.share_id,
                }
            )
        return chat

    async def get(self, chat_id: str, user_id: str) -> WebChat | None:
        with self._db.errors():
            doc = await self._chats.find_one({"_id": chat_id, "user_id": user_id})
        return None if doc is None else _chat(doc)

    async def list(self, user_id: str, *, skip: int = 0, limit: int = 50) -> list[WebChat]:
        if limit <= 0:  # Mongo reads limit 0 as "no limit"
            return []
        with self._db.errors():
            docs = (
                await self._chats.find({"user_id": user_id, "archived": False})
                .sort([("updated_at", DESCENDING), ("_id", DESCENDING)])
                .skip(max(skip, 0))
                .limit(limit)
                .to_list(limit)
            )
        return [_chat(doc) for doc in docs]

    async def update(
        self, chat_id: str, user_id: str, chat: Mapping[str, Any], *, title: str, updated_at: int
    ) -> WebChat | None:
        with self._db.errors():
            doc = await self._chats.find_one_and_update(
                {"_id": chat_id, "user_id": user_id},
                {"$set": {"chat": dict(chat), "title": title, "updated_at": updated_at}},
                return_document=ReturnDocument.AFTER,
            )
        return None if doc is None else _chat(doc)

    async def delete(self, chat_id: str, user_id: str) -> bool:
        with self._db.errors():
            result = await self._chats.delete_one({"_id": chat_id, "user_id": user_id})
        return result.deleted_count > 0


class MongoUsage:
    """`usage`: one counter document per user, model and UTC day."""

    def __init__(self, db: MongoDb) -> None:
        self._db = db
        self._usage = db.collection("usage")

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
        where = {"user_id": user_id, "model": model, "day": day}
        change = {
            "$inc": {
                "requests": requests,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
            }
        }
        with self._db.errors():
            try:
                await self._usage.update_one(where, change, upsert=True)
            except DuplicateKeyError:  # two first-of-the-day upserts raced; the doc exists now
                await self._usage.update_one(where, change)

    async def for_user(self, user_id: str, day: str) -> list[Usage]:
        with self._db.errors():
            docs = (
                await self._usage.find({"user_id": user_id, "day": day})
                .sort("model", ASCENDING)
                .to_list(None)
            )
        return [_usage(doc) for doc in docs]

    async def between(
        self, first_day: str, last_day: str, *, user_id: str | None = None, model: str | None = None
    ) -> list[Usage]:
        where: Doc = {"day": {"$gte": first_day, "$lte": last_day}}
        if user_id is not None:
            where["user_id"] = user_id
        if model is not None:
            where["model"] = model
        with self._db.errors():
            docs = (
                await self._usage.find(where)
                .sort([("day", ASCENDING), ("user_id", ASCENDING), ("model", ASCENDING)])
                .to_list(None)
            )
        return [_usage(doc) for doc in docs]


def _usage(doc: Doc) -> Usage:
    return Usage(
        user_id=doc["user_id"],
        model=doc["model"],
        day=doc["day"],
        requests=doc.get("requests", 0),
        prompt_tokens=doc.get("prompt_tokens", 0),
        completion_tokens=doc.get("completion_tokens", 0),
    )


class MongoSettings:
    """`settings`: one document per name; an unknown name reads as None."""

    def __init__(self, db: MongoDb) -> None:
        self._db = db
        self._settings = db.collection("settings")

    async def get(self, name: str) -> Any:
        with self._db.errors():
            doc = await self._settings.find_one({"_id": name})
        return None if doc is None else doc.get("value")

    async def put(self, name: str, value: Any) -> None:
        with self._db.errors():
            await self._settings.update_one({"_id": name}, {"$set": {"value": value}}, upsert=True)

    async def put_new(self, name: str, value: Any) -> bool:
        # The unique `_id` decides: of concurrent inserts, on any number of hubs, one succeeds.
        with self._db.errors():
            try:
                await self._settings.insert_one({"_id": name, "value": value})
            except DuplicateKeyError:
                return False
        return True
