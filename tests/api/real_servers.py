"""A running hub in front of one fake OpenAI-compatible server (tests/fakes/openai_server.py),
for the tests of issue 13: servers as they really behave."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

from hub.core.models import (
    Done,
    Failed,
    IncomingMessage,
    Notice,
    PlatformUser,
    ReplyEvent,
    Text,
    User,
)
from hub.core.routing_config import BackendConfig, RoutingConfig
from tests.api.conftest import Hub, hub_settings, running_hub
from tests.fakes.openai_server import FakeOpenAIServer

MODEL = "gemma-3-270m"
BACKEND = "tiny"


@asynccontextmanager
async def hub_for(
    tmp: Path,
    fake: FakeOpenAIServer,
    *,
    backend: dict[str, Any] | None = None,
    routing: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[Hub]:
    """A hub whose only backend is `fake`, one request at a time (as such a server needs)."""
    config = BackendConfig(
        name=BACKEND,
        kind="openai",
        url=fake.v1_url,
        **({"max_concurrency": 1} | (backend or {})),
    )
    routing_config = RoutingConfig(backends=[config], **(routing or {}))
    values = {"routing": routing_config, "default_model": MODEL} | settings
    async with running_hub(hub_settings(tmp, fake, **values), fake) as hub:  # type: ignore[arg-type]
        yield hub


async def person(hub: Hub, name: str) -> tuple[str, User]:
    """A signed-up user (not the first, who is admin and unlimited): token and hub user."""
    if await hub.app.state.services.stores.users.count() == 0:
        await hub.signup("Admin")
    token, body = await hub.signup(name)
    user = await hub.app.state.services.stores.users.get(body["id"])
    assert user is not None
    return token, user


def bot_message(text: str, chat: str = "c1", who: str = "7") -> IncomingMessage:
    return IncomingMessage(
        platform="telegram", chat_id=chat, user=PlatformUser("telegram", who, "Ann"), text=text
    )


async def bot_turn(hub: Hub, msg: IncomingMessage) -> tuple[list[ReplyEvent], str]:
    """One bot message through the hub's ChatService: every event, and the reply's text."""
    events: list[ReplyEvent] = []
    async with aclosing(hub.app.state.services.chat.reply(msg)) as replies:
        async for event in replies:
            events.append(event)
    text = "".join(e.delta for e in events if isinstance(e, Text))
    return events, text


def ended(events: list[ReplyEvent]) -> Done | Failed:
    last = events[-1]
    assert isinstance(last, (Done, Failed)), events
    return last


def notices(events: list[ReplyEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, Notice)]


def words(n: int) -> str:
    """`n` distinct words, 5-6 characters each: about 1.5 tokens a word for the fake."""
    return " ".join(f"w{uuid.uuid4().hex[:4]}" for _ in range(n))
