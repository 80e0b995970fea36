"""Who may use the Discord bot: the seam's allow lists, plus roles and deny lists.

On top of `hub.core.access` (`allow_users`, `allow_chats` with channel, thread or guild ids,
`admins`):
- `allow_roles`: members holding one of these roles may use the bot (in the guild the role
  belongs to), as if they were in `allow_users`;
- `deny_users`, `deny_chats` (channel, thread or guild ids) and `deny_roles`: never answered,
  whatever allows them otherwise. A deny list wins over every allow list; only `admins` pass
  it, so an admin cannot lock themselves out.
A refused message gets what the seam gives it: one short refusal in DMs, silence in guilds.
"""

from __future__ import annotations

from hub.connectors.discord.settings import DiscordSettings
from hub.core.access import Access
from hub.core.models import IncomingMessage


class DiscordAccess(Access):
    """`Access` with Discord's roles and deny lists (see the module docstring)."""

    settings: DiscordSettings

    def __init__(self, settings: DiscordSettings, *args: object, **kwargs: object) -> None:
        super().__init__(settings, *args, **kwargs)  # type: ignore[arg-type]
        self._deny_users = frozenset(settings.deny_users)
        self._deny_chats = frozenset(settings.deny_chats)
        self._deny_roles = frozenset(settings.deny_roles)
        self._allow_roles = frozenset(settings.allow_roles)
        self._places = frozenset(settings.allow_chats)
        self._people = frozenset(settings.allow_users)
        self._everyone = not (self._people or self._places or self._allow_roles)

    def denied(self, user_id: str, *chats: str, roles: tuple[str, ...] = ()) -> bool:
        """On a deny list (admins never are)."""
        if self.configured_admin(user_id):
            return False
        return (
            user_id in self._deny_users
            or any(chat in self._deny_chats for chat in chats if chat)
            or any(role in self._deny_roles for role in roles)
        )

    def allows(self, user_id: str, *chats: str) -> bool:
        # Asked without the person's roles (a Stop press): a member of an allowed role may be
        # the asker, so only the deny lists and the other allow lists can refuse here; a Stop
        # is still only obeyed for the asker or an admin.
        if self.denied(user_id, *chats):
            return False
        return bool(self._allow_roles) or super().allows(user_id, *chats)

    def permits(self, msg: IncomingMessage) -> bool:
        who = msg.user.platform_user_id
        places = (msg.chat_id, msg.thread_id, msg.workspace_id)
        if self.denied(who, *places, roles=msg.roles):
            return False
        if self._everyone or self.configured_admin(who) or who in self._people:
            return True
        return any(p in self._places for p in places if p) or any(
            role in self._allow_roles for role in msg.roles
        )
