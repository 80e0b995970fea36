"""The connector seam end to end: the whole hub (open_services: SQLite, limiter, router, prompts,
ChatService) behind the real python-telegram-bot, against the fake Telegram and fake Ollama."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.bootstrap import open_services
from hub.connectors.telegram import plugin
from hub.connectors.telegram.bot import TelegramConnector, global_prompt_commands
from hub.connectors.telegram.settings import TelegramSettings
from hub.core.chat_config import ChatConfig
from hub.core.models import Prompt
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.runtime import Services
from hub.settings import settings_class
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

    async def start(
        *, menu_poll: float = 60.0, kind: str = "ollama", chat: Any = None, **telegram: Any
    ) -> Hub:
        ollama = await FakeOllama(models=[MODEL]).start()
        stack.append(ollama)
        url = ollama.url + ("/v1" if kind == "openai" else "")
        telegram_settings = TelegramSettings(
            token=fake_telegram.token, base_url=fake_telegram.base_url, poll_timeout=1, **telegram
        )
        settings = settings_class([plugin])(
            _env_file=None,
            data_dir=tmp_path / "data",
            default_model=MODEL,
            chat=chat or ChatConfig(),
            routing=RoutingConfig(backends=[BackendConfig(name="local", kind=kind, url=url)]),
            telegram=telegram_settings,
        )
        services_cm = open_services(settings)
        services = await services_cm.__aenter__()
        stack.append(services_cm)
        # As the plugin builds it (hub/connectors/telegram/__init__.py), with a short poll.
        connector = TelegramConnector(
            services.chat,
            telegram_settings,
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


PICTURE = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40  # a JPEG's magic, then anything


def sees_images(hub: Hub) -> None:
    hub.ollama.script(MODEL, tokens=["A", " cat."], extra_show={"capabilities": ["vision"]})


async def test_a_photo_reaches_a_vision_model_as_an_image(start_hub: Start) -> None:
    hub = await start_hub()
    sees_images(hub)
    hub.telegram.push_photo(DM, PICTURE, "What is this?")
    await until(lambda: hub.texts(DM) == ["A cat."] and not hub.connector.busy)
    [request] = hub.ollama.chat_requests
    last = request.json["messages"][-1]
    assert last["content"] == "What is this?"
    assert last["images"] == [base64.b64encode(PICTURE).decode()]
    assert hub.telegram.downloads == ["photos/file2.jpg"]  # the full size, not the thumbnail

    hub.telegram.push_document(DM, PICTURE, "image/png")  # an image sent as a file, no caption
    await until(lambda: len(hub.ollama.chat_requests) == 2 and not hub.connector.busy)
    last = hub.ollama.chat_requests[-1].json["messages"][-1]
    assert last["content"] == "" and len(last["images"]) == 1


async def test_a_text_only_model_gets_the_text_and_the_user_a_notice(start_hub: Start) -> None:
    hub = await start_hub()
    hub.ollama.script(MODEL, tokens=["Hello"])  # /api/show: capabilities ["completion"]
    hub.telegram.push_photo(DM, PICTURE, "What is this?")
    await until(lambda: len(hub.texts(DM)) == 1 and not hub.connector.busy)
    [shown] = hub.texts(DM)
    assert shown.startswith(f"{MODEL} cannot see images, so it only got your text.")
    assert "/model NAME" in shown and shown.endswith("Hello")
    assert "images" not in hub.ollama.chat_requests[-1].json["messages"][-1]
    assert hub.telegram.downloads == []  # nothing fetched for a model that cannot use it

    hub.telegram.push_photo(DM, PICTURE)  # no text at all: nothing to send
    await until(lambda: len(hub.texts(DM)) == 2 and not hub.connector.busy)
    assert hub.texts(DM)[-1].startswith(f"⚠ {MODEL} cannot see images.")
    assert len(hub.ollama.chat_requests) == 1


async def test_an_image_over_the_limit_is_refused_with_the_limit(start_hub: Start) -> None:
    hub = await start_hub(chat=ChatConfig(max_image_bytes=4096))
    sees_images(hub)
    hub.telegram.push_document(DM, PICTURE, "image/jpeg", "Look")
    await until(lambda: len(hub.texts(DM)) == 1 and not hub.connector.busy)
    assert hub.texts(DM) == ["⚠ That image is 10 KB; images up to 4 KB can be sent to a model. "
                             "Send a smaller one."]  # fmt: skip
    assert hub.ollama.chat_requests == [] and hub.telegram.downloads == []


async def test_an_openai_kind_backend_gets_image_url_parts(start_hub: Start) -> None:
    hub = await start_hub(kind="openai")
    hub.telegram.push_photo(DM, PICTURE, "What is this?")
    await until(lambda: len(hub.ollama.chat_requests) == 1 and not hub.connector.busy)
    content = hub.ollama.chat_requests[0].json["messages"][-1]["content"]
    data = base64.b64encode(PICTURE).decode()
    assert content == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}},
    ]
