"""Suggestions for command arguments (Discord autocomplete, Slack hints), by the registry's
`Arg.complete` source: the models a person may choose, the prompt commands they can use."""

from __future__ import annotations

from typing import Protocol

from hub.core.builtins import Source
from hub.core.models import Prompt, User
from hub.core.ports import ModelRouter

MAX_SUGGESTIONS = 25  # Discord's autocomplete limit


class ListsPrompts(Protocol):
    async def list_for(self, user: User) -> list[Prompt]: ...


class Completions:
    """Autocomplete hooks for the command registry's argument sources."""

    def __init__(self, router: ModelRouter, prompts: ListsPrompts | None) -> None:
        self._router = router
        self._prompts = prompts

    async def complete(
        self, source: Source, user: User, prefix: str = "", limit: int = MAX_SUGGESTIONS
    ) -> list[str]:
        """Values of `source` for `user` that start with `prefix` (case-insensitive)."""
        if source == "models":
            listed = [e.name for e in await self._router.models()]
            values = ["default", *(n for n in listed if self._router.allowed(user, n))]
        elif self._prompts is not None:
            values = [p.command.removeprefix("/") for p in await self._prompts.list_for(user)]
        else:
            values = []
        wanted = prefix.strip().lower().removeprefix("/")
        return [v for v in values if v.lower().startswith(wanted)][:limit]
