"""The connector seam end to end: the whole hub (open_services: SQLite, limiter, router, prompts,
ChatService) behind the real python-telegram-bot, against the fake Telegram and fake Ollama."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.bootstrap import open_services
from hub.connectors.telegram.bot import TelegramConnector, global_prompt_commands
from hub.core.models import Prompt
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.runtime import Services
from hub.settings import HubSettings, TelegramSettings
from tests.fakes.ollama import FakeOllama
from tests.fakes.telegram import FakeTelegram
from tests.support.wait import until

MODEL = "gemma3:270m"
DM = 5151
USER = 1001


@dataclass
class Hub:
    services: Services
    connector: TelegramConnector
    ollama: FakeOllama
    telegram: FakeTelegram

    async def user(self, platform_user_id: int = USER) -> Any:
        from hub.core.models import PlatformUser

        return await self.services.stores.users.for_identity(
            PlatformUser("telegram", str(platform_user_id), "Ada")
        )

    def texts(self, chat: int) -> list[str]:
        return [m.text for m in self.telegram.chat_messages(chat)]


Start = Callable[..., Awaitable[Hub]]


@pytest.fixture
async def start_hub(tmp_path: Path, fake_telegram: FakeTelegram) -> AsyncIterator[Start]:
    stack: list[Any] = []

    async def start(*, menu_poll: float = 60.0, **telegram: Any) -> Hub:
        ollama = await FakeOllama(models=[MODEL]).start()
        stack.append(ollama)
        settings = HubSettings(
            data_dir=tmp_path / "data",
            default_model=MODEL,
            routing=RoutingConfig(backends=[BackendConfig(name="local", url=ollama.url)]),
            telegram=TelegramSettings(
                token=fake_telegram.token,
                base_url=fake_telegram.base_url,
                poll_timeout=1,
                **telegram,
            ),
        )
        services_cm = open_services(settings)
        services = await services_cm.__aenter__()
        stack.append(services_cm)
        # As the plugin builds it (hub/connectors/telegram/__init__.py), with a short poll.
        connector = TelegramConnector(
            services.chat,
            settings.telegram,
            commands=global_prompt_commands(services),
            prompt_hooks=services.prompts.on_change,
            users=services.stores.users,
            menu_debounce=0.1,
            menu_poll=menu_poll,
        )
        await connector.start()
        stack.append(connector)
        return Hub(services, connector, ollama, fake_telegram)

    yield start
    for item in reversed(stack):
        if isinstance(item, TelegramConnector | FakeOllama):
            await item.stop()
        else:
            await item.__aexit__(None, None, None)


def menu(fake: FakeTelegram) -> list[str]:
    return [c["command"] for c in fake.commands]


async def test_menu_follows_prompt_changes_without_a_restart(start_hub: Start) -> None:
    hub = await start_hub(menu_poll=0.5)
    fake = hub.telegram
    assert menu(fake)[:3] == ["help", "new", "model"] and "summarize" not in menu(fake)
    admin = await hub.user()
    await hub.services.stores.users.set_role(admin.id, "admin")

    fake.push_message(DM, "/prompt add summarize --global Summarize | Sum up: {{INPUT}}")
    await until(lambda: "summarize" in menu(fake), within=30)
    assert any("Added /summarize for everyone" in t for t in hub.texts(DM))
    fake.push_message(DM, "/prompt rm summarize --global")
    await until(lambda: "summarize" not in menu(fake), within=30)

    # Another process (`chathub prompts add`, another worker) writes the store directly.
    global_prompt = Prompt("/digest", "Daily digest", "Digest: {{INPUT}}", "cli", "global")
    await hub.services.stores.prompts.create(global_prompt)
    await until(lambda: "digest" in menu(fake), within=30)
    assert {"command": "digest", "description": "Daily digest"} in fake.commands


async def test_a_configured_admin_gets_the_admin_role_on_first_contact(start_hub: Start) -> None:
    hub = await start_hub(admins=[str(USER)], allow_users=["42"])
    hub.ollama.script(MODEL, tokens=["Welcome", " back"])
    assert (await hub.user()).role == "user"  # known before, as a plain user
    hub.telegram.push_message(DM, "hello", user_id=USER)
    await until(lambda: hub.texts(DM) == ["Welcome back"] and not hub.connector.busy)
    assert (await hub.user()).role == "admin"  # and allowed, though not on allow_users

    hub.telegram.push_message(DM, "/prompt add team --global Team | For the team: {{INPUT}}")
    await until(lambda: any("for everyone" in t for t in hub.texts(DM)))
    hub.telegram.push_message(777, "hi", user_id=777)  # neither allowed nor admin
    await until(lambda: len(hub.texts(777)) == 1)
    assert (await hub.user(777)).role == "user"
    assert len(hub.ollama.chat_requests) == 1  # the refused message never reached a model
