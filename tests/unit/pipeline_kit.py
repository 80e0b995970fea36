"""Helpers for pipeline tests: messages, event collection and a service on a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.core.chat import ChatService
from hub.core.chat_config import ChatConfig
from hub.core.limits.none import NoLimits
from hub.core.models import (
    Done,
    Failed,
    IncomingMessage,
    Notice,
    PlatformUser,
    ReplyEvent,
    Text,
    Turn,
)
from hub.core.ports import LimitGate, ModelRouter
from hub.core.prompts import PromptService
from hub.core.stores.sqlite import SqliteStores, open_sqlite


def message(text: str, *, chat: str = "c1", user: str = "u1", **extra: Any) -> IncomingMessage:
    return IncomingMessage(
        platform="test",
        chat_id=chat,
        user=PlatformUser("test", user, user.upper()),
        text=text,
        **extra,
    )


async def collect(service: ChatService, msg: IncomingMessage) -> list[ReplyEvent]:
    return [event async for event in service.reply(msg)]


def text_of(events: list[ReplyEvent]) -> str:
    return "".join(e.delta for e in events if isinstance(e, Text))


def notices(events: list[ReplyEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, Notice)]


def last(events: list[ReplyEvent]) -> ReplyEvent:
    assert events, "no events"
    return events[-1]


def done(events: list[ReplyEvent]) -> Done:
    end = last(events)
    assert isinstance(end, Done), end
    return end


def failed(events: list[ReplyEvent]) -> Failed:
    end = last(events)
    assert isinstance(end, Failed), end
    return end


@dataclass
class Kit:
    service: ChatService
    stores: SqliteStores
    prompts: PromptService | None = None

    async def user_id(self, msg: IncomingMessage | None = None) -> str:
        """The hub user id behind `msg` (default: the kit's default sender)."""
        user = await self.stores.users.for_identity((msg or message("")).user)
        return user.id

    async def turns(self, msg: IncomingMessage) -> list[Turn]:
        """Every turn of the active conversation of `msg`'s key."""
        user = await self.stores.users.for_identity(msg.user)
        conversation = await self.stores.conversations.active(msg.key, user.id)
        return await self.stores.conversations.recent(conversation.id, 1000)


@asynccontextmanager
async def pipeline(
    data_dir: Path,
    router: ModelRouter,
    *,
    limits: LimitGate | None = None,
    with_prompts: bool = False,
    **config: Any,
) -> AsyncIterator[Kit]:
    stores = await open_sqlite(data_dir)
    try:
        prompts = PromptService(stores.prompts) if with_prompts else None
        service = ChatService(stores, router, limits or NoLimits(), prompts, ChatConfig(**config))
        yield Kit(service, stores, prompts)
    finally:
        await stores.aclose()
