"""The SQLite store's schema as ordered migrations.

A file remembers the last migration applied (`schema_version`). On open, every newer migration
runs in its own transaction, so an existing file is carried forward and a failed migration leaves
it as it was. Never edit a released migration: append a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from hub.core.ports import StoreError


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: `version` is 1, 2, 3…; `sql` may hold several statements."""

    version: int
    sql: str


# Dates are ISO 8601 text in UTC with millisecond precision, so they also sort as text.
_V1 = """
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    email TEXT UNIQUE,
    password_hash TEXT,
    model TEXT,
    language TEXT NOT NULL DEFAULT '',
    profile_image_url TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE identities (
    platform TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (platform, platform_user_id)
);
CREATE INDEX identities_user ON identities(user_id);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    key_user_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
-- At most one active conversation per key; closed ones stay stored.
CREATE UNIQUE INDEX conversations_active_key
    ON conversations(platform, chat_id, thread_id, key_user_id) WHERE active = 1;
CREATE INDEX conversations_key
    ON conversations(platform, chat_id, thread_id, key_user_id, created_at);

CREATE TABLE turns (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    model TEXT,
    backend TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    interrupted INTEGER NOT NULL DEFAULT 0,
    typed_text TEXT
);
CREATE UNIQUE INDEX turns_conversation_seq ON turns(conversation_id, seq);

CREATE TABLE prompts (
    command TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('personal', 'global')),
    owner_key TEXT NOT NULL,  -- owner id for personal prompts, '' for global ones
    owner_id TEXT NOT NULL,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, command, owner_key)
);
CREATE INDEX prompts_owner ON prompts(owner_id, scope);

CREATE TABLE chats (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    title TEXT NOT NULL,
    chat TEXT NOT NULL,  -- the Open WebUI chat object as JSON, verbatim
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    share_id TEXT
);
CREATE INDEX chats_user_updated ON chats(user_id, updated_at, id);

CREATE TABLE usage (
    user_id TEXT NOT NULL,
    model TEXT NOT NULL,
    day TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day, model)
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL  -- JSON
);
"""

# Users can be disabled (refused everywhere until enabled again); admins list users by age.
_V2 = """
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_created ON users(created_at);
CREATE INDEX usage_day ON usage(day);
"""

# Usage records say how many of their tokens are the hub's estimates (servers that report none).
_V3 = """
ALTER TABLE usage ADD COLUMN estimated_tokens INTEGER NOT NULL DEFAULT 0;
"""

# Jobs (`POST /api/v1/jobs`): chat requests run in the background, kept until `expires_at`.
# Conversations remember the largest fence (conversation lease token) that wrote a turn.
_V4 = """
ALTER TABLE conversations ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    api TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,  -- JSON, as the client sent it
    status TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    position INTEGER,
    result TEXT,  -- JSON
    error TEXT,  -- JSON
    callback_url TEXT,
    callback TEXT,  -- JSON
    attempt INTEGER NOT NULL DEFAULT 0,
    worker TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT
);
CREATE INDEX jobs_expiry ON jobs(expires_at);
CREATE INDEX jobs_status ON jobs(status, created_at);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, _V1),
    Migration(2, _V2),
    Migration(3, _V3),
    Migration(4, _V4),
)


async def current_version(conn: aiosqlite.Connection) -> int:
    """The last migration applied to this file (0 for a new file)."""
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    rows = list(await conn.execute_fetchall("SELECT MAX(version) FROM schema_version"))
    return int(rows[0][0] or 0)


async def migrate(
    conn: aiosqlite.Connection, path: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> int:
    """Apply every migration newer than the file's version; return the version reached.

    `conn` must be in autocommit mode (isolation_level=None): each migration opens its own
    transaction so that it is applied completely or not at all.
    """
    known = max((m.version for m in migrations), default=0)
    version = await current_version(conn)
    if version > known:
        raise StoreError(
            f"{path} was written by a newer chathub (schema version {version}, this one knows "
            f"up to {known}); upgrade chathub or point HUB_DATA_DIR at another directory."
        )
    for step in sorted(migrations, key=lambda m: m.version):
        if step.version <= version:
            continue
        script = (
            f"BEGIN IMMEDIATE;\n{step.sql}\n"
            f"INSERT INTO schema_version (version) VALUES ({int(step.version)});\nCOMMIT;"
        )
        try:
            await conn.executescript(script)
        except Exception as exc:
            if conn.in_transaction:
                await conn.rollback()
            raise StoreError(
                f"Upgrading {path} to schema version {step.version} failed ({exc}); the file "
                "was left unchanged. Restore it from a backup or report this as a bug."
            ) from exc
        version = step.version
    return version
