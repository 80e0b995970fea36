"""The MongoDB store on PyMongo's `AsyncMongoClient` (not Motor, which reached end of life).

Turns live in their own collection and take their sequence number from a counter on the
conversation document, so no document grows without bound and concurrent appends never collide.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError

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
from hub.core.stores.mongo_content import MongoChats, MongoPrompts, MongoSettings, MongoUsage
from hub.core.stores.mongo_db import Doc, MongoDb, scrub, short_reason
from hub.core.stores.mongo_jobs import MongoJobs
from hub.core.stores.mongo_people import MongoConversations, MongoUsers
from hub.core.urls import service_address

log = logging.getLogger(__name__)

# (collection, keys, options). Names are given for mongod; some wire servers choose their own.
_INDEXES: tuple[tuple[str, list[tuple[str, int]], Mapping[str, Any]], ...] = (
    (
        "users",
        [("email", ASCENDING)],
        {
            "name": "email_unique",
            "unique": True,
            "partialFilterExpression": {"email": {"$type": "string"}},
        },
    ),
    (
        "identities",
        [("platform", ASCENDING), ("platform_user_id", ASCENDING)],
        {"name": "identity_unique", "unique": True},
    ),
    ("identities", [("user_id", ASCENDING)], {"name": "identity_user"}),
    (
        "conversations",
        [("active_key", ASCENDING)],
        {
            "name": "active_key_unique",
            "unique": True,
            "partialFilterExpression": {"active_key": {"$type": "string"}},
        },
    ),
    (
        "conversations",
        [("platform", 1), ("chat_id", 1), ("thread_id", 1), ("key_user_id", 1), ("created_at", 1)],
        {"name": "conversation_key"},
    ),
    (
        "turns",
        [("conversation_id", ASCENDING), ("seq", ASCENDING)],
        {"name": "turns_by_seq", "unique": True},
    ),
    (
        "prompts",
        [("scope", ASCENDING), ("command", ASCENDING), ("owner_key", ASCENDING)],
        {"name": "prompt_command_unique", "unique": True},
    ),
    ("prompts", [("owner_id", ASCENDING), ("scope", ASCENDING)], {"name": "prompt_owner"}),
    # Ascending: with user_id fixed, mongod walks it backwards for "newest first". Not extended
    # with _id for the tie-break sort: NX-27017 then fails every insert, and one user's chats are
    # few enough for mongod to order equal `updated_at`s in memory.
    (
        "chats",
        [("user_id", ASCENDING), ("updated_at", ASCENDING)],
        {"name": "chats_by_user_updated"},
    ),
    (
        "usage",
        [("user_id", ASCENDING), ("day", ASCENDING), ("model", ASCENDING)],
        {"name": "usage_unique", "unique": True},
    ),
    ("usage", [("day", ASCENDING)], {"name": "usage_by_day"}),
    # MongoDB removes a finished job once its `expires_at` has passed (jobs.result_ttl).
    ("jobs", [("expires_at", ASCENDING)], {"name": "jobs_expire", "expireAfterSeconds": 0}),
    ("jobs", [("status", ASCENDING), ("created_at", ASCENDING)], {"name": "jobs_by_status"}),
)


class MongoStores:
    """Every store on one MongoDB database. Build it with `open_mongo`."""

    def __init__(self, db: MongoDb) -> None:
        self.db = db
        self.users: UserStore = MongoUsers(db)
        self.conversations: ConversationStore = MongoConversations(db)
        self.prompts: PromptStore = MongoPrompts(db)
        self.chats: WebChatStore = MongoChats(db)
        self.usage: UsageStore = MongoUsage(db)
        self.settings: SettingStore = MongoSettings(db)
        self.jobs: JobStore = MongoJobs(db)
        self.description = f"MongoDB at {db.where}/{db.db.name}"

    async def ping(self) -> None:
        with self.db.errors():
            await self.db.db.command("ping")

    async def aclose(self) -> None:
        await self.db.client.close()


MAX_IDLE_MS = 60_000


async def _ensure_indexes(db: AsyncDatabase[Doc]) -> None:
    for name, keys, options in _INDEXES:
        await db[name].create_index(keys, **options)


async def open_mongo(url: str, database: str, *, timeout_ms: int = 5000) -> MongoStores:
    """Connect, check the server answers, create the indexes; raise StoreError if unusable.

    `timeout_ms` bounds the start-up wait for a server unless the URL sets
    `serverSelectionTimeoutMS` itself.
    """
    where = service_address(url)
    options: dict[str, Any] = {"tz_aware": True, "appname": "chathub"}
    if "serverselectiontimeoutms" not in url.lower():
        options["serverSelectionTimeoutMS"] = timeout_ms
    if "maxidletimems" not in url.lower():
        # Connections opened for a burst (the spool written back after an outage) are closed
        # once idle this long; without it the pool keeps its largest size for good.
        options["maxIdleTimeMS"] = MAX_IDLE_MS
    try:
        client: AsyncMongoClient[Doc] = AsyncMongoClient(url, **options)
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise StoreError(
            f"HUB_MONGODB_URL is not a valid MongoDB URL ({scrub(str(exc), url)}); "
            "use the form mongodb://host:27017."
        ) from exc
    db = client[database]
    try:
        await client.admin.command("ping")
        await _ensure_indexes(db)
    except OperationFailure as exc:
        await client.close()
        raise StoreError(
            f"MongoDB at {where} refused the hub ({scrub(short_reason(exc), url)}); check the "
            "user, password and database in HUB_MONGODB_URL / HUB_MONGODB_DB."
        ) from exc
    except PyMongoError as exc:
        await client.close()
        raise StoreError(
            f"MongoDB is not reachable at {where}: {scrub(short_reason(exc), url)}; start it "
            "or unset HUB_MONGODB_URL to use the embedded store."
        ) from exc
    log.info("MongoDB store opened", extra={"url": where, "database": database})
    return MongoStores(MongoDb(client, db, where))
