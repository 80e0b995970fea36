"""The `/usage` chat command: a person's requests and tokens today, against their limits."""

from __future__ import annotations

from collections.abc import Sequence

from hub.core.models import Usage
from hub.core.ports import Allowance


def _n(value: int) -> str:
    return f"{value:,}"


def usage_text(day: str, usage: Sequence[Usage], allowance: Allowance | None) -> str:
    """The reply to `/usage` for one user on one UTC `day` (YYYY-MM-DD)."""
    requests = sum(u.requests for u in usage)
    prompt = sum(u.prompt_tokens for u in usage)
    completion = sum(u.completion_tokens for u in usage)
    total = prompt + completion
    noun = "request" if requests == 1 else "requests"
    lines = [
        f"Today ({day}, UTC): {_n(requests)} {noun}, {_n(total)} tokens "
        f"({_n(prompt)} in, {_n(completion)} out)."
    ]
    by_model = sorted((u for u in usage if u.requests or u.total_tokens), key=lambda u: u.model)
    if len(by_model) > 1:
        lines += [f"• {u.model}: {_n(u.requests)}, {_n(u.total_tokens)} tokens" for u in by_model]
    lines.append(_limits(total, allowance))
    return "\n".join(lines)


def _limits(total: int, allowance: Allowance | None) -> str:
    if allowance is None:
        return "This hub does not report limits."
    if allowance.unlimited:
        return "You have no limits on this hub."
    if allowance.tokens_per_day is None and not allowance.per_user and not allowance.concurrent:
        return "No limits apply to you on this hub."
    parts = []
    if allowance.tokens_per_day is not None:
        left = max(0, allowance.tokens_per_day - total)
        parts.append(
            f"Daily budget: {_n(total)} of {_n(allowance.tokens_per_day)} tokens used, "
            f"{_n(left)} left (it renews at 00:00 UTC)."
        )
    else:
        parts.append("No daily token budget.")
    if allowance.per_user:
        parts.append(f"Rate limit: {allowance.per_user}.")
    if allowance.concurrent is not None:
        replies = "reply" if allowance.concurrent == 1 else "replies"
        parts.append(f"At most {allowance.concurrent} {replies} at a time.")
    return " ".join(parts)
