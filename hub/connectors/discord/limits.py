"""Discord's rate-limit answers, read off discord.py's HTTP session into the hub's budgets.

discord.py takes an `aiohttp.TraceConfig` (`Client(http_trace=…)`) for every request it makes,
REST and interaction webhooks alike. `LimitTrace` looks at each answer to a message write:

- `X-RateLimit-Remaining` and `-Reset-After` on a success → `budget.learn()`: the channel's (or
  the interaction's) budget spreads the writes left over the time until the reset;
- a 429 → `budget.pause(retry_after, scope)`: Discord's `X-RateLimit-Scope: global` (or
  `X-RateLimit-Global`) pauses the bot-wide pool every channel draws from; `user` and `shared`
  pause that channel (or interaction). The wait is the body's exact `retry_after`.

How this and discord.py's own handling cooperate without waiting twice: the hub's budget
decides *when* a reply writes, so text is coalesced meanwhile; discord.py keeps its own bucket
per route and retries a 429 inside the call. Both take their times from the same headers, so
both wait for the same moment: the renderer has one write in flight per reply, the call returns
when discord.py's wait ends, and the next write's slot in the budget is already due then.
Waits past `max_ratelimit_timeout` (30 s) come back as errors, which the sink turns into
`SinkRateLimited` for the renderer.
"""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace
from typing import Any

import aiohttp

from hub.connectors.discord.sink import bot_budget, channel_budget
from hub.core.budget import BudgetPools, ChatBudget
from hub.core.ports import LearnedLimit

log = logging.getLogger(__name__)

_CHANNEL_WRITE = re.compile(r"/channels/(\d+)/messages(?:/\d+)?$")
_WEBHOOK = re.compile(r"/webhooks/\d+/([^/]+)(?:/messages/[^/]+)?$")


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class LimitTrace:
    """Feeds the budgets of one connector's `BudgetPools` from Discord's answers."""

    def __init__(self, pools: BudgetPools) -> None:
        self.pools = pools
        self._tokens: dict[str, ChatBudget] = {}
        self.learned = 0  # answers whose limits were learned (for tests and logs)
        self.paused = 0  # 429s turned into pauses
        self.config = aiohttp.TraceConfig()
        self.config.on_request_end.append(self._ended)

    def watch(self, token: str, budget: ChatBudget) -> None:
        """Learn an interaction's webhook limits (by its token) into `budget`."""
        self._tokens[token] = budget

    def forget(self, token: str) -> None:
        self._tokens.pop(token, None)

    def budget_for(self, method: str, path: str) -> ChatBudget | None:
        """The budget a write to `path` draws from; None for other requests (typing, gets)."""
        if method == "GET":
            return None
        found = _CHANNEL_WRITE.search(path)
        if found is not None:
            return channel_budget(self.pools, int(found.group(1)))
        hook = _WEBHOOK.search(path)
        if hook is not None:
            return self._tokens.get(hook.group(1))
        return None

    async def _ended(
        self, session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
    ) -> None:
        try:
            await self.seen(params.method, params.url.path, params.response)
        except Exception as exc:  # a trace must never break discord.py's request
            log.debug("could not read Discord's rate-limit answer", extra={"error": str(exc)})

    async def seen(self, method: str, path: str, response: aiohttp.ClientResponse) -> None:
        headers = response.headers
        if response.status == 429:
            await self._limited(method, path, response)
            return
        budget = self.budget_for(method, path)
        remaining = _float(headers.get("X-RateLimit-Remaining"))
        reset_after = _float(headers.get("X-RateLimit-Reset-After"))
        if budget is None or remaining is None or reset_after is None:
            return
        budget.learn(LearnedLimit(int(remaining), reset_after, "chat"))
        self.learned += 1

    async def _limited(self, method: str, path: str, response: aiohttp.ClientResponse) -> None:
        headers = response.headers
        retry_after = None
        try:
            body = await response.json(content_type=None)  # cached: discord.py reads it again
            retry_after = _float(str(body.get("retry_after")))
        except (ValueError, aiohttp.ClientError, AttributeError):
            pass
        if retry_after is None:
            retry_after = _float(headers.get("Retry-After")) or 1.0
        scope = headers.get("X-RateLimit-Scope", "user")
        is_global = scope == "global" or headers.get("X-RateLimit-Global", "").lower() == "true"
        budget = self.budget_for(method, path)
        if is_global:
            bot_budget(self.pools).pause(retry_after, "bot")
        elif budget is not None:
            budget.pause(retry_after, "chat")
        else:
            return
        self.paused += 1
        log.info(
            "Discord asked to wait",
            extra={"retry_after": retry_after, "scope": "global" if is_global else scope},
        )
