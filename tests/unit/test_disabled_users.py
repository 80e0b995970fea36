"""A disabled user's bot messages (commands included) are refused before anything runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.core.backends import build_backend
from hub.core.chat import DISABLED
from hub.core.chat_config import ChatConfig
from hub.core.router import Router
from hub.core.routing_config import BackendConfig, RoutingConfig
from tests.fakes.ollama import FakeOllama
from tests.unit.pipeline_kit import collect, done, failed, message, pipeline

MODEL = "gemma3:270m"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama([MODEL]) as server:
        yield server


async def test_disabled_user_is_refused_until_enabled(tmp_path: Path, fake: FakeOllama) -> None:
    backend = BackendConfig(name="ollama", url=fake.url)
    router = Router(
        RoutingConfig(backends=[backend]),
        [build_backend(backend, ChatConfig())],
        default_model=MODEL,
    )
    await router.start()
    try:
        async with pipeline(tmp_path, router) as kit:
            user_id = await kit.user_id()
            assert await kit.stores.users.set_disabled(user_id, True)
            for text in ("hello", "/help", "/new"):
                refused = failed(await collect(kit.service, message(text)))
                assert (refused.reason, refused.code) == (DISABLED, "forbidden")
            assert fake.chat_requests == []
            await kit.stores.users.set_disabled(user_id, False)
            done(await collect(kit.service, message("hello")))
    finally:
        await router.aclose()
    assert len(fake.chat_requests) == 1
