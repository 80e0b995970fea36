"""Limits switched off: every message is admitted and usage is not checked."""

from __future__ import annotations

from hub.core.models import User
from hub.core.ports import Admission, Allowance


class NoLimits:
    """A `LimitGate` that admits everything (no policies configured, or limits disabled)."""

    async def admit(
        self,
        user: User,
        platform: str,
        chat_id: str,
        model: str,
        workspace: str = "",
        *,
        wait: bool = False,
    ) -> Admission:
        return Admission(allowed=True)

    async def admit_embedding(self, user: User, model: str) -> Admission:
        return Admission(allowed=True)

    async def release(self, user: User, admission: Admission) -> None:
        return None

    async def record_usage(
        self, user: User, model: str, prompt_tokens: int, completion_tokens: int
    ) -> None:
        return None

    def allowance(self, user: User) -> Allowance:
        return Allowance(unlimited=True)
