"""The Discord sinks against the fake Discord, through the real discord.py client.

Two variants: `DiscordSink` in guild channels (messages and edits, Stop button; 429 scopes
`user` and `global`), and `InteractionSink`, a deferred slash command answered through the
interaction webhook (edits of the original response, follow-ups; exempt from the global
limit). Discord has no "not modified" answer and never refuses Markdown, so neither is scripted.
"""

from __future__ import annotations

import contextlib
from typing import Any

import discord

from hub.connectors.discord.limits import LimitTrace
from hub.connectors.discord.sink import (
    DiscordSink,
    InteractionSink,
    channel_budget,
    interaction_budget,
)
from hub.connectors.discord.stop import StopControl
from hub.core.budget import BudgetPools
from hub.core.markup import discord as markup
from hub.core.ports import MessageSink, Scope, SinkText, WriteKind
from tests.contract.sink_harness import Failure, Shown, Write
from tests.fakes.discord import FakeDiscord, pointed_at
from tests.fakes.discord_world import Channel
from tests.support.discord_client import make_client, running

CHANNELS = 48
_SCOPES = {"chat": "user", "channel": "shared", "bot": "global"}


async def _nothing(interaction: discord.Interaction) -> None:
    return None


class DeferredInteractionSink(InteractionSink):
    """As the connector uses it: the interaction deferred first (here on the first write)."""

    async def send(self, text: SinkText, *, reply_to: Any = None, final: bool = False) -> Any:
        if not self.interaction.response.is_done():
            await self.interaction.response.defer(thinking=True)
        return await super().send(text, reply_to=reply_to, final=final)


class DiscordHarness:
    max_len = markup.MAX_LEN
    stop_control = True
    failures: frozenset[Failure] = frozenset({"rate_limited"})

    def __init__(self, *, interactions: bool) -> None:
        self.interactions = interactions
        self.name = "discord-interaction" if interactions else "discord-channel"
        # Interaction webhooks are outside Discord's global limit: only their own bucket.
        self.scopes: tuple[Scope, ...] = ("chat",) if interactions else ("chat", "bot")
        self.fake = FakeDiscord()
        self.pools = BudgetPools()
        self.trace = LimitTrace(self.pools)
        self.client = make_client(http_trace=self.trace.config, max_ratelimit_timeout=30)
        self._stack = contextlib.AsyncExitStack()
        self._channels: list[Channel] = []

    async def start(self) -> None:
        guild = self.fake.add_guild("Contract", tuple(f"c{i}" for i in range(CHANNELS)))
        self.user = self.fake.add_user("Ada", guild=guild)
        self._channels = [self.fake.channel(guild, f"c{i}") for i in range(CHANNELS)]
        await self.fake.start()
        self._stack.enter_context(pointed_at(self.fake))
        await self._stack.enter_async_context(running(self.client, self.fake))

    async def close(self) -> None:
        await self._stack.aclose()
        await self.fake.stop()

    def chat(self, n: int) -> str:
        return str(self._channels[n % (CHANNELS - 1)].id)

    def sibling(self, chat: str, scope: Scope) -> tuple[str, str] | None:
        if self.interactions:
            return None  # each interaction's webhook is a bucket of its own
        # Two replies in one channel share its bucket; every channel shares the global one.
        return (chat, "") if scope != "bot" else (str(self._channels[-1].id), "")

    def sink(self, chat: str, *, thread: str = "", stop_token: str | None = None) -> MessageSink:
        stop = StopControl(stop_token, _nothing) if stop_token else None
        if not self.interactions:
            channel = self.client.get_channel(int(chat))
            assert isinstance(channel, discord.TextChannel)
            return DiscordSink(channel, budget=channel_budget(self.pools, channel.id), stop=stop)
        interaction = self._interaction(int(chat))
        budget = interaction_budget(self.pools, interaction.id)
        self.trace.watch(interaction.token, budget)
        return DeferredInteractionSink(interaction, budget=budget, stop=stop)

    def _interaction(self, channel_id: int) -> discord.Interaction:
        """A slash command in `channel_id`, as discord.py builds it from INTERACTION_CREATE."""
        world = self.fake.world
        data = {"id": str(world.ids.next()), "name": "ask", "type": 1, "options": []}
        now = self.client.loop.time()
        found = world.new_interaction(2, world.channels[channel_id], self.user, data, now, None)
        state = self.client._connection
        return discord.Interaction(data=world.interaction(found), state=state)  # type: ignore[arg-type]

    def fail_next(
        self, kind: WriteKind, failure: Failure, *, retry_after: float = 0.0, scope: Scope = "chat"
    ) -> None:
        assert failure == "rate_limited"
        route = (
            "webhook"
            if self.interactions
            else {"send": "messages.create"}.get(kind, "messages.edit")
        )
        self.fake.rate_limit_next(route, retry_after, scope=_SCOPES[scope])

    def expected(self, markdown: str) -> list[str]:
        return markup.split(markdown)

    def plain(self, markdown: str) -> str:
        return markup.to_plain(markdown)

    def shown(self, chat: str) -> list[Shown]:
        return [
            Shown(m.content, True, bool(m.components)) for m in self.fake.messages_in(int(chat))
        ]

    def _tokens(self, chat: str) -> set[str]:
        world = self.fake.world
        return {i.token for i in world.interactions.values() if i.channel_id == int(chat)}

    def writes(self, chat: str) -> list[Write]:
        if self.interactions:
            tokens = self._tokens(chat)
            kinds: dict[str, WriteKind] = {"POST": "send", "PATCH": "edit"}
            return [
                Write(c.t, kinds[c.method], c.status)
                for c in self.fake.calls
                if c.kind == "webhook" and c.major in tokens and c.method in kinds
            ]
        names: dict[str, WriteKind] = {"messages.create": "send", "messages.edit": "edit"}
        return [
            Write(c.t, names[c.kind], c.status)
            for c in self.fake.calls
            if c.kind in names and c.major == chat
        ]

    def length(self, text: str) -> int:
        return markup.measure(text)

    def flood_violations(self) -> int:
        return self.fake.enforced_429
