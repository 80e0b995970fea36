"""Fixtures for connector tests: the fake Telegram server and a running connector."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hub.connectors.telegram.bot import TelegramConnector
from hub.connectors.telegram.settings import TelegramSettings
from tests.fakes.telegram import FakeTelegram
from tests.support.chat import ScriptedChat

Start = Callable[..., Awaitable[TelegramConnector]]


@pytest.fixture
async def start_connector(fake_telegram: FakeTelegram) -> AsyncIterator[Start]:
    started: list[TelegramConnector] = []

    async def start(chat: ScriptedChat, **settings: Any) -> TelegramConnector:
        values: dict[str, Any] = {
            "token": fake_telegram.token,
            "base_url": fake_telegram.base_url,
            "poll_timeout": 1,
            **settings,
        }
        connector = TelegramConnector(chat, TelegramSettings(**values))
        await connector.start()
        started.append(connector)
        return connector

    yield start
    for connector in started:
        await connector.stop()
