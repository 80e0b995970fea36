"""Who may use a chat connector: allow lists of people and chats, and bot admins.

Every connector's settings section includes `AccessSettings`, so each platform is configured the
same way (`HUB_TELEGRAM__ALLOW_USERS=111,222`, or a YAML list). `Access` applies them to each
incoming message before anything reaches a model:

- neither `allow_users` nor `allow_chats` set: everyone may use the bot;
- otherwise a message is answered when its sender is in `allow_users` (anywhere), or its chat,
  channel, guild or workspace is in `allow_chats` (for everyone in it);
- `admins` may always use the bot, and get the hub's admin role the first time this process
  sees them (so they manage global prompts and have no limits; remove an id to stop that).

A refused sender gets one short refusal in private chats (at most once an hour, so a stranger
cannot make the bot flood its own rate limit; `refusal_in_private: false` for silence), and
silence in groups unless `refusal_in_groups` is on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_settings import NoDecode

from hub.core.models import IncomingMessage, PlatformUser
from hub.core.ports import StoreError, UserStore

log = logging.getLogger(__name__)

REFUSAL = "Sorry, this bot only answers the people it was set up for."
REFUSAL_QUIET = 3600.0  # seconds before the same person is told again
_MAX_REMEMBERED = 10_000


def _ids(value: Any) -> Any:
    """Platform ids from "111, 222", a JSON list, or a YAML list (numbers become strings)."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError("not a JSON list; use comma-separated ids like 111,222") from None
        else:
            value = [part for part in text.split(",")]
    if isinstance(value, int | float):
        value = [value]
    if not isinstance(value, list | tuple | set | frozenset):
        raise ValueError("a list of platform ids, like 111,222")
    out: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise ValueError(f"{item!r} is not a platform id")
        text = str(item).strip()
        if text:
            out.append(text)
    return tuple(dict.fromkeys(out))


# NoDecode: pydantic-settings would JSON-decode a list field taken from the environment, and
# "111,222" is not JSON.
IdList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_ids)]


class AccessSettings(BaseModel):
    """Who may use a connector; every connector's settings section includes these fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_users: IdList = ()  # platform user ids; with allow_chats empty too: everyone
    allow_chats: IdList = ()  # chat, channel, group, guild or workspace ids
    admins: IdList = ()  # platform user ids that get the hub admin role on first contact
    refusal: str = REFUSAL  # what a refused sender is told
    refusal_in_private: bool = True  # tell refused senders in private chats (else: silence)
    refusal_in_groups: bool = False  # also tell them in group chats


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a message may be answered; `reply` is the refusal to send ("" = stay silent)."""

    allowed: bool
    reply: str = ""


class Access:
    """The access policy of one connector, with the hub's user store for bot admins.

    `users` may be None (tests, tools): configured admins are then recognised but not promoted.
    """

    def __init__(
        self,
        settings: AccessSettings | None = None,
        users: UserStore | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or AccessSettings()
        self._users = users
        self._clock = clock
        self._users_allowed = frozenset(self.settings.allow_users)
        self._chats_allowed = frozenset(self.settings.allow_chats)
        self._admins = frozenset(self.settings.admins)
        self._open = not self._users_allowed and not self._chats_allowed
        self._promoted: set[tuple[str, str]] = set()
        self._told: dict[str, float] = {}

    def allows(self, user_id: str, *chats: str) -> bool:
        """Whether the person `user_id`, writing in `chats` (chat, workspace…), may use the bot."""
        if self._open or user_id in self._admins or user_id in self._users_allowed:
            return True
        return any(chat in self._chats_allowed for chat in chats if chat)

    def permits(self, msg: IncomingMessage) -> bool:
        """Whether `msg` may be answered; a connector's policy may add rules of its own (Discord
        roles and deny lists) by overriding this and `allows`."""
        return self.allows(msg.user.platform_user_id, msg.chat_id, msg.workspace_id)

    def configured_admin(self, user_id: str) -> bool:
        return user_id in self._admins

    async def check(self, msg: IncomingMessage) -> Verdict:
        """The verdict for `msg`; promotes a configured admin on first contact."""
        who = msg.user.platform_user_id
        if self.permits(msg):
            if who in self._admins:
                await self._promote(msg.user)
            return Verdict(True)
        log.info(
            "message refused by the allow lists",
            extra={"platform": msg.platform, "user_id": who, "chat_id": msg.chat_id},
        )
        return Verdict(False, self._refusal(msg))

    async def is_admin(self, who: PlatformUser) -> bool:
        """A configured admin, or a person whose hub user has the admin role."""
        if who.platform_user_id in self._admins:
            return True
        if self._users is None:
            return False
        try:
            user = await self._users.for_identity(who)
        except StoreError as exc:
            log.warning("could not look up a user's role", extra={"error": str(exc)})
            return False
        return user.role == "admin"

    def _refusal(self, msg: IncomingMessage) -> str:
        settings = self.settings
        text = settings.refusal.strip() or REFUSAL
        told = settings.refusal_in_groups if msg.is_group else settings.refusal_in_private
        if not told:
            return ""
        now = self._clock()
        who = f"{msg.chat_id}:{msg.user.platform_user_id}"
        if self._told.get(who, -REFUSAL_QUIET) > now - REFUSAL_QUIET:
            return ""
        if len(self._told) >= _MAX_REMEMBERED:
            self._told = {k: t for k, t in self._told.items() if t > now - REFUSAL_QUIET}
        self._told[who] = now
        return text

    async def _promote(self, who: PlatformUser) -> None:
        key = (who.platform, who.platform_user_id)
        if self._users is None or key in self._promoted:
            return
        try:
            user = await self._users.for_identity(who)
            if user.role != "admin":
                await self._users.set_role(user.id, "admin")
                log.info(
                    "bot admin promoted to the hub admin role",
                    extra={"platform": who.platform, "user_id": user.id},
                )
        except StoreError as exc:  # tried again on the next message
            log.warning("could not promote a bot admin", extra={"error": str(exc)})
            return
        self._promoted.add(key)
