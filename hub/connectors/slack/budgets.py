"""Slack's published rate limits as write budgets, and the budget a reply's sink hands `render()`.

docs.slack.dev/apis/web-api/rate-limits: each Web API method has a tier, a budget per workspace
counted over any minute, bursts allowed ("Tier 2: 20+ per minute", "Tier 3: 50+", "Tier 4:
100+"); `chat.postMessage` and `chat.update` are also limited to about one a second per channel.
So one connector keeps one `BudgetPools` and every reply in a workspace draws from the same
buckets, whatever thread or channel it is in:

- the thread's own pace (one write a second, so a stream grows at a readable cadence);
- per channel: `chat.postMessage` and `chat.update`, once a second each;
- per workspace, per method: a sliding window of the tier (`Limit(window=True)`: the whole tier
  may go at once, as Slack allows), and for the writes a long reply repeats (progress edits,
  `chat.appendStream`) a pace under it, so 20 replies share the tier evenly over the minute
  instead of spending it in the first seconds and then showing nothing for the rest.

Windows are 61 s: Slack counts 60 s by arrival, and our clock starts a call before it arrives.

The renderer's kinds of write (send, edit, finish, stream, stream_end) are mapped by
`ReplyBudget` to the Slack method they will be: a stream write before the stream exists is its
opening (only the thread's pace: the start itself is taken with `take_now`, and streams only
when the tier has room at once), after it an `appendStream`, and a stream's last write its
`stopStream`; an edit of a message in progress is a `chat.update` under a pace that leaves room
in the tier for the edits that finish replies, which go first. A 429
pauses every method of the workspace, because Slack does not say which of its limits (the
method's tier, the channel's pace) was hit.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.core.budget import BudgetPools, ChatBudget, Limit
from hub.core.ports import LearnedLimit, Rate, Scope, WriteKind

POST = "chat.postMessage"
UPDATE = "chat.update"
START = "chat.startStream"
APPEND = "chat.appendStream"
STOP = "chat.stopStream"
STATUS = "assistant.threads.setStatus"
REPLIES = "conversations.replies"
USERS = "users.info"
OPEN = "stream.open"  # the renderer's first write to a stream that does not exist yet
PROGRESS = "chat.update:progress"  # a chat.update of a message still being written

WINDOW = 61.0
PER_THREAD = Rate(1, 1.0)
PER_CHANNEL = Rate(1, 1.0)  # "1 per second per channel, short bursts allowed"
TIERS: dict[str, Rate] = {
    POST: Rate(300, WINDOW),  # "several hundred per minute" per workspace
    UPDATE: Rate(50, WINDOW),  # Tier 3
    START: Rate(20, WINDOW),  # Tier 2
    APPEND: Rate(100, WINDOW),  # Tier 4
    STOP: Rate(20, WINDOW),  # Tier 2
    STATUS: Rate(50, WINDOW),  # Tier 3
    REPLIES: Rate(50, WINDOW),  # Tier 3
    USERS: Rate(100, WINDOW),  # Tier 4
}
# Paces under a window: at most burst + 1 at once, then spread over the minute. Appends may use
# the whole tier (20 + 80 a minute); edits of messages still being written at most 5 + 30 of
# chat.update's 50, so the edits that set a reply's final text always find room within seconds.
PACES: dict[str, Rate] = {
    PROGRESS: Rate(30, 60.0, burst=4),
    APPEND: Rate(80, 60.0, burst=19),
}
SHARES = {PROGRESS: UPDATE}  # a pseudo-method drawing from another method's tier
_PACED_BY_THREAD = frozenset({POST, UPDATE, PROGRESS, APPEND, STOP, OPEN})


def _methods(*names: str) -> frozenset[str]:
    return frozenset(names)


def workspace_limits(team_id: str, *methods: str) -> list[Limit]:
    """The workspace's tier of each of `methods` (with the pseudo-methods sharing it), and the
    paces under it."""
    out: list[Limit] = []
    for method in methods:
        names = _methods(method, *(m for m, tier in SHARES.items() if tier == method))
        out.append(Limit(f"slack:{team_id}:{method}", TIERS[method], "workspace", names, True))
        for paced in sorted(names & PACES.keys()):
            pace = PACES[paced]
            out.append(Limit(f"slack:{team_id}:{paced}:pace", pace, "workspace", _methods(paced)))
    return out


def reply_budget(pools: BudgetPools, team_id: str, channel: str, thread_ts: str) -> ChatBudget:
    """Every bucket one reply in `channel`'s thread `thread_ts` draws from."""
    ws = f"slack:{team_id}"
    return pools.budget(
        Limit(f"{ws}:{channel}:{thread_ts}", PER_THREAD, "chat", _PACED_BY_THREAD),
        Limit(f"{ws}:{channel}:{POST}", PER_CHANNEL, "channel", _methods(POST)),
        Limit(f"{ws}:{channel}:{UPDATE}", PER_CHANNEL, "channel", _methods(UPDATE, PROGRESS)),
        *workspace_limits(team_id, POST, UPDATE, START, APPEND, STOP, STATUS),
    )


def lookup_budget(pools: BudgetPools, team_id: str) -> ChatBudget:
    """The workspace's tiers of the methods the connector reads with (threads, names)."""
    return pools.budget(*workspace_limits(team_id, REPLIES, USERS))


class ReplyBudget:
    """The `EditBudget` a Slack sink gives `render()`: the renderer's kinds of write as the
    Slack methods they will be (`opening()`: the sink's stream has not started yet)."""

    def __init__(self, budget: ChatBudget, opening: Callable[[], bool]) -> None:
        self.budget = budget
        self.opening = opening

    def method(self, kind: WriteKind | None) -> str | None:
        if kind is None:
            return None
        if kind == "send":
            return POST
        if kind == "edit":
            return PROGRESS
        if kind == "finish":
            return UPDATE
        if kind == "stream_end":  # a stream that never started is posted instead
            return POST if self.opening() else STOP
        return OPEN if self.opening() else APPEND

    async def acquire(self, method: WriteKind = "edit") -> None:
        slack_method = self.method(method) or UPDATE
        if slack_method == PROGRESS:
            # A progress edit takes no place in the queues until it could go: queued, it would
            # hold the channel's and the tier's next units while its own pace holds it back,
            # and final edits of other replies would wait behind it.
            clock = self.budget.clock
            while (wait := self.budget.due(PROGRESS) - clock.now()) > 0:
                await clock.sleep(wait)
        await self.budget.acquire(slack_method)

    def pause(self, seconds: float, scope: Scope = "chat", method: WriteKind | None = None) -> None:
        self.budget.pause(seconds, scope, self.method(method))

    def learn(self, seen: LearnedLimit) -> None:
        self.budget.learn(seen)  # Slack reports no limits with its answers

    def describe(self) -> str:
        return self.budget.describe()

    def take_now(self, method: str) -> bool:
        """A unit of the Slack `method` if there is room now (a stream's start, a status)."""
        return self.budget.take_now(method)
