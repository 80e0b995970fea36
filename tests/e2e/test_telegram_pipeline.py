"""Telegram end to end: fake Telegram → connector → ChatService → router → fake Ollama."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import hub.core.chat as chat_module
import hub.core.limits.none as limits_module
from hub.bootstrap import build_router
from hub.connectors.telegram.bot import TelegramConnector
from hub.connectors.telegram.settings import TelegramSettings
from hub.core.chat_config import ChatConfig
from hub.core.markup import telegram as tg
from hub.core.markup.split import split_markdown
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.core.stores.sqlite import open_sqlite
from hub.settings import HubSettings
from tests.fakes.ollama import FakeOllama
from tests.fakes.telegram import FakeTelegram
from tests.support.wait import until

MODEL = "gemma3:270m"
DM = 777


@pytest.fixture
async def hub(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> AsyncIterator[tuple[TelegramConnector, FakeOllama]]:
    async with FakeOllama(models=[MODEL]) as ollama:
        settings = HubSettings(
            routing=RoutingConfig(backends=[BackendConfig(name="local", url=ollama.url)]),
            default_model=MODEL,
        )
        router = build_router(settings)
        await router.start()
        stores = await open_sqlite(tmp_path)
        service: Any = chat_module.ChatService(
            stores, router, limits_module.NoLimits(), None, ChatConfig()
        )
        telegram = TelegramSettings(
            token=fake_telegram.token, base_url=fake_telegram.base_url, poll_timeout=1
        )
        connector = TelegramConnector(service, telegram)
        await connector.start()
        try:
            yield connector, ollama
        finally:
            await connector.stop()
            await stores.aclose()
            await router.aclose()


async def test_dm_streams_a_1500_token_reply_exactly(
    hub: tuple[TelegramConnector, FakeOllama], fake_telegram: FakeTelegram
) -> None:
    connector, ollama = hub
    ollama.script(MODEL, token_count=1500, tokens_per_second=400)
    fake_telegram.push_message(DM, "Tell me a long story")
    await until(lambda: bool(fake_telegram.chat_messages(DM)) and not connector.busy)

    text = "".join(f"t{i}" if i == 0 else f" t{i}" for i in range(1500))
    expected = [tg.visible(tg.to_html(p.text)) for p in split_markdown(text, 4096, tg.measure)]
    assert [m.text for m in fake_telegram.chat_messages(DM)] == expected
    assert fake_telegram.enforced_429 == 0


async def test_stop_button_closes_the_upstream_request(
    hub: tuple[TelegramConnector, FakeOllama], fake_telegram: FakeTelegram
) -> None:
    connector, ollama = hub
    connector.drafts.available = False  # buttons need a real message
    ollama.script(MODEL, token_count=5000, tokens_per_second=50)
    fake_telegram.push_message(DM, "go on")
    await until(lambda: any(m.reply_markup for m in fake_telegram.chat_messages(DM)))
    [message] = fake_telegram.chat_messages(DM)
    assert message.reply_markup is not None
    data = message.reply_markup["inline_keyboard"][0][0]["callback_data"]
    fake_telegram.push_callback(message.message_id, data, user_id=1001)
    await ollama.wait_for(lambda: ollama.connections_closed == 1, within=10)
    await until(lambda: not connector.busy)
    assert "⚠ reply interrupted" in fake_telegram.chat_messages(DM)[-1].text
