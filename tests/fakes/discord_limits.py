"""Discord's REST rate limits, enforced (docs.discord.com/developers/topics/rate-limits).

Every route belongs to a bucket kind ("messages.edit"…) with a limit per window; the bucket is
kept per major parameter (channel, guild, webhook or interaction), so edits in one channel never
slow another. A window opens at the first request and resets `per` seconds later. Every answer
on a limited route carries `X-RateLimit-Limit/-Remaining/-Reset/-Reset-After/-Bucket`; a 429 adds
`X-RateLimit-Scope` and `Retry-After`, with the body `{"message", "retry_after", "global"}`.
A global limit of 50 requests per second per bot spans all routes except interaction callbacks
and interaction webhooks. Every answer has `Via`, as behind Discord's load balancer: without it
discord.py takes a 429 for a Cloudflare ban and gives up.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

VIA = "1.1 google"
GLOBAL = (50, 1.0)
# (limit, seconds) per bucket kind; about 5 writes per 5 s per channel for messages.
LIMITS: dict[str, tuple[int, float]] = {
    "messages.create": (5, 5.0),
    "messages.edit": (5, 5.0),
    "messages.delete": (5, 1.0),
    "messages.get": (50, 1.0),
    "typing": (5, 5.0),
    "threads.create": (10, 10.0),
    "webhook": (5, 5.0),
    "interaction.callback": (10, 10.0),
    "commands": (5, 20.0),
}
GLOBAL_EXEMPT = {"interaction.callback", "webhook"}


@dataclass
class Window:
    """One bucket: `limit` requests in a window that opens at the first one."""

    limit: int
    per: float
    start: float | None = None
    count: int = 0

    def _roll(self, now: float) -> None:
        if self.start is None or now >= self.start + self.per:
            self.start, self.count = now, 0

    def take(self, now: float) -> float:
        """0 when the request may go (and counts it), else the seconds until the reset."""
        self._roll(now)
        assert self.start is not None
        if self.count >= self.limit:
            return self.start + self.per - now
        self.count += 1
        return 0.0

    def reset_after(self, now: float) -> float:
        return self.per if self.start is None else max(0.0, self.start + self.per - now)


@dataclass
class Verdict:
    """What the limiter decided for one request, and the headers the answer carries."""

    retry_after: float = 0.0
    scope: str = ""  # "user", "shared" or "global" when limited
    headers: dict[str, str] = field(default_factory=dict)
    enforced: bool = False  # limited by the fake's own limits, not a scripted 429

    @property
    def limited(self) -> bool:
        return self.retry_after > 0

    def body(self) -> dict[str, Any]:
        return {
            "message": "You are being rate limited.",
            "retry_after": round(self.retry_after, 3),
            "global": self.scope == "global",
        }


@dataclass
class Scripted:
    retry_after: float
    scope: str
    via: bool


class RateLimits:
    """Buckets per (kind, major parameter) and the bot's global window."""

    def __init__(self, limits: dict[str, tuple[int, float]] | None = None) -> None:
        self.limits = {**LIMITS, **(limits or {})}
        self.windows: dict[tuple[str, str], Window] = {}
        self.global_log: deque[float] = deque()
        self.global_limit = GLOBAL
        self.scripted: dict[str, deque[Scripted]] = {}

    def script(self, kind: str, retry_after: float, scope: str, via: bool) -> None:
        self.scripted.setdefault(kind, deque()).append(Scripted(retry_after, scope, via))

    def check(self, kind: str, major: str, now: float) -> Verdict:
        limit, per = self.limits.get(kind, (50, 1.0))
        window = self.windows.setdefault((kind, major), Window(limit, per))
        scripted = self.scripted.get(kind)
        if scripted:
            s = scripted.popleft()
            verdict = Verdict(s.retry_after, s.scope, self._headers(kind, window, now))
            verdict.headers |= self._limited_headers(verdict, via=s.via)
            return verdict
        if kind not in GLOBAL_EXEMPT:
            wait = self._take_global(now)
            if wait > 0:
                verdict = Verdict(wait, "global", {"X-RateLimit-Global": "true"}, enforced=True)
                verdict.headers |= self._limited_headers(verdict, via=True)
                return verdict
        wait = window.take(now)
        verdict = Verdict(wait, "user" if wait else "", self._headers(kind, window, now))
        if wait:
            verdict.enforced = True
            verdict.headers |= self._limited_headers(verdict, via=True)
        else:
            verdict.headers["Via"] = VIA
        return verdict

    def _take_global(self, now: float) -> float:
        count, per = self.global_limit
        while self.global_log and self.global_log[0] <= now - per:
            self.global_log.popleft()
        if len(self.global_log) >= count:
            return self.global_log[0] + per - now
        self.global_log.append(now)
        return 0.0

    def _headers(self, kind: str, window: Window, now: float) -> dict[str, str]:
        reset_after = window.reset_after(now)
        return {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(max(0, window.limit - window.count)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(kind.encode()).hexdigest()[:32],
        }

    @staticmethod
    def _limited_headers(verdict: Verdict, *, via: bool) -> dict[str, str]:
        out = {
            "X-RateLimit-Scope": verdict.scope,
            "Retry-After": str(max(1, math.ceil(verdict.retry_after))),
        }
        if via:
            out["Via"] = VIA
        return out
