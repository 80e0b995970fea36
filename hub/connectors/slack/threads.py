"""What the Slack connector remembers between events: the messages it has taken on, and the
threads it answers in.

Slack delivers an event again when it was not acknowledged in time (`X-Slack-Retry-Num` over
HTTP; in Socket Mode every envelope carries a retry number, 0 the first time), and a mention
in a thread the bot follows arrives twice (`app_mention` and `message`). `Taken` keeps the keys
of recent messages (channel and ts, the same in every delivery), so each is answered once; on
several replicas it asks the shared `DeliveryLog` too (docs/scaling.md).

`Threads` answers "does the bot answer in this thread?" for a follow-up without a mention:
threads it answered since the process started, and after a restart those where it finds a
message of its own (`conversations.replies`, asked once per thread, only when the workspace's
tier has room at once; the answer is kept).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from slack_sdk.web.async_client import AsyncWebClient

from hub.connectors.slack.budgets import REPLIES
from hub.connectors.slack.calls import call_api
from hub.connectors.slack.events import BotIdentity
from hub.core.budget import ChatBudget
from hub.core.ports import DeliveryLog, SinkError

log = logging.getLogger(__name__)

REMEMBERED = 10_000
# Slack retries an event three times within about five minutes; an hour covers them all.
REDELIVERY_WINDOW = 3600.0
LOOK_AT = 100  # messages of a thread searched for the bot's own
V = TypeVar("V")


class Recent(Generic[V]):
    """The last `size` keys added, with a value each."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._keys: OrderedDict[str, V] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def get(self, key: str) -> V | None:
        return self._keys.get(key)

    def put(self, key: str, value: V) -> None:
        self._keys[key] = value
        self._keys.move_to_end(key)
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)


class Taken:
    """Messages already taken on, by key (`events.message_key`). With several replicas a
    repeated delivery may reach another one: `shared` (Redis) then decides which replica
    answers, and this replica's own memory spares it the question."""

    def __init__(self, size: int = REMEMBERED, shared: DeliveryLog | None = None) -> None:
        self._recent: Recent[bool] = Recent(size)
        self._shared = shared

    def __contains__(self, key: object) -> bool:
        return key in self._recent

    def take(self, key: str) -> bool:
        """True the first time `key` is seen (answer it), False after (a redelivery)."""
        if key in self._recent:
            return False
        self._recent.put(key, True)
        return True

    async def first(self, key: str, team_id: str) -> bool:
        """`take`, on every replica: True for the first delivery anywhere (answer it)."""
        if not self.take(key):
            return False
        if self._shared is None or await self._shared.first(
            f"slack:{team_id}:{key}", REDELIVERY_WINDOW
        ):
            return True
        log.info("a Slack message another replica took on", extra={"key": key})
        return False


class Threads:
    """Which threads the bot answers in (see the module docstring)."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._known: Recent[bool] = Recent(size)  # "channel:thread_ts" → the bot answers there

    def add(self, channel: str, thread_ts: str) -> None:
        self._known.put(f"{channel}:{thread_ts}", True)

    def known(self, channel: str, thread_ts: str) -> bool:
        return self._known.get(f"{channel}:{thread_ts}") is True

    async def answers_in(
        self,
        channel: str,
        thread_ts: str,
        *,
        client: AsyncWebClient,
        bot: BotIdentity,
        budget: ChatBudget,
    ) -> bool:
        """Whether the bot answers in the thread; asks Slack once for a thread it does not know."""
        key = f"{channel}:{thread_ts}"
        found = self._known.get(key)
        if found is not None:
            return found
        if not budget.take_now(REPLIES):
            return False  # not now: a mention always works
        try:
            page: Any = await call_api(
                client.conversations_replies(channel=channel, ts=thread_ts, limit=LOOK_AT)
            )
        except SinkError as exc:
            log.info("could not read a thread", extra={"channel": channel, "error": str(exc)})
            return False
        messages = page.get("messages") or []
        ours = any(m.get("user") == bot.user_id or m.get("bot_id") == bot.bot_id for m in messages)
        self._known.put(key, ours)
        return ours
