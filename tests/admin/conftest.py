"""The admin commands run through `hub.cli.main` against a real store of each kind: SQLite in a
temp dir, and a database of its own on the MongoDB-wire server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pymongo import MongoClient

from hub.bootstrap import open_stores
from hub.cli import main
from hub.core.ports import Stores
from hub.settings import load_settings
from tests.services.mongo_server import unique_db_name

T = TypeVar("T")


@dataclass
class Cli:
    """Runs `chathub ...` in this process and, between commands, the store directly."""

    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse refusing the arguments
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err

    def store(self, work: Callable[[Stores], Awaitable[T]]) -> T:
        async def run() -> T:
            stores = await open_stores(load_settings())
            try:
                return await work(stores)
            finally:
                await stores.aclose()

        return asyncio.run(run())


@pytest.fixture(params=["sqlite", "mongo"])
def cli(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    """Sync tests only: each command runs its own event loop, as `chathub` does."""
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in [k for k in os.environ if k.startswith("HUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    url = None
    if request.param == "mongo":
        url = request.getfixturevalue("mongo_url")
        database = unique_db_name("cli")
        monkeypatch.setenv("HUB_MONGODB_URL", url)
        monkeypatch.setenv("HUB_MONGODB_DB", database)
    yield Cli(capsys)
    if url is not None:
        client: MongoClient[dict[str, Any]] = MongoClient(url)
        client.drop_database(database)
        client.close()
