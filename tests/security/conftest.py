"""A running hub per store (SQLite and the MongoDB-wire server) for the security tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.conftest import Hub, fake_ollama, hub_settings, running_hub
from tests.fakes.ollama import FakeOllama
from tests.services.mongo_server import unique_db_name


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeOllama]:
    async with fake_ollama() as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite", "mongo"])
async def any_store_hub(
    request: pytest.FixtureRequest, fake: FakeOllama, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Hub]:
    """The hub on each store in turn: what reaches a store must behave the same on both."""
    extra = {}
    if request.param == "mongo":
        url = request.getfixturevalue("mongo_url")
        extra = {"mongodb_url": url, "mongodb_db": unique_db_name("security")}
    settings = hub_settings(tmp_path_factory.mktemp("hub"), fake, **extra)
    async with running_hub(settings, fake) as running:
        yield running


@pytest.fixture(scope="module")
async def hub(fake: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), fake)
    async with running_hub(settings, fake) as running:
        yield running
