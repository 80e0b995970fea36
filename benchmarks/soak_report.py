"""The soak's records and its report (benchmarks/soak.py): what happened, and which errors an
outage explains."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TOKENS = 20  # tokens in a reply (benchmarks/soak.py serves them)
# What an error during an outage may say, by outage: anything else is unexplained.
EXPLAINED = {"backend": ("broke off", "unavailable", "not reachable", "closed the stream")}


@dataclass
class Outage:
    name: str
    start: float  # seconds into the run
    end: float

    def covers(self, at: float, slack: float = 20.0, before: float = 0.0) -> bool:
        """Whether something at `at` (or up to `before` s later) falls in the outage."""
        return self.start - before <= at <= self.end + slack


@dataclass
class Tally:
    started: float = field(default_factory=time.monotonic)
    completed: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[float, str, str]] = field(default_factory=list)  # (at, kind, what)
    sent: dict[int, list[str]] = field(default_factory=dict)
    answered: dict[int, list[str]] = field(default_factory=dict)
    told: list[tuple[float, int, str]] = field(default_factory=list)
    # (at, rss, fds, sockets): descriptors that are not sockets must stay flat; sockets follow
    # the connections open at that moment.
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)
    kinds: dict[str, Counter[str]] = field(default_factory=dict)  # "warm", "end": descriptors

    def now(self) -> float:
        return time.monotonic() - self.started


def report(figures: dict[str, Any], seconds: float) -> None:
    tally: Tally = figures["tally"]
    plan: list[Outage] = figures["plan"]
    unexplained = []
    explained = Counter[str]()
    for at, kind, what in tally.errors:
        # Outages close together (a short run) overlap with their slack: any of them may explain.
        window = next(
            (o for o in plan if o.covers(at) and any(w in what for w in EXPLAINED.get(o.name, ()))),
            None,
        )
        if window is not None:
            explained[window.name] += 1
        else:
            unexplained.append((round(at), kind, what))
    # A message is "told" when its answer ends with the hub's ⚠ notice; it was sent up to a
    # reply's length before the outage that cut it.
    told_unexplained = [
        t
        for t in tally.told
        if not any(
            o.covers(t[0], before=TOKENS / 2 + 5)
            and any(w in t[2] for w in EXPLAINED.get(o.name, ()))
            for o in plan
        )
    ]
    lost = 0
    order_broken = 0
    for chat in figures["chats"]:
        stored = figures["stored"].get(chat, [])
        users = [text for role, text in stored if role == "user"]
        answered = tally.answered.get(chat, [])
        lost += sum(1 for text in answered if text not in users)
        in_order = [t for t in users if t in answered]
        order_broken += int(in_order != answered)
    warm = [s for s in tally.samples if s[0] <= 0.1 * seconds]
    last = [s for s in tally.samples if s[0] >= 0.9 * seconds]
    rss_warm, rss_last = warm[-1][1], statistics.median(s[1] for s in last)
    fds_warm, fds_last = warm[-1][2], statistics.median(s[2] for s in last)
    print("\n--- figures ---")
    print(f"HTTP streams completed: {tally.completed['http']}")
    print(f"errors: {len(tally.errors)}; explained by an outage: {dict(explained)}")
    print(f"unexplained errors: {len(unexplained)}")
    for item in unexplained[:20]:
        print(f"   {item}")
    messages = sum(len(v) for v in tally.sent.values())
    answered = sum(len(v) for v in tally.answered.values())
    print(
        f"Telegram messages: {messages}, answered by the model: {answered}, told: {len(tally.told)}"
    )
    print(f"told outside an outage: {len(told_unexplained)} {told_unexplained[:5]}")
    print(f"stored turns lost: {lost}; chats whose order broke: {order_broken}")
    growth = 100 * (rss_last - rss_warm) / rss_warm
    mb = 2**20
    print(f"RSS warm {rss_warm / mb:.1f} MB, last 10% {rss_last / mb:.1f} MB ({growth:+.1f}%)")
    print(f"open descriptors warm {fds_warm}, last 10% {fds_last:.0f}")
    other_warm = warm[-1][2] - warm[-1][3]
    other_last = statistics.median(s[2] - s[3] for s in last)
    print(f"descriptors other than sockets: warm {other_warm}, last 10% {other_last:.0f}")
    print("per minute (median): RSS MB / descriptors / sockets")
    for minute in range(int(seconds // 60) + 1):
        inside = [s for s in tally.samples if minute * 60 <= s[0] < (minute + 1) * 60]
        if inside:
            rss = statistics.median(s[1] for s in inside) / mb
            fds = statistics.median(s[2] for s in inside)
            socks = statistics.median(s[3] for s in inside)
            print(f"   {minute:3d}  {rss:6.1f}  {fds:6.0f}  {socks:6.0f}")
    for when in ("warm", "end"):
        print(f"descriptors by kind, {when}: {dict(sorted(tally.kinds.get(when, {}).items()))}")
    print(f"hub tracebacks: {figures['tracebacks']}; hub exit code {figures['hub_exit']}")
