"""What the fake Slack keeps: users, channels, files, messages as users see them, calls, limits.

Limits follow docs.slack.dev/apis/web-api/rate-limits. A method's tier is a budget per workspace
("Tier 3: 50+ per minute, sporadic bursts welcome"): at most `count` calls in any `period`
seconds, all at once if need be (a sliding window). `chat.postMessage` and `chat.update` are also
paced per channel ("about 1 per second per channel, short bursts tolerated"): a GCRA bucket of
`count` per `period` with `burst` extra calls at once. Lengths are counted in UTF-16 units, as
Slack's clients do.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

GENERAL = "C0GENERAL"  # the channel every fake workspace has, the bot a member
TEAM_SCOPES = (
    "app_mentions:read,assistant:write,channels:history,chat:write,commands,files:read,"
    "groups:history,im:history,im:read,im:write,mpim:history,users:read"
)


def len16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Rate:
    """`count` per `period` seconds: a sliding window, or (`window=False`) GCRA with `burst`."""

    count: int
    period: float
    burst: int = 0
    window: bool = False


def tier(per_minute: int) -> Rate:
    return Rate(per_minute, 60.0, window=True)


TIER1, TIER2, TIER3, TIER4 = tier(1), tier(20), tier(50), tier(100)


def default_workspace_limits() -> dict[str, Rate]:
    return {
        "chat.postMessage": tier(300),  # "several hundred per minute" per workspace
        "chat.update": TIER3,
        "chat.delete": TIER3,
        "chat.postEphemeral": TIER4,
        "chat.startStream": TIER2,
        "chat.appendStream": TIER4,
        "chat.stopStream": TIER2,
        "assistant.threads.setStatus": TIER3,
        "conversations.replies": TIER3,
        "files.info": TIER4,
        "users.info": TIER4,
        "apps.connections.open": tier(5),  # Tier 1, "a small amount of burst behavior tolerated"
    }


def default_channel_limits() -> dict[str, Rate]:
    return {"chat.postMessage": Rate(1, 1.0, 1), "chat.update": Rate(1, 1.0, 1)}


@dataclass
class SlackLimits:
    """Which methods are paced, per workspace and per channel; `enabled=False` turns all off."""

    workspace: dict[str, Rate] = field(default_factory=default_workspace_limits)
    channel: dict[str, Rate] = field(default_factory=default_channel_limits)
    enabled: bool = True


class Limiter:
    """Buckets by key; a call passes every bucket of its method or none is charged."""

    def __init__(self) -> None:
        self._tat: dict[tuple[str, ...], float] = {}
        self._log: dict[tuple[str, ...], deque[float]] = {}

    def _wait(self, key: tuple[str, ...], rate: Rate, now: float) -> float:
        if rate.window:
            log = self._log.setdefault(key, deque())
            while log and log[0] <= now - rate.period:
                log.popleft()
            return log[0] + rate.period - now if len(log) >= rate.count else 0.0
        interval = rate.period / rate.count
        return max(self._tat.get(key, now), now) - now - interval * rate.burst

    def check(self, buckets: list[tuple[tuple[str, ...], Rate]], now: float) -> float:
        """0 if the call may go (and charge it), else the seconds until it may."""
        wait = max((self._wait(key, rate, now) for key, rate in buckets), default=0.0)
        if wait > 1e-9:
            return wait
        for key, rate in buckets:
            if rate.window:
                self._log[key].append(now)
            else:
                self._tat[key] = max(self._tat.get(key, now), now) + rate.period / rate.count
        return 0.0


@dataclass
class Call:
    t: float  # the event loop's monotonic clock
    method: str
    params: dict[str, Any]
    status: int = 200
    error: str = ""


@dataclass
class User:
    id: str
    name: str
    real_name: str = ""
    is_bot: bool = False

    def json(self, team_id: str) -> dict[str, Any]:
        real = self.real_name or self.name
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": False,
            "real_name": real,
            "tz": "Europe/London",
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": {"real_name": real, "display_name": self.name, "team": team_id},
        }


@dataclass
class Channel:
    id: str
    name: str
    member: bool = True  # whether the bot is in it
    user: str = ""  # for a DM: the person

    @property
    def is_im(self) -> bool:
        return self.id.startswith("D")

    @property
    def channel_type(self) -> str:
        return "im" if self.is_im else ("group" if self.id.startswith("G") else "channel")


@dataclass
class File:
    id: str
    name: str
    mimetype: str
    content: bytes
    user: str

    def json(self, root: str, team_id: str) -> dict[str, Any]:
        base = f"{root}/files-pri/{team_id}-{self.id}"
        return {
            "id": self.id,
            "name": self.name,
            "title": self.name,
            "mimetype": self.mimetype,
            "filetype": self.name.rsplit(".", 1)[-1].lower(),
            "size": len(self.content),
            "user": self.user,
            "mode": "hosted",
            "is_external": False,
            "url_private": f"{base}/{self.name}",
            "url_private_download": f"{base}/download/{self.name}",
        }


@dataclass
class Message:
    """A message as users see it now. Bot messages carry `bot_id`."""

    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    markdown: str = ""  # `markdown_text`, or what a chat stream appended
    thread_ts: str | None = None
    bot_id: str | None = None
    files: list[str] = field(default_factory=list)
    stream: str | None = None  # streaming | stopped | expired | stopped_by_user
    stream_started: float = 0.0
    appends: int = 0
    edits: int = 0
    edit_window_closed: bool = False
    subtype: str | None = None

    @property
    def content(self) -> str:
        """What the message shows: its markdown, else its section blocks' text, else `text`."""
        if self.markdown:
            return self.markdown
        sections = section_texts(self.blocks or [])
        return "\n".join(t for _, t, _ in sections) if sections else self.text

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [
            element
            for block in self.blocks or []
            if block.get("type") == "actions"
            for element in block.get("elements", [])
            if element.get("type") == "button"
        ]

    def json(self, bot_app_id: str, team_id: str, files: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text or self.markdown,
            "ts": self.ts,
            "team": team_id,
        }
        if self.blocks:
            out["blocks"] = self.blocks
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.bot_id:
            out["bot_id"] = self.bot_id
            out["app_id"] = bot_app_id
        if files:
            out["files"] = files
            out["upload"] = False
        if self.subtype:
            out["subtype"] = self.subtype
        if self.edits:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


def section_texts(blocks: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """(type, text, verbatim) of every section block's text object."""
    out = []
    for block in blocks:
        text = block.get("text") if block.get("type") == "section" else None
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            out.append((str(text.get("type", "")), text["text"], bool(text.get("verbatim"))))
    return out


_CONTROL = re.compile(r"<([!@#][^<>]*)>")
_PING = re.compile(r"^(?:!channel|!here|!everyone|!subteam\^[A-Z0-9]+|@[UW][A-Z0-9]+)(?:\|.*)?$")
_BARE = re.compile(r"(?<![\w@])@(channel|here|everyone)\b")


def pings_in(text: str, *, link_names: bool = False) -> list[str]:
    """The notifications `text` would send, as Slack parses mrkdwn (`<!here>`, `<@U…>`…).

    Bare `@here` only counts with `link_names` (or `parse=full`), as in Slack.
    """
    found = [m.group(1) for m in _CONTROL.finditer(text) if _PING.match(m.group(1))]
    if link_names:
        found += ["!" + m.group(1) for m in _BARE.finditer(text)]
    return found
