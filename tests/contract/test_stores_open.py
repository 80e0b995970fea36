"""Opening stores: persistence, schema migrations, and start-up errors people can act on."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.bootstrap import open_stores
from hub.core.models import ConversationKey, PlatformUser, Turn
from hub.core.ports import StoreError
from hub.core.stores.fronted import FrontedStores
from hub.core.stores.mongo import MongoStores, open_mongo
from hub.core.stores.sqlite import DB_FILE, SqliteStores, open_sqlite
from hub.core.stores.sqlite_schema import MIGRATIONS, Migration
from hub.settings import HubSettings
from tests.services.mongo_server import unique_db_name

KEY = ConversationKey("telegram", "c", "", "1")


async def _fill(stores: SqliteStores) -> tuple[str, str]:
    user = await stores.users.for_identity(PlatformUser("telegram", "1", "Ann"))
    conversation = await stores.conversations.active(KEY, user.id)
    await stores.conversations.append(conversation.id, Turn("user", "remember me"))
    return user.id, conversation.id


async def test_reopening_keeps_data(tmp_path: Path) -> None:
    first = await open_sqlite(tmp_path)
    user_id, conversation_id = await _fill(first)
    await first.aclose()
    second = await open_sqlite(tmp_path)
    try:
        assert (await second.users.for_identity(PlatformUser("telegram", "1"))).id == user_id
        assert (await second.conversations.active(KEY, user_id)).id == conversation_id
        turns = await second.conversations.recent(conversation_id, 10)
        assert [t.text for t in turns] == ["remember me"]
    finally:
        await second.aclose()


async def test_file_is_in_wal_mode_at_the_current_version(tmp_path: Path) -> None:
    stores = await open_sqlite(tmp_path)
    await stores.aclose()
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    assert version == max(m.version for m in MIGRATIONS)


async def test_older_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    old = await open_sqlite(tmp_path)
    user_id, conversation_id = await _fill(old)
    await old.aclose()
    latest = max(m.version for m in MIGRATIONS)
    step = Migration(latest + 1, "ALTER TABLE users ADD COLUMN nickname TEXT NOT NULL DEFAULT '';")
    upgraded = await open_sqlite(tmp_path, migrations=(*MIGRATIONS, step))
    await upgraded.aclose()
    # Opening again must not re-run the step (ALTER TABLE would fail on the second run).
    again = await open_sqlite(tmp_path, migrations=(*MIGRATIONS, step))
    try:
        assert (await again.users.get(user_id)) is not None
        assert [t.text for t in await again.conversations.recent(conversation_id, 5)] == [
            "remember me"
        ]
    finally:
        await again.aclose()
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        assert conn.execute("SELECT nickname FROM users").fetchone()[0] == ""
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [*range(1, latest + 1), latest + 1]


async def test_version_1_usage_is_carried_forward_with_nothing_estimated(tmp_path: Path) -> None:
    await (await open_sqlite(tmp_path, migrations=MIGRATIONS[:1])).aclose()  # before v2
    with sqlite3.connect(tmp_path / DB_FILE) as conn:  # a row as version 1 wrote it
        conn.execute(
            "INSERT INTO usage (user_id, model, day, requests, prompt_tokens, completion_tokens)"
            " VALUES ('ann', 'm', '2025-06-01', 1, 3, 4)"
        )
    current = await open_sqlite(tmp_path)
    try:
        await current.usage.add(
            "ann", "m", "2025-06-01", prompt_tokens=10, completion_tokens=20, estimated_tokens=30
        )
        (row,) = await current.usage.for_user("ann", "2025-06-01")
        assert (row.requests, row.total_tokens, row.estimated_tokens) == (2, 37, 30)
    finally:
        await current.aclose()


async def test_failed_migration_leaves_the_file_unchanged(tmp_path: Path) -> None:
    await (await open_sqlite(tmp_path)).aclose()  # a file at the current version
    latest = max(m.version for m in MIGRATIONS)
    broken = Migration(
        latest + 1, "CREATE TABLE extra (x INTEGER);\nINSERT INTO no_such_table VALUES (1);"
    )
    with pytest.raises(StoreError, match=f"schema version {latest + 1}"):
        await open_sqlite(tmp_path, migrations=(*MIGRATIONS, broken))
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "extra" not in tables
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == latest


async def test_newer_file_is_refused(tmp_path: Path) -> None:
    stores = await open_sqlite(tmp_path)
    await stores.aclose()
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (999)")
    with pytest.raises(StoreError, match="newer chathub"):
        await open_sqlite(tmp_path)


async def test_corrupt_file_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / DB_FILE).write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(StoreError) as caught:
        await open_sqlite(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / DB_FILE) in message
    assert "not a valid SQLite database" in message


async def test_data_dir_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    # A directory below a regular file cannot be created, even by root.
    with pytest.raises(StoreError, match="HUB_DATA_DIR") as caught:
        await open_sqlite(blocker / "data")
    assert str(blocker / "data") in str(caught.value)


async def test_data_dir_is_created_when_missing(tmp_path: Path) -> None:
    stores = await open_sqlite(tmp_path / "deep" / "data")
    await stores.aclose()
    assert (tmp_path / "deep" / "data" / DB_FILE).is_file()


async def test_open_stores_picks_sqlite_without_mongodb_url(tmp_path: Path) -> None:
    # mongodb_url=None explicitly: arguments win over a HUB_MONGODB_URL in the environment.
    stores = await open_stores(HubSettings(data_dir=tmp_path / "d", mongodb_url=None))
    try:
        assert isinstance(stores, FrontedStores)
        assert isinstance(stores.inner, SqliteStores)
        assert stores.description == f"SQLite at {tmp_path / 'd' / DB_FILE}"
    finally:
        await stores.aclose()


async def test_open_stores_picks_mongo_when_url_is_set(mongo_url: str) -> None:
    name = unique_db_name()
    settings = HubSettings(mongodb_url=SecretStr(mongo_url), mongodb_db=name)
    stores = await open_stores(settings)
    try:
        assert isinstance(stores, FrontedStores)
        assert isinstance(stores.inner, MongoStores)
        assert stores.description.endswith(f"/{name}")
        await stores.ping()
    finally:
        assert isinstance(stores, FrontedStores)
        assert isinstance(stores.inner, MongoStores)
        await stores.inner.db.client.drop_database(name)
        await stores.aclose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_mongo_is_an_actionable_store_error() -> None:
    port = _closed_port()
    url = f"mongodb://alice:s3cr%40t@127.0.0.1:{port}/?authSource=admin"
    with pytest.raises(StoreError) as caught:
        await open_mongo(url, "chathub", timeout_ms=200)
    message = str(caught.value)
    assert message.startswith(f"MongoDB is not reachable at mongodb://127.0.0.1:{port}: ")
    assert "unset HUB_MONGODB_URL" in message
    for secret in ("alice", "s3cr", "authSource"):
        assert secret not in message


async def test_invalid_mongo_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="HUB_MONGODB_URL"):
        await open_mongo("http://not-mongo", "chathub", timeout_ms=200)


async def test_mongo_indexes_are_created_at_start_up(mongo_url: str) -> None:
    name = unique_db_name()
    stores = await open_mongo(mongo_url, name)
    try:
        found: dict[str, set[tuple[tuple[tuple[str, int], ...], bool]]] = {}
        for collection in ("users", "identities", "conversations", "turns", "prompts", "chats"):
            info = await stores.db.collection(collection).index_information()
            # Keys and uniqueness only: emulators choose their own index names.
            found[collection] = {
                (tuple((k, int(d)) for k, d in spec["key"]), bool(spec.get("unique")))
                for spec in info.values()
            }
        assert ((("email", 1),), True) in found["users"]
        assert ((("platform", 1), ("platform_user_id", 1)), True) in found["identities"]
        assert ((("active_key", 1),), True) in found["conversations"]
        assert ((("conversation_id", 1), ("seq", 1)), True) in found["turns"]
        assert ((("scope", 1), ("command", 1), ("owner_key", 1)), True) in found["prompts"]
        assert ((("user_id", 1), ("updated_at", 1)), False) in found["chats"]
        # Finished jobs are removed by MongoDB itself when `expires_at` passes (a TTL index).
        jobs = await stores.db.collection("jobs").index_information()
        ttl = [spec for spec in jobs.values() if "expireAfterSeconds" in spec]
        assert [(spec["key"], spec["expireAfterSeconds"]) for spec in ttl] == [
            ([("expires_at", 1)], 0)
        ]
        # Opening again on the same database is fine (index creation is idempotent).
        await (await open_mongo(mongo_url, name)).aclose()
    finally:
        await stores.db.client.drop_database(name)
        await stores.aclose()


async def test_closed_sqlite_store_raises_store_error(tmp_path: Path) -> None:
    stores = await open_sqlite(tmp_path)
    await stores.ping()
    await stores.aclose()
    with pytest.raises(StoreError, match="closed"):
        await stores.ping()
    await stores.aclose()  # closing twice is harmless


async def test_a_version_1_file_gains_enabled_users(tmp_path: Path) -> None:
    """Schema 2 adds `users.disabled`: users of an older file come through enabled."""
    old = await open_sqlite(tmp_path, migrations=MIGRATIONS[:1])
    await old.db.write(
        "INSERT INTO users (id, name, role, created_at) VALUES ('u1', 'Old', 'admin', "
        "'2025-01-01T00:00:00.000+00:00')"
    )
    await old.aclose()
    upgraded = await open_sqlite(tmp_path)
    try:
        user = await upgraded.users.get("u1")
        assert user is not None and (user.name, user.role, user.disabled) == ("Old", "admin", False)
        assert await upgraded.users.set_disabled("u1", True)
        stored = await upgraded.users.get("u1")
        assert stored is not None and stored.disabled
    finally:
        await upgraded.aclose()


async def test_mongo_pool_lets_idle_connections_go_unless_the_url_says_otherwise(
    mongo_url: str,
) -> None:
    """The soak (issue 17) found the pool 33 connections larger after a MongoDB outage, for
    good: the spool's burst of writes opened them and nothing closed them."""
    stores = await open_mongo(mongo_url, unique_db_name("pool"))
    try:
        assert stores.db.client.options.pool_options.max_idle_time_seconds == 60
    finally:
        await stores.aclose()
    joiner = "&" if "?" in mongo_url else "?"
    stores = await open_mongo(f"{mongo_url}{joiner}maxIdleTimeMS=5000", unique_db_name("pool"))
    try:
        assert stores.db.client.options.pool_options.max_idle_time_seconds == 5
    finally:
        await stores.aclose()
