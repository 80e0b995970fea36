"""`chathub usage`: requests and tokens per user, model and UTC day, from the usage store."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.admin.lookup import find_user, label
from hub.admin.tables import render_table
from hub.core.models import Identity, Usage
from hub.core.ports import Stores

DIMENSIONS = ("day", "user", "model")


@dataclass
class _Totals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, usage: Usage) -> None:
        self.requests += usage.requests
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens

    def counts(self) -> list[int]:
        total = self.prompt_tokens + self.completion_tokens
        return [self.requests, self.prompt_tokens, self.completion_tokens, total]


@dataclass
class _Names:
    """User labels for the report, looked up once per user."""

    stores: Stores
    known: dict[str, str] = field(default_factory=dict)

    async def of(self, user_id: str) -> str:
        if user_id not in self.known:
            user = await self.stores.users.get(user_id)
            if user is None:
                self.known[user_id] = f"{user_id[:8]} (deleted)"
            else:
                mine: list[Identity] = await self.stores.users.identities(user_id)
                self.known[user_id] = label(user, mine)
        return self.known[user_id]


async def report(stores: Stores, args: argparse.Namespace) -> int:
    today = datetime.now(UTC).date()
    first = (today - timedelta(days=args.days - 1)).isoformat()
    user_id = None if args.user is None else (await find_user(stores.users, args.user)).id
    rows = await stores.usage.between(first, today.isoformat(), user_id=user_id, model=args.model)
    by = [d for d in DIMENSIONS if d in (args.by or DIMENSIONS)]
    names = _Names(stores)
    groups: dict[tuple[str, ...], _Totals] = {}
    for usage in rows:
        values = {"day": usage.day, "user": usage.user_id, "model": usage.model}
        groups.setdefault(tuple(values[d] for d in by), _Totals()).add(usage)
    overall = _Totals()
    for usage in rows:
        overall.add(usage)
    if args.json:
        print(json.dumps(await _as_json(by, groups, names), indent=2))
        return 0
    table: list[list[object]] = []
    for key, totals in groups.items():
        shown = [await names.of(v) if d == "user" else v for d, v in zip(by, key, strict=True)]
        table.append([*shown, *totals.counts()])
    table.sort(key=lambda row: [str(v) for v in row[: len(by)]])
    if table:
        table.append(["total", *([""] * (len(by) - 1)), *overall.counts()])
    headers = [d.upper() for d in by] + ["REQUESTS", "PROMPT", "COMPLETION", "TOKENS"]
    span = f"{first} to {today.isoformat()} (UTC)"
    if not rows:
        print(f"No usage from {span}.")
        return 0
    print(render_table(headers, table))
    print(f"{span}")
    return 0


async def _as_json(
    by: list[str], groups: dict[tuple[str, ...], _Totals], names: _Names
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, totals in groups.items():
        item: dict[str, Any] = {}
        for dimension, value in zip(by, key, strict=True):
            if dimension == "user":
                item["user_id"] = value
                item["user"] = await names.of(value)
            else:
                item[dimension] = value
        requests, prompt, completion, total = totals.counts()
        item.update(
            requests=requests,
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=total,
        )
        out.append(item)
    return out
