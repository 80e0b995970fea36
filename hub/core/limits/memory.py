"""In-memory twin of the Redis limiter: same GCRA maths, same budgets and leases, one process.

The embedded default when `HUB_REDIS_URL` is unset, and the fail-open fallback when Redis is
down. It mirrors `gcra.lua` line for line (integer microseconds, same tie-breaking), so one
contract suite holds for both. Expired entries are swept at most once per `sweep_every` seconds
of clock time, so memory stays proportional to the subjects active recently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from hub.core.limits.base import DAY_US, US, BudgetCheck, LeaseCheck, to_us
from hub.core.ports import Decision, LimitCheck

Clock = Callable[[], float]
_Verdict = tuple[int, int, int, int, str]  # retry, limit, remaining, reset (us), scope


class MemoryRateLimiter:
    """Process-local `Limiter`. `clock` returns seconds (wall time by default; tests inject)."""

    def __init__(self, clock: Clock = time.time, *, sweep_every: float = 1.0) -> None:
        self._clock = clock
        self._tat: dict[str, int] = {}  # GCRA theoretical arrival time per rate key
        self._budget: dict[str, tuple[int, int]] = {}  # key -> (UTC day number, tokens used)
        self._leases: dict[str, dict[str, int]] = {}  # key -> lease id -> expiry
        self._sweep_every = to_us(sweep_every)
        self._next_sweep = 0

    def _now(self) -> int:
        now = round(self._clock() * US)
        if now >= self._next_sweep:
            self._sweep(now)
            self._next_sweep = now + self._sweep_every
        return now

    def _sweep(self, now: int) -> None:
        self._tat = {k: v for k, v in self._tat.items() if v > now}
        day = now // DAY_US
        self._budget = {k: v for k, v in self._budget.items() if v[0] == day}
        for key in list(self._leases):
            self._purge(key, now)

    def _purge(self, key: str, now: int) -> dict[str, int]:
        held = self._leases.get(key)
        if held is None:
            return {}
        alive = {lid: exp for lid, exp in held.items() if exp > now}
        if alive:
            self._leases[key] = alive
        else:
            del self._leases[key]
        return alive

    def size(self) -> int:
        """Entries kept (rate keys, budgets, lease sets): for tests of the sweep."""
        return len(self._tat) + len(self._budget) + len(self._leases)

    async def acquire(self, checks: Sequence[LimitCheck]) -> Decision:
        return self._decide(checks, None, None)

    async def decide(
        self,
        checks: Sequence[LimitCheck],
        *,
        budget: BudgetCheck | None = None,
        lease: LeaseCheck | None = None,
    ) -> Decision:
        return self._decide(checks, budget, lease)

    def _decide(
        self, checks: Sequence[LimitCheck], budget: BudgetCheck | None, lease: LeaseCheck | None
    ) -> Decision:
        now = self._now()
        tats = self._tat
        pending: dict[str, int] = {}
        # (retry, limit, remaining, reset, scope) as in gcra.lua: the refusal with the longest
        # wait wins; when allowed, the rate check with the fewest remaining is reported.
        refused: _Verdict | None = None
        tightest: _Verdict | None = None
        for check in checks:
            rate, key = check.rate, check.key
            t = round(rate.period * US / rate.limit) or 1  # = emission_us(rate), inlined
            window = t * rate.burst + t  # tau + T: how far ahead of now the TAT may run
            tat = pending.get(key) or tats.get(key, 0)
            if tat < now:
                tat = now
            wait = tat + t * check.cost - now
            if wait <= window:
                pending[key] = now + wait
                rem = (window - wait) // t
                if tightest is None or rem < tightest[2]:
                    tightest = (0, rate.burst + 1, rem, wait, key)
            elif refused is None or wait - window > refused[0]:
                rem = (window - (tat - now)) // t
                refused = (wait - window, rate.burst + 1, rem if rem > 0 else 0, tat - now, key)
        if budget is not None and self._used(budget.key, now) >= budget.limit:
            retry = (now // DAY_US + 1) * DAY_US - now
            if refused is None or retry > refused[0]:
                refused = (retry, budget.limit, 0, retry, budget.key)
        if lease is not None:
            held = self._purge(lease.key, now)
            if len(held) >= lease.max:
                retry = min(held.values()) - now
                if refused is None or retry > refused[0]:
                    refused = (retry, lease.max, 0, retry, lease.key)
        if refused is not None:
            return _decision(False, refused)
        tats.update(pending)
        lease_id = ""
        if lease is not None:
            self._leases.setdefault(lease.key, {})[lease.lease_id] = now + to_us(lease.ttl)
            lease_id = lease.lease_id
        if tightest is None:
            return Decision(True, 0.0, 0, 0, 0.0, "", lease_id)
        _, limit, remaining, reset, scope = tightest
        return Decision(True, 0.0, limit, remaining, reset / US, scope, lease_id)

    def _used(self, key: str, now: int) -> int:
        entry = self._budget.get(key)
        return entry[1] if entry is not None and entry[0] == now // DAY_US else 0

    async def acquire_lease(self, key: str, max: int, ttl: float, lease_id: str) -> bool:
        decision = self._decide((), None, LeaseCheck(key, max, ttl, lease_id))
        return decision.allowed

    async def renew_lease(self, key: str, lease_id: str, ttl: float) -> bool:
        now = self._now()
        held = self._purge(key, now)
        if lease_id not in held:
            return False
        held[lease_id] = now + to_us(ttl)
        return True

    async def release_lease(self, key: str, lease_id: str) -> None:
        held = self._leases.get(key)
        if held is not None:
            held.pop(lease_id, None)
            if not held:
                del self._leases[key]

    async def leases(self, key: str) -> int:
        return len(self._purge(key, self._now()))

    async def add_tokens(self, key: str, tokens: int) -> int:
        now = self._now()
        used = self._used(key, now) + tokens
        self._budget[key] = (now // DAY_US, used)
        return used

    async def tokens_used(self, key: str) -> int:
        return self._used(key, self._now())

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _decision(allowed: bool, verdict: _Verdict, lease_id: str = "") -> Decision:
    retry, limit, remaining, reset, scope = verdict
    return Decision(allowed, retry / US, limit, remaining, reset / US, scope, lease_id)
