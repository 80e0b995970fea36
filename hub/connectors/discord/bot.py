"""DiscordConnector: discord.py events in, answers through the shared `ChatDispatch`.

Messages (`events.to_trigger` decides who is answered) are rendered into a `DiscordSink` in the
channel, DM or thread; a reply to one of the bot's messages carries its reply chain as the
history (`IncomingMessage.chain`); in `thread_channels` a new conversation opens a thread of its
own. Slash commands (`commands.py`) are deferred at once, then answered through an
`InteractionSink`; autocomplete comes from the registry's sources (`Completions`). The Stop
button's custom id is the dispatch's stop token. Lifecycle: `client.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from hub.connectors.discord.access import DiscordAccess
from hub.connectors.discord.chain import reply_chain
from hub.connectors.discord.client import Pointed, build_client, run_until_ready
from hub.connectors.discord.commands import command_payloads, completion_source, hub_text
from hub.connectors.discord.events import Trigger, from_interaction, platform_user, to_trigger
from hub.connectors.discord.limits import LimitTrace
from hub.connectors.discord.settings import DiscordSettings
from hub.connectors.discord.sink import (
    DiscordSink,
    InteractionSink,
    channel_budget,
    interaction_budget,
)
from hub.connectors.discord.stop import StopControl
from hub.core.access import REFUSAL
from hub.core.budget import BudgetPools, Clock
from hub.core.completion import Completions
from hub.core.coordination.duty import Duty, StartableLease
from hub.core.dispatch import STOPPING, ChatDispatch, ChatLike
from hub.core.menus import DEBOUNCE, POLL, Entries, MenuWatcher
from hub.core.ports import StopRegistry, UserStore
from hub.settings import SettingsError

if TYPE_CHECKING:
    from hub.runtime import Services

log = logging.getLogger(__name__)

PromptEntries = Callable[[], Awaitable[Entries]]
SEEN = 2048  # message ids remembered, so an event Discord sends twice is answered once
THREAD_NAME = 90


class DiscordConnector:
    """Receives Discord events, answers through `ChatDispatch` and `render()`."""

    name = "discord"

    def __init__(
        self,
        chat: ChatLike,
        settings: DiscordSettings,
        *,
        prompts: PromptEntries | None = None,
        completions: Completions | None = None,
        users: UserStore | None = None,
        clock: Clock | None = None,
        grace: float = 10.0,
        prompt_hooks: list[Callable[[], Awaitable[None]]] | None = None,
        menu_debounce: float = DEBOUNCE,
        menu_poll: float = POLL,
        client_options: dict[str, Any] | None = None,
        stops: StopRegistry | None = None,
        gateway_lease: StartableLease | None = None,
    ) -> None:
        if settings.token is None:
            raise SettingsError("HUB_DISCORD__TOKEN: required to run the Discord connector")
        self.settings = settings
        self.pools = BudgetPools(clock)
        self.trace = LimitTrace(self.pools)
        self.dispatch = ChatDispatch(
            chat,
            access=DiscordAccess(settings, users),
            clock=self.pools.clock,
            grace=grace,
            stops=stops,
        )
        # With several replicas one holds the gateway for these shards at a time (each
        # connection would get every event, and each replica would answer it).
        self._duty = (
            None
            if gateway_lease is None
            else Duty(gateway_lease, self._connect, self._disconnect, "the Discord gateway")
        )
        self.prompts = prompts or _no_prompts
        self.completions = completions
        self.users = users
        self.client: discord.Client | None = None
        self.menu = MenuWatcher(
            self.prompts, self._publish, hooks=prompt_hooks, debounce=menu_debounce, poll=menu_poll
        )
        self._client_options = dict(client_options or {})
        self._runner: asyncio.Task[None] | None = None
        self._urls: Pointed | None = None
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._commands: list[dict[str, Any]] | None = None
        self._closing = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, connect the gateway (returns once ready), register the slash commands; with
        several replicas, only while this one holds the gateway (else it stands by)."""
        if self._duty is None:
            await self._connect()
        else:
            await self._duty.start()

    def replica_status(self) -> str:
        """With several replicas: whether this one holds the gateway (for /ready)."""
        return "" if self._duty is None else self._duty.status()

    async def _connect(self) -> None:
        assert self.settings.token is not None
        self._closing = False
        self._urls = Pointed(self.settings)
        client = build_client(self.settings, self.trace.config, **self._client_options)
        for handler in (self.on_message, self.on_interaction, self.on_guild_join):
            client.event(handler)
        self.client = client
        try:
            self._runner = await run_until_ready(client, self.settings.token.get_secret_value())
            self._runner.add_done_callback(_stopped)
            await self.menu.start()
        except BaseException:
            await self._disconnect()  # the session, the URLs: nothing outlives a failed start
            raise
        user = client.user
        log.info(
            "discord connector started",
            extra={"bot": str(user), "guilds": len(client.guilds), "shards": client.shard_count},
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop receiving, drain the replies in flight (`ChatDispatch.drain`), disconnect."""
        if self._duty is not None:
            await self._duty.stop()  # hands the gateway to another replica at once
        await self._disconnect(grace)

    async def _disconnect(self, grace: float | None = None) -> None:
        client, self.client = self.client, None
        self._closing = True
        if client is not None:
            await self.menu.stop()
            await self.dispatch.drain(grace)
            await client.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(runner, 10)
        if self._urls is not None:
            self._urls.restore()
            self._urls = None

    @property
    def busy(self) -> bool:
        return self.dispatch.busy

    # --- slash commands -------------------------------------------------------------------------

    def _guilds(self) -> list[discord.Guild]:
        if self.client is None:
            return []
        wanted = set(self.settings.command_guilds)
        return [g for g in self.client.guilds if not wanted or str(g.id) in wanted]

    async def _publish(self, entries: Entries) -> None:
        """Overwrite every guild's commands with the built-ins and `entries` (prompts)."""
        self._commands = command_payloads(entries)
        failed = 0
        for guild in self._guilds():
            failed += not await self._register(guild)
        if failed:
            raise RuntimeError(f"slash commands not registered in {failed} guild(s)")

    async def _register(self, guild: discord.Guild) -> bool:
        client = self.client
        if client is None or client.application_id is None or self._commands is None:
            return False
        try:
            await client.http.bulk_upsert_guild_commands(
                client.application_id, guild.id, self._commands
            )
        except discord.HTTPException as exc:
            log.warning(
                "could not register slash commands",
                extra={"guild_id": guild.id, "status": exc.status, "error": exc.text},
            )
            return False
        return True

    async def on_guild_join(self, guild: discord.Guild) -> None:
        if not self.settings.command_guilds or str(guild.id) in self.settings.command_guilds:
            await self._register(guild)

    async def refresh_commands(self) -> None:
        await self.menu.refresh()

    # --- messages -------------------------------------------------------------------------------

    def _first_time(self, message_id: int) -> bool:
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        return True

    async def on_message(self, message: discord.Message) -> None:
        client = self.client
        if self._closing or client is None or client.user is None:
            return
        if not self._first_time(message.id):
            log.info("message delivered again; answered once", extra={"message_id": message.id})
            return
        bot_id = client.user.id
        trigger = to_trigger(message, bot_id)
        if trigger is None:
            return
        incoming = trigger.incoming
        if trigger.continues_chain and self.dispatch.access.permits(incoming):
            chain = await reply_chain(message, bot_id, self.settings.chain_limit)
            incoming = replace(incoming, chain=chain)
        channel: discord.abc.Messageable = message.channel
        reply_to: discord.Message | None = message if trigger.reply_to is not None else None
        thread = await self._new_thread(message, trigger)
        if thread is not None:
            channel, reply_to = thread, None
            incoming = replace(incoming, thread_id=str(thread.id), chat_name=thread.name)
        where = getattr(channel, "id", message.channel.id)

        def sink(stop_token: str | None) -> DiscordSink:
            return DiscordSink(
                channel,
                budget=channel_budget(self.pools, where),
                reply_to=reply_to,
                stop=self._stop_control(stop_token),
            )

        await self.dispatch.answer(incoming, sink)

    async def _new_thread(
        self, message: discord.Message, trigger: Trigger
    ) -> discord.Thread | None:
        """A thread for a new conversation in one of `thread_channels`, else None."""
        channel = message.channel
        if (
            str(channel.id) not in self.settings.thread_channels
            or isinstance(channel, discord.Thread)
            or trigger.continues_chain
            or not self.dispatch.access.permits(trigger.incoming)  # no threads for the refused
        ):
            return None
        name = " ".join(trigger.incoming.text.split())[:THREAD_NAME] or "Conversation"
        try:
            return await message.create_thread(name=name)
        except discord.HTTPException as exc:
            log.warning(
                "could not open a thread; answering in the channel",
                extra={"channel_id": channel.id, "status": exc.status},
            )
            return None

    # --- interactions ---------------------------------------------------------------------------

    def _stop_control(self, token: str | None) -> StopControl | None:
        return None if token is None else StopControl(token, self._stop_pressed)

    async def _stop_pressed(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()  # acknowledged at once, whatever stopping takes
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        text = await self.dispatch.stop(custom_id, platform_user(interaction.user))
        if text and text != STOPPING:
            with contextlib.suppress(discord.HTTPException):
                await interaction.followup.send(text, ephemeral=True)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if self._closing:
            return
        if interaction.type is discord.InteractionType.application_command:
            await self._command(interaction)
        elif interaction.type is discord.InteractionType.autocomplete:
            await self._autocomplete(interaction)

    async def _command(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        name = str(data.get("name", ""))
        options = _options(data)
        incoming = from_interaction(interaction, hub_text(name, options))
        if not self.dispatch.access.permits(incoming):
            # Only the person sees it, so a refusal here is never noise in a channel; without
            # an answer Discord would show "The application did not respond".
            refusal = self.settings.refusal.strip() or REFUSAL
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(refusal, ephemeral=True)
            return
        # Deferred first, so Discord's 3 s never run out while the hub works.
        await interaction.response.defer(thinking=True)
        budget = interaction_budget(self.pools, interaction.id)
        self.trace.watch(interaction.token, budget)

        def sink(stop_token: str | None) -> InteractionSink:
            return InteractionSink(interaction, budget=budget, stop=self._stop_control(stop_token))

        try:
            await self.dispatch.answer(incoming, sink)
        finally:
            self.trace.forget(interaction.token)

    async def _autocomplete(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        focused = next((o for o in _flat(data) if o.get("focused")), None)
        source = None
        if focused is not None:
            source = completion_source(str(data.get("name", "")), str(focused.get("name", "")))
        values: list[str] = []
        incoming = from_interaction(interaction, "")
        if (
            source is not None
            and self.completions is not None
            and self.users is not None
            and self.dispatch.access.permits(incoming)
        ):
            user = await self.users.for_identity(incoming.user)
            prefix = str(focused.get("value", "")) if focused else ""
            values = await self.completions.complete(source, user, prefix)
        choices = [discord.app_commands.Choice(name=v[:100], value=v) for v in values]
        with contextlib.suppress(discord.HTTPException):
            await interaction.response.autocomplete(choices)


def _flat(data: Any) -> list[dict[str, Any]]:
    return [o for o in data.get("options") or [] if isinstance(o, dict)]


def _options(data: Any) -> dict[str, str]:
    return {str(o["name"]): str(o.get("value", "")) for o in _flat(data) if "name" in o}


def _stopped(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("the discord client stopped", extra={"error": str(exc)})


async def _no_prompts() -> Entries:
    return []


def global_prompts(services: Services) -> PromptEntries:
    """The global prompt commands of the hub's prompt store, as (name, title) pairs."""
    store = services.stores.prompts

    async def entries() -> Sequence[tuple[str, str]]:
        prompts = await store.visible("")  # no user: only the global prompts are visible
        return [(p.command, p.title or p.content) for p in prompts if p.scope == "global"]

    return entries


__all__ = ["DiscordConnector", "global_prompts"]
