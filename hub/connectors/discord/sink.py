"""Discord `MessageSink`s: a reply in a channel, DM or thread, and a reply to a slash command.

Every message goes out with `allowed_mentions` none (no `@everyone`, role, user or reply ping,
whatever the model writes) and Discord Markdown (`hub/core/markup/discord.py`). While a reply
streams its messages carry a Stop button (`stop.py`); `finish` removes it. Identical edits are
skipped (Discord would accept them and spend a unit of the bucket).

Pacing: the hub's budget paces, discord.py is the safety net. Every write takes a unit of the
channel's budget, Discord's 5 per 5 s as one a second, and of a bot-wide pool of 45 a second
under Discord's global 50, so text is coalesced between writes and Discord's buckets are never
outrun. `limits.LimitTrace` reads Discord's `X-RateLimit-*` answers and 429 scopes into those
budgets (learned limits, scoped pauses), and says how that and discord.py's own waiting share
the same moments instead of adding up. Waits longer than the client's `max_ratelimit_timeout`
(the connector sets 30 s, discord.py's minimum) surface as `discord.RateLimited`, which becomes
`SinkRateLimited` so the renderer pauses the chat; so does a 429 discord.py gave up on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import discord

from hub.connectors.discord.stop import StopControl, StopView
from hub.core.budget import BudgetPools, ChatBudget, Limit
from hub.core.markup import discord as markup
from hub.core.ports import Rate, SinkError, SinkMessageGone, SinkRateLimited, SinkText

log = logging.getLogger(__name__)
T = TypeVar("T")

PER_CHANNEL = Rate(limit=5, period=5.0)  # one write a second per channel
PER_BOT = Rate(limit=45, period=1.0)  # under the global 50 requests a second
PER_INTERACTION = Rate(limit=5, period=5.0)  # interaction webhooks: outside the global limit
NO_PINGS = discord.AllowedMentions.none()
UNKNOWN_MESSAGE = 10008


def channel_budget(pools: BudgetPools, channel_id: int) -> ChatBudget:
    """Discord's limits for one channel (a thread is a channel of its own): its own, the bot's."""
    return pools.budget((f"dc:channel:{channel_id}", PER_CHANNEL), Limit("dc:bot", PER_BOT, "bot"))


def bot_budget(pools: BudgetPools) -> ChatBudget:
    """The bot-wide pool alone (a global 429 pauses it for every channel)."""
    limit = Limit("dc:bot", PER_BOT, "bot")
    return ChatBudget([(limit, pools.bucket(limit.key, limit.rate))], pools.clock)


def interaction_budget(pools: BudgetPools, interaction_id: int) -> ChatBudget:
    return pools.budget((f"dc:interaction:{interaction_id}", PER_INTERACTION))


def _retry_after(exc: discord.HTTPException) -> float:
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return max(float(header), 0.0) if header else 1.0
    except ValueError:
        return 1.0


async def call_api(call: Awaitable[T]) -> T:
    """Await a discord.py call, translating its errors into the sink port's."""
    try:
        return await call
    except discord.RateLimited as exc:
        raise SinkRateLimited(exc.retry_after, "Discord asked to wait") from exc
    except discord.NotFound as exc:
        if exc.code == UNKNOWN_MESSAGE:
            raise SinkMessageGone(f"Discord {exc.code}: {exc.text}") from exc
        raise SinkError(f"Discord 404 {exc.code}: {exc.text}") from exc
    except discord.HTTPException as exc:
        if exc.status == 429:
            raise SinkRateLimited(_retry_after(exc), "Discord kept answering 429") from exc
        raise SinkError(f"Discord {exc.status} {exc.code}: {exc.text}") from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise SinkError(f"Discord unreachable: {exc}") from exc


@dataclass
class DiscordHandle:
    """A message of one reply, with what it shows and its Stop button."""

    message: discord.Message
    shown: SinkText | None = None
    view: StopView | None = None

    def drop_view(self) -> None:
        if self.view is not None:
            self.view.stop()
            self.view = None


class _Formatting:
    max_len = markup.MAX_LEN

    def format(self, markdown: str, *, partial: bool = False) -> str:
        return markup.to_discord(markdown, partial=partial)

    def plain(self, markdown: str) -> str:
        return markup.to_plain(markdown)

    def measure(self, markdown: str) -> int:
        return markup.measure(markdown)


