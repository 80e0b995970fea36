"""What the sink contract suite needs of each platform: its sink, pointed at the platform's fake.

A harness starts the platform's fake server, builds sinks on it the way the connector does
(one `BudgetPools` shared by every sink, as a connector keeps one), scripts the fake's failures,
and reads back what a user of that platform now sees. `tests/contract/test_sinks.py` runs every
test against every harness in `HARNESSES`; a new platform joins with one line there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from hub.core.ports import MessageSink, Scope, WriteKind

Failure = Literal["rate_limited", "markup", "not_modified"]


@dataclass(frozen=True, slots=True)
class Shown:
    """One message as the platform's user sees it now."""

    text: str
    markup: bool  # shown formatted (False: the plain-text fallback)
    stop: bool  # carries a Stop control


@dataclass(frozen=True, slots=True)
class Write:
    """One write request the fake answered: when (loop time), of what kind, with what status."""

    t: float
    kind: WriteKind
    status: int


class SinkHarness(Protocol):
    name: str
    max_len: int
    stop_control: bool  # in-progress messages carry a Stop control in this variant
    scopes: tuple[Scope, ...]  # scopes the platform's rate limits can carry
    failures: frozenset[Failure]  # failures this variant can script

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def sink(self, chat: str, *, thread: str = "", stop_token: str | None = None) -> MessageSink:
        """A sink for one reply in `chat` (and `thread`); a Stop control if given a token."""
        ...

    def chat(self, n: int) -> str:
        """A chat id of this variant (a DM, a group…), the n-th one."""
        ...

    def sibling(self, chat: str, scope: Scope) -> tuple[str, str] | None:
        """(chat, thread) of another conversation sharing `scope` with `chat`; None when no
        other conversation can share it (a Discord interaction's own webhook bucket)."""
        ...

    def fail_next(self, kind: WriteKind, failure: Failure, *, retry_after: float = 0.0,
                  scope: Scope = "chat") -> None:  # fmt: skip
        """The next write of `kind` fails so."""
        ...

    def expected(self, markdown: str) -> list[str]:
        """What the user should see, message by message, once `markdown` is delivered."""
        ...

    def plain(self, markdown: str) -> str:
        """The plain-text fallback of `markdown` as the user sees it."""
        ...

    def shown(self, chat: str) -> list[Shown]: ...

    def writes(self, chat: str) -> list[Write]: ...

    def length(self, text: str) -> int:
        """The length the platform counts for a shown message."""
        ...

    def flood_violations(self) -> int:
        """Rate-limit answers the fake gave on its own (not scripted ones)."""
        ...


HarnessFactory = Callable[[], SinkHarness]


def harnesses() -> dict[str, HarnessFactory]:
    """Every platform's harness, by name (imported here so each stays in its own module)."""
    from tests.contract.sink_discord import DiscordHarness
    from tests.contract.sink_slack import SlackHarness
    from tests.contract.sink_telegram import TelegramHarness

    return {
        "telegram-group": lambda: TelegramHarness(drafts=False),
        "telegram-dm-drafts": lambda: TelegramHarness(drafts=True),
        "slack-thread-edits": lambda: SlackHarness(streams=False),
        "slack-thread-streams": lambda: SlackHarness(streams=True),
        "discord-channel": lambda: DiscordHarness(interactions=False),
        "discord-interaction": lambda: DiscordHarness(interactions=True),
    }
