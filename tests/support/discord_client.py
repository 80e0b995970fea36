"""Running a real discord.py client against the fake Discord in a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import discord

from tests.fakes.discord import FakeDiscord

C = TypeVar("C", bound=discord.Client)


class QuickIdentify:
    """Skips discord.py's 5 s pause before a non-initial IDENTIFY (one bot, one fake)."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


class QuickClient(QuickIdentify, discord.Client):
    pass


class QuickShardedClient(QuickIdentify, discord.AutoShardedClient):
    pass


def intents() -> discord.Intents:
    """What the hub's connector asks for: the defaults plus the Message Content intent."""
    value = discord.Intents.default()
    value.message_content = True
    return value


def make_client(**options: Any) -> QuickClient:
    return QuickClient(intents=options.pop("intents", intents()), guild_ready_timeout=0.2,
                      **options)  # fmt: skip


@contextlib.asynccontextmanager
async def running(client: C, fake: FakeDiscord | str, within: float = 20.0) -> AsyncIterator[C]:
    """`client` logged in to `fake` (or with that token) and ready (READY, every GUILD_CREATE)."""
    token = fake if isinstance(fake, str) else fake.token
    task = asyncio.create_task(client.start(token))
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait({task, ready}, timeout=within,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if task in done:
            task.result()  # raises the start-up error
        if ready not in done:
            raise AssertionError("discord.py did not become ready")
        yield client
    finally:
        ready.cancel()
        await client.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


class Inbox:
    """The messages people send, as discord.py delivers them to `on_message`."""

    def __init__(self, client: discord.Client) -> None:
        self.queue: asyncio.Queue[discord.Message] = asyncio.Queue()
        client.event(self.on_message)

    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:
            self.queue.put_nowait(message)

    async def next(self, within: float = 10.0) -> discord.Message:
        return await asyncio.wait_for(self.queue.get(), within)