class DiscordSink(_Formatting):
    """One reply in a channel, DM or thread; continuation parts reply to the part before."""

    typing_interval = 8.0  # Discord shows "typing…" for about 10 s
    keepalive = 0.0

    def __init__(
        self,
        channel: discord.abc.Messageable,
        *,
        budget: ChatBudget,
        reply_to: discord.Message | discord.MessageReference | None = None,
        stop: StopControl | None = None,
    ) -> None:
        self.channel, self.budget, self.reply_to, self.stop = channel, budget, reply_to, stop

    def _reference(self, reply_to: Any) -> discord.MessageReference | None:
        if isinstance(reply_to, DiscordHandle):
            return reply_to.message.to_reference(fail_if_not_exists=False)
        if isinstance(self.reply_to, discord.Message):
            return self.reply_to.to_reference(fail_if_not_exists=False)
        return self.reply_to

    async def send(self, text: SinkText, *, reply_to: Any = None, final: bool = False) -> Any:
        view = None if final or self.stop is None else self.stop.view()
        options: dict[str, Any] = {"allowed_mentions": NO_PINGS}
        reference = self._reference(reply_to)
        if reference is not None:
            options["reference"] = reference
        if view is not None:
            options["view"] = view
        message = await call_api(self.channel.send(text.text, **options))
        return DiscordHandle(message, text, view)

    async def edit(self, handle: Any, text: SinkText) -> None:
        assert isinstance(handle, DiscordHandle)
        if handle.shown == text:
            return
        handle.message = await call_api(
            handle.message.edit(content=text.text, allowed_mentions=NO_PINGS)
        )
        handle.shown = text

    async def finish(self, handle: Any, text: SinkText) -> Any:
        assert isinstance(handle, DiscordHandle)
        if handle.shown == text and handle.view is None:
            return handle
        handle.message = await call_api(
            handle.message.edit(content=text.text, allowed_mentions=NO_PINGS, view=None)
        )
        handle.shown = text
        handle.drop_view()
        return handle

    async def delete(self, handle: Any) -> None:
        assert isinstance(handle, DiscordHandle)
        handle.drop_view()
        with contextlib.suppress(SinkMessageGone):  # already gone: what delete wanted
            await call_api(handle.message.delete())

    async def typing(self) -> None:
        await call_api(self._typing())

    async def _typing(self) -> None:
        await self.channel.typing()


@dataclass
class InteractionHandle:
    """The original response (`message` None until known) or one follow-up message."""

    original: bool
    message: discord.Message | None
    shown: SinkText | None = None
    view: StopView | None = None

    def drop_view(self) -> None:
        if self.view is not None:
            self.view.stop()
            self.view = None


class InteractionSink(_Formatting):
    """A reply to an application command the connector already deferred (`thinking=True`).

    The first message is the deferred original response ("Bot is thinking…" until then);
    further parts are follow-ups. Discord shows the thinking state, so there is no typing.
    """

    typing_interval = 0.0
    keepalive = 0.0

    def __init__(
        self,
        interaction: discord.Interaction,
        *,
        budget: ChatBudget,
        stop: StopControl | None = None,
    ) -> None:
        self.interaction, self.budget, self.stop = interaction, budget, stop
        self._original_used = False

    async def send(self, text: SinkText, *, reply_to: Any = None, final: bool = False) -> Any:
        view = None if final or self.stop is None else self.stop.view()
        if not self._original_used:
            try:
                message = await call_api(self._edit_original(text, view))
            except SinkMessageGone:
                log.info("no deferred response to fill; sending a follow-up")
            else:
                self._original_used = True
                return InteractionHandle(True, message, text, view)
            self._original_used = True
        message = await call_api(self._followup(text, view))
        return InteractionHandle(False, message, text, view)

    async def _edit_original(self, text: SinkText, view: StopView | None) -> discord.Message:
        return await self.interaction.edit_original_response(
            content=text.text, allowed_mentions=NO_PINGS, view=view
        )

    async def _followup(self, text: SinkText, view: StopView | None) -> discord.Message:
        options: dict[str, Any] = {"allowed_mentions": NO_PINGS, "wait": True}
        if view is not None:
            options["view"] = view
        message: discord.Message = await self.interaction.followup.send(text.text, **options)
        return message

    async def _write(self, handle: InteractionHandle, text: SinkText, **extra: Any) -> None:
        if handle.original:
            handle.message = await call_api(
                self.interaction.edit_original_response(
                    content=text.text, allowed_mentions=NO_PINGS, **extra
                )
            )
        else:
            assert handle.message is not None
            handle.message = await call_api(
                handle.message.edit(content=text.text, allowed_mentions=NO_PINGS, **extra)
            )
        handle.shown = text

    async def edit(self, handle: Any, text: SinkText) -> None:
        assert isinstance(handle, InteractionHandle)
        if handle.shown != text:
            await self._write(handle, text)

    async def finish(self, handle: Any, text: SinkText) -> Any:
        assert isinstance(handle, InteractionHandle)
        if handle.shown != text or handle.view is not None:
            await self._write(handle, text, view=None)
            handle.drop_view()
        return handle

    async def delete(self, handle: Any) -> None:
        assert isinstance(handle, InteractionHandle)
        handle.drop_view()
        with contextlib.suppress(SinkMessageGone):
            if handle.original:
                await call_api(self.interaction.delete_original_response())
            elif handle.message is not None:
                await call_api(handle.message.delete())

    async def typing(self) -> None:
        return None
