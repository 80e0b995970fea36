"""Fixtures of the store contract suite: every test runs on SQLite and on a MongoDB-wire server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.core.ports import Stores
from hub.core.stores.mongo import open_mongo
from hub.core.stores.sqlite import open_sqlite
from tests.contract.coordination_kit import KINDS, Replicas
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


@pytest.fixture(params=KINDS)
async def replicas(request: pytest.FixtureRequest) -> AsyncIterator[Replicas]:
    """Coordination for several replicas of one hub: the embedded twin, Redis, and Redis in
    cluster mode (where keys that span two hash slots in one command fail)."""
    url: str | None = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    elif request.param == "redis-cluster":
        url = request.getfixturevalue("redis_cluster_server").url
    kit = Replicas(request.param, url)
    yield kit
    await kit.aclose()
