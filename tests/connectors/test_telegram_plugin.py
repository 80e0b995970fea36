"""The `chathub.connectors` entry point: off without a token, prompts in the menu, webhooks."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from hub.connectors.registry import start_connectors
from hub.connectors.telegram import plugin
from hub.connectors.telegram.bot import TelegramConnector
from hub.connectors.telegram.settings import TelegramSettings
from hub.connectors.telegram.webhook import SECRET_HEADER
from hub.core.models import Prompt
from hub.core.stores.sqlite import open_sqlite
from hub.runtime import Services
from hub.settings import SettingsError, load_settings, settings_class
from tests.fakes.telegram import FakeTelegram
from tests.support.chat import ScriptedChat
from tests.support.wait import until


def services(telegram: TelegramSettings, stores: Any = None, chat: Any = None) -> Services:
    settings = settings_class([plugin])(telegram=telegram)
    return Services(settings=settings, stores=stores, router=None, limits=None, chat=chat)  # type: ignore[arg-type]


def test_off_without_a_token() -> None:
    hub = services(TelegramSettings(token=""))
    section = hub.settings.section("telegram")
    assert section == TelegramSettings()
    assert not plugin.enabled(section)
    assert plugin.routes(section) == []


def test_webhook_mode_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TELEGRAM__TOKEN", "1:x")
    monkeypatch.setenv("HUB_TELEGRAM__MODE", "webhook")
    with pytest.raises(SettingsError, match=r"^HUB_TELEGRAM__WEBHOOK_SECRET: required"):
        load_settings(plugins=[plugin])


async def test_plugin_publishes_global_prompts_and_serves_its_webhook(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    stores = await open_sqlite(tmp_path)
    await stores.prompts.create(
        Prompt(
            command="/summarize",
            title="Summarize a text",
            content="Sum up: {{x}}",
            owner_id="admin",
            scope="global",
        )
    )
    await stores.prompts.create(
        Prompt(command="/mine", title="Personal", content="x", owner_id="u1", scope="personal")
    )
    telegram = TelegramSettings(
        token=fake_telegram.token,
        base_url=fake_telegram.base_url,
        mode="webhook",
        webhook_secret="s3cret",
        drafts=False,
    )
    chat = ScriptedChat(lambda m: "pong")
    hub = services(telegram, stores, chat)
    try:
        async with start_connectors([plugin], hub) as running:
            [connector] = running
            assert isinstance(connector, TelegramConnector)
            names = [c["command"] for c in fake_telegram.commands]
            assert "summarize" in names and "mine" not in names and names[0] == "help"
            await post_update_through_app(hub)
            await until(lambda: chat.finished == 1 and not connector.busy)
            assert [m.text for m in fake_telegram.chat_messages(31)] == ["pong"]
    finally:
        await stores.aclose()


async def post_update_through_app(hub: Services) -> None:
    """The app-build-time route finds the running connector on app.state.services."""
    app = Litestar(route_handlers=plugin.routes(hub.settings.section("telegram")))
    app.state.services = hub
    update = {
        "update_id": 9,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 31, "type": "private", "first_name": "Ada"},
            "from": {"id": 31, "is_bot": False, "first_name": "Ada"},
            "text": "ping",
        },
    }
    async with AsyncTestClient(app=app) as client:
        assert (await client.post("/webhooks/telegram", json=update)).status_code == 403
        ok = await client.post("/webhooks/telegram", json=update, headers={SECRET_HEADER: "s3cret"})
        assert ok.status_code == 200


def test_loading_the_plugin_does_not_import_the_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hub.connectors.telegram as t; t.plugin.enabled;"
        "print('telegram' in sys.modules, 'litestar' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_plugin_hooks_the_menu_to_prompt_changes(fake_telegram: FakeTelegram) -> None:
    from hub.core.prompts import PromptService

    telegram = TelegramSettings(token=fake_telegram.token, base_url=fake_telegram.base_url)
    stores = SimpleNamespace(prompts=None, users=None)  # not reached by this test
    hub = services(telegram, stores, ScriptedChat(lambda m: ""))
    hub.prompts = PromptService(None)  # type: ignore[arg-type]
    connector = plugin.create(hub, telegram)
    assert connector.menu.hooks is hub.prompts.on_change
    assert connector.dispatch.grace == hub.settings.chat.shutdown_grace
