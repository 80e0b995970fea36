"""Fixtures of the store contract suite: every test runs on SQLite and on a MongoDB-wire server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.core.ports import Stores
from hub.core.stores.mongo import open_mongo
from hub.core.stores.sqlite import open_sqlite
from tests.services.mongo_server import unique_db_name


@pytest.fixture(params=["sqlite", "mongo"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """A fresh, empty store of each implementation."""
    if request.param == "sqlite":
        sqlite = await open_sqlite(tmp_path / "data")
        yield sqlite
        await sqlite.aclose()
        return
    url = request.getfixturevalue("mongo_url")
    name = unique_db_name()
    mongo = await open_mongo(url, name)
    yield mongo
    await mongo.db.client.drop_database(name)
    await mongo.aclose()
