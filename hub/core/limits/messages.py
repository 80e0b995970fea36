"""Every sentence the limiter shows users, in one place. Replace `LimitMessages` to localise.

Advice only a chat user can follow (`/stop`) comes from `hub.core.wording`, which rewords it for
HTTP clients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hub.core.wording import WAIT_OR_STOP_MANY, WAIT_OR_STOP_ONE


@dataclass(frozen=True, slots=True)
class LimitMessages:
    """Refusal texts and the words for waiting times."""

    rate: str = "Rate limit reached ({rate}). Try again in {wait}."
    tokens: str = "Daily token budget used up ({budget} tokens per day). Try again in {wait}."
    one_running: str = f"You already have 1 reply running; {WAIT_OR_STOP_ONE.chat}."
    many_running: str = "You already have {count} replies running; " + WAIT_OR_STOP_MANY.chat + "."
    per: str = "{count} per {unit}"  # "20 per minute", "10 per 30 s"
    unavailable: str = "Rate limiting is temporarily unavailable; please try again shortly."
    seconds: str = "{s} s"
    minutes: str = "{m} min"
    minutes_seconds: str = "{m} min {s} s"
    hours: str = "{h} h"
    hours_minutes: str = "{h} h {m} min"
    thousands: str = ","  # digit grouping in numbers: 50,000

    def wait(self, seconds: float) -> str:
        """A waiting time, rounded up so nobody retries too early: 23 s, 4 min 10 s, 3 h 12 min."""
        total = max(1, math.ceil(seconds - 1e-9))  # tolerate float noise: 23.0000000001 is 23
        if total < 60:
            return self.seconds.format(s=total)
        if total < 3600:
            m, s = divmod(total, 60)
            return self.minutes_seconds.format(m=m, s=s) if s else self.minutes.format(m=m)
        h, m = divmod(math.ceil(total / 60), 60)
        return self.hours_minutes.format(h=h, m=m) if m else self.hours.format(h=h)

    def number(self, n: int) -> str:
        return f"{n:,}".replace(",", self.thousands)

    def rate_limited(self, count: int, unit: str, retry_after: float) -> str:
        rate = self.per.format(count=self.number(count), unit=unit)
        return self.rate.format(rate=rate, wait=self.wait(retry_after))

    def budget_used(self, budget: int, retry_after: float) -> str:
        return self.tokens.format(budget=self.number(budget), wait=self.wait(retry_after))

    def running(self, count: int) -> str:
        return self.one_running if count == 1 else self.many_running.format(count=count)
