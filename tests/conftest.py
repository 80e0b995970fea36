"""Shared fixtures. Real services (Redis, a MongoDB-wire server) live in tests/services/."""

import os
from collections.abc import AsyncIterator

import pytest

from tests.fakes.discord import FakeDiscord, pointed_at
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

# Every server a test talks to is on loopback: never send that traffic through a proxy the
# environment may configure (httpx, aiohttp and PTB all honour HTTP(S)_PROXY).
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"

pytest_plugins = [
    "tests.services.redis_server",
    "tests.services.mongo_server",
]


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API on an ephemeral port (in this test's loop)."""
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack (Web API, Socket Mode, signed HTTP delivery) on an ephemeral port."""
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """The fake Discord on an ephemeral port, with discord.py pointed at it for the test."""
    fake = FakeDiscord()
    await fake.start()
    with pointed_at(fake):
        yield fake
    await fake.stop()
