"""PromptService: `/command` prompt templates for every edge (chat, HTTP routes, native menus).

One service owns the rules (names, scopes, who may change what, expansion) so Telegram, Slack,
Discord, the console and the HTTP routes behave the same. Global prompts are created by admins
and seen by everyone; a user's personal prompt with the same name wins for that user.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any, Protocol

from hub.core.builtins import BUILTIN_MENU
from hub.core.models import (
    ChatMessage,
    IncomingMessage,
    PlatformUser,
    Prompt,
    PromptScope,
    User,
    utcnow,
)
from hub.core.ports import ChangeFeed, DuplicateError, PromptStore
from hub.core.prompt_commands import format_listing, run_prompt_command
from hub.core.prompt_rules import (
    COMMAND_RULES,
    PromptError,
    checked_text,
    lookup_key,
    normalize_command,
    parse_invocation,
    require_admin,
    taken,
)
from hub.core.templates import Expansion, TemplateContext, expand_template

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
ChangeHook = Callable[[], Awaitable[None]]
PROMPTS_TOPIC = "prompts"

# No hub user has an empty id, so the store's "what does this user see" answers with globals only.
_NOBODY = ""

__all__ = [
    "COMMAND_RULES",
    "ChangeHook",
    "Clock",
    "Expansion",
    "PromptError",
    "PromptService",
    "SeedLike",
    "lookup_key",
    "normalize_command",
    "parse_invocation",
    "to_openwebui",
]


class SeedLike(Protocol):
    """A seed prompt from the YAML config (`hub.settings.SeedPrompt`)."""

    @property
    def command(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def content(self) -> str: ...


def to_openwebui(prompt: Prompt) -> dict[str, Any]:
    """The Open WebUI prompt item; `timestamp` is the last change in epoch seconds."""
    return {
        "command": prompt.command,
        "user_id": prompt.owner_id,
        "title": prompt.title,
        "content": prompt.content,
        "timestamp": int(prompt.updated_at.timestamp()),
    }


class PromptService:
    """Prompt commands: expansion, chat management, HTTP CRUD, menus and seeding.

    `clock` returns an aware datetime; `tz` is the zone for CURRENT_* variables (None = the
    host's local zone). `on_change` hooks run after a global prompt is created, changed or
    removed (connectors refresh their native command menus there); their errors are logged.
    """

    def __init__(
        self,
        store: PromptStore,
        *,
        clock: Clock = utcnow,
        tz: tzinfo | None = None,
        default_language: str = "en-US",
    ) -> None:
        self._store = store
        self._clock = clock
        self._tz = tz
        self._default_language = default_language
        self.on_change: list[ChangeHook] = []
        self._feed: ChangeFeed | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def follow(self, feed: ChangeFeed) -> None:
        """Announce global prompt changes on `feed`, and run `on_change` for those other
        replicas announce (their menus then refresh at once, not at the next look)."""
        self._feed = feed
        feed.subscribe(PROMPTS_TOPIC, self._changed_elsewhere)

    def _changed_elsewhere(self, payload: str) -> None:
        task = asyncio.ensure_future(self._run_hooks())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    to_openwebui = staticmethod(to_openwebui)

    # --- invocation -------------------------------------------------------------------------

    def context(self, user: User, msg: IncomingMessage) -> TemplateContext:
        """System variable values for `user` sending `msg`, at the clock's current time."""
        now = self._clock()
        local = now.astimezone(self._tz) if self._tz is not None else now.astimezone()
        zone = getattr(self._tz, "key", None) or local.tzname() or "UTC"
        return TemplateContext(
            user_name=user.name or msg.user.display_name,
            user_language=user.language or msg.user.language or self._default_language,
            now=local,
            timezone=zone,
            chat_name=msg.chat_name,
            platform=msg.platform,
        )

    async def expand(
        self, user: User, msg: IncomingMessage, command: str, args: str
    ) -> Expansion | None:
        """Expand `/command args` for `user`; None when no such prompt is visible to them.

        The input is `args`, or `msg.reply_to_text` when `args` is empty (both: args, a blank
        line, then the replied-to text).
        """
        key = lookup_key(command)
        if key is None:
            return None
        prompt = await self._store.get(key, user.id)
        if prompt is None:
            return None
        ctx = self.context(user, msg)
        return expand_template(
            prompt.command, prompt.content, args, ctx, reply_to_text=msg.reply_to_text
        )

    async def expand_http_last_message(
        self, user: User, messages: Sequence[ChatMessage], platform: str = "http"
    ) -> list[ChatMessage] | Expansion:
        """Expand the last message when it is a user's `/command` (Ollama/OpenAI routes).

        Returns the messages (a new list, the last one replaced when expanded), or the
        Expansion carrying `missing` and `error_message` when variables were not passed.
        """
        if not messages or messages[-1].role != "user":
            return list(messages)
        last = messages[-1]
        invoked = parse_invocation(last.content)
        if invoked is None:
            return list(messages)
        who = PlatformUser(platform, user.id, user.name, user.language)
        msg = IncomingMessage(platform, "", who, last.content, hub_user_id=user.id)
        result = await self.expand(user, msg, *invoked)
        if result is None:
            return list(messages)
        if result.text is None:
            return result
        return [*messages[:-1], replace(last, content=result.text)]

    # --- chat commands ----------------------------------------------------------------------

    async def handle_prompt_command(self, user: User, args: str) -> str:
        """Run `/prompt show|add|edit|rm …` and return the reply text."""
        return await run_prompt_command(self, user, args)

    async def listing(self, user: User) -> str:
        """The `/prompts` reply: each visible command with its title, global ones marked."""
        return format_listing(await self.list_for(user))

    # --- CRUD (chat and HTTP) ---------------------------------------------------------------

    async def list_for(self, user: User) -> list[Prompt]:
        """The user's own and the global prompts (personal shadowing global), by command."""
        prompts = await self._store.visible(user.id)
        return sorted(prompts, key=lambda p: p.command)

    async def get(self, user: User, command: str) -> Prompt | None:
        """The prompt `user` sees under `command` (with or without the leading `/`)."""
        key = lookup_key(command)
        return None if key is None else await self._store.get(key, user.id)

    async def find(self, user: User, command: str, scope: PromptScope) -> Prompt | None:
        """The user's personal prompt, or the global one, under `command` (no shadowing)."""
        key = lookup_key(command)
        if key is None:
            return None
        if scope == "global":
            return await self.global_prompt(key)
        return await self._store.get_exact(key, user.id, "personal")

    async def global_prompt(self, command: str) -> Prompt | None:
        """The global prompt under `command`, whoever created it."""
        key = lookup_key(command)
        if key is None:
            return None
        found = await self._store.get(key, _NOBODY)
        return found if found is not None and found.scope == "global" else None

    async def create(
        self,
        user: User,
        command: str,
        title: str,
        content: str,
        scope: PromptScope = "personal",
    ) -> Prompt:
        """Store a new prompt; raises PromptError (invalid name, taken, not an admin)."""
        key = normalize_command(command)
        title, content = checked_text(key, title, content)
        if scope == "global":
            require_admin(user)
            if await self.global_prompt(key) is not None:
                raise taken(key)
        now = self._clock()
        prompt = Prompt(key, title, content, user.id, scope, created_at=now, updated_at=now)
        try:
            created = await self._store.create(prompt)
        except DuplicateError:
            raise taken(key) from None
        log.info("prompt created", extra={"command": key, "scope": scope, "user_id": user.id})
        if scope == "global":
            await self._changed()
        return created

    async def update(
        self,
        user: User,
        command: str,
        title: str,
        content: str,
        *,
        scope: PromptScope | None = None,
    ) -> Prompt | None:
        """Change a prompt's title and content; None if there is none to change.

        `scope` None changes the one the user sees (their own, else the global one, which
        needs an admin); an empty `title` keeps the current one.
        """
        target = await self._target(user, command, scope)
        if target is None:
            return None
        title, content = checked_text(target.command, title or target.title, content)
        updated = await self._store.update(
            target.command, target.owner_id, target.scope, title=title, content=content
        )
        if updated is not None and updated.scope == "global":
            await self._changed()
        return updated

    async def delete(self, user: User, command: str, *, scope: PromptScope | None = None) -> bool:
        """Remove a prompt (same targeting as `update`); False if there was none."""
        target = await self._target(user, command, scope)
        if target is None:
            return False
        removed = await self._store.delete(target.command, target.owner_id, target.scope)
        if removed:
            log.info("prompt deleted", extra={"command": target.command, "user_id": user.id})
            if target.scope == "global":
                await self._changed()
        return removed

    # --- menus and seeding ------------------------------------------------------------------

    async def menu(self) -> list[tuple[str, str]]:
        """Built-ins then global prompts as (command without `/`, description), for native
        menus. Names may contain `-`, which Telegram's setMyCommands does not accept."""
        globals_ = sorted(await self._store.visible(_NOBODY), key=lambda p: p.command)
        items = list(BUILTIN_MENU.items())
        items += [(p.command[1:], p.title or p.command) for p in globals_ if p.scope == "global"]
        return items

    async def seed(self, seeds: Sequence[SeedLike], owner_id: str) -> int:
        """Create the missing global prompts from the config; returns how many were created.

        Existing global prompts are left as they are (an admin may have edited them).
        """
        created = 0
        now = self._clock()
        for i, seed in enumerate(seeds):
            try:
                key = normalize_command(seed.command)
                title, content = checked_text(key, seed.title, seed.content)
            except PromptError as exc:
                raise PromptError(f"prompts[{i}] ({seed.command}): {exc.message}") from None
            if await self.global_prompt(key) is not None:
                continue
            prompt = Prompt(key, title, content, owner_id, "global", created_at=now, updated_at=now)
            try:
                await self._store.create(prompt)
            except DuplicateError:
                continue
            created += 1
        if created:
            log.info("seed prompts created", extra={"count": created})
            await self._changed()
        return created

    # --- internals --------------------------------------------------------------------------

    async def _target(self, user: User, command: str, scope: PromptScope | None) -> Prompt | None:
        if scope is not None:
            if scope == "global":
                require_admin(user)
            return await self.find(user, command, scope)
        found = await self.get(user, command)
        if found is not None and found.scope == "global" and user.role != "admin":
            raise PromptError(
                f"{found.command} is a global prompt; only admins can change it", kind="forbidden"
            )
        return found

    async def _changed(self) -> None:
        await self._run_hooks()
        if self._feed is not None:
            await self._feed.publish(PROMPTS_TOPIC, "changed")

    async def _run_hooks(self) -> None:
        for hook in list(self.on_change):
            try:
                await hook()
            except Exception:
                # A menu refresh that fails (platform down) must not undo or fail the change.
                log.exception("prompt change hook failed", extra={"hook": repr(hook)})
