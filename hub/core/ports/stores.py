"""The store ports: users, conversations, prompts, web chats, usage, settings (and jobs,
`jobs.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from hub.core.models import (
    Conversation,
    ConversationKey,
    Identity,
    PlatformUser,
    Prompt,
    PromptScope,
    Turn,
    Usage,
    User,
    UserRole,
    WebChat,
)
from hub.core.ports.jobs import JobStore


class UserStore(Protocol):
    """Hub users and the platform identities that map to them."""

    async def for_identity(self, who: PlatformUser) -> User:
        """The hub user behind a platform identity, created on first sight."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None: ...

    async def create(self, user: User) -> User:
        """Store a new user (HTTP sign-up). Raises `DuplicateError` if the e-mail is taken."""
        ...

    async def set_model(self, user_id: str, model: str | None) -> None: ...

    async def set_role(self, user_id: str, role: UserRole) -> bool:
        """Change the user's role; False when there is no such user."""
        ...

    async def count(self) -> int: ...

    async def link_identity(self, user_id: str, platform: str, platform_user_id: str) -> None:
        """Attach a platform identity to an existing hub user (moves it if linked elsewhere)."""
        ...

    async def all(self) -> list[User]:
        """Every user, oldest first."""
        ...

    async def find_identity(self, platform: str, platform_user_id: str) -> User | None:
        """The user behind a platform identity, or None (unlike `for_identity`, never creates)."""
        ...

    async def identities(self, user_id: str | None = None) -> list[Identity]:
        """The identities linked to `user_id` (every identity when None)."""
        ...

    async def update_profile(
        self,
        user_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        profile_image_url: str | None = None,
    ) -> User | None:
        """Change the fields given; None when there is no such user. Raises `DuplicateError`
        if the e-mail belongs to another user."""
        ...

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        """Store a new password hash; False when there is no such user."""
        ...

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        """Disable or enable the user; False when there is no such user."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Remove the user with everything personal to them: identities, conversations and
        their turns, web chats, personal prompts. Usage counters stay (they are accounting).
        False when there was no such user."""
        ...


class ConversationStore(Protocol):
    """Conversations and their turns; turns are stored apart so no document grows unbounded."""

    async def active(self, key: ConversationKey, user_id: str) -> Conversation:
        """The active conversation for `key`, opened on first use."""
        ...

    async def start_new(self, key: ConversationKey, user_id: str) -> Conversation:
        """Close the active conversation (it stays stored) and open a new one."""
        ...

    async def append(self, conversation_id: str, turn: Turn, *, fence: int | None = None) -> Turn:
        """Store a turn at the end; returns it with its id set.

        With `fence` (the conversation lease's fencing token), refuse with `StaleWrite` a turn
        whose fence is smaller than one the conversation already took, and remember the
        largest; without, write unconditionally."""
        ...

    async def recent(self, conversation_id: str, limit: int) -> list[Turn]:
        """The newest `limit` turns, oldest first."""
        ...


class PromptStore(Protocol):
    """`/command` prompt templates, personal or global."""

    async def get(self, command: str, user_id: str) -> Prompt | None:
        """The prompt `user_id` sees under `command`: their personal one wins over a global one."""
        ...

    async def get_exact(self, command: str, owner_id: str, scope: PromptScope) -> Prompt | None: ...

    async def visible(self, user_id: str) -> list[Prompt]:
        """The user's own and the global prompts, personal shadowing global, by command."""
        ...

    async def create(self, prompt: Prompt) -> Prompt:
        """Raises `DuplicateError` when the command exists in that scope (for that owner)."""
        ...

    async def update(
        self, command: str, owner_id: str, scope: PromptScope, *, title: str, content: str
    ) -> Prompt | None: ...

    async def delete(self, command: str, owner_id: str, scope: PromptScope) -> bool: ...


class WebChatStore(Protocol):
    """Open WebUI chats, always filtered by owner."""

    async def create(self, chat: WebChat) -> WebChat: ...

    async def get(self, chat_id: str, user_id: str) -> WebChat | None: ...

    async def list(self, user_id: str, *, skip: int = 0, limit: int = 50) -> list[WebChat]:
        """The user's non-archived chats, newest `updated_at` first."""
        ...

    async def update(
        self, chat_id: str, user_id: str, chat: Mapping[str, Any], *, title: str, updated_at: int
    ) -> WebChat | None: ...

    async def delete(self, chat_id: str, user_id: str) -> bool: ...


class UsageStore(Protocol):
    """Token and request counters per user, model and UTC day."""

    async def add(
        self,
        user_id: str,
        model: str,
        day: str,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        requests: int = 1,
        estimated_tokens: int = 0,
    ) -> None:
        """Add to the day's counters (`requests` replies, and their tokens, of which
        `estimated_tokens` are the hub's estimates because the server reported none)."""
        ...

    async def for_user(self, user_id: str, day: str) -> list[Usage]: ...

    async def between(
        self, first_day: str, last_day: str, *, user_id: str | None = None, model: str | None = None
    ) -> list[Usage]:
        """Counters from `first_day` to `last_day` (inclusive, YYYY-MM-DD), optionally of one
        user or one model, ordered by day, user and model."""
        ...


class SettingStore(Protocol):
    """Small runtime settings changed over the API (Open WebUI default models…)."""

    async def get(self, name: str) -> Any: ...

    async def put(self, name: str, value: Any) -> None: ...

    async def put_new(self, name: str, value: Any) -> bool:
        """Store `value` only if `name` has no value yet; True when this call stored it.

        Atomic across processes sharing the store: of concurrent calls exactly one wins.
        """
        ...


class Stores(Protocol):
    """Every store of one backend (MongoDB or SQLite), opened and closed together."""

    users: UserStore
    conversations: ConversationStore
    prompts: PromptStore
    chats: WebChatStore
    usage: UsageStore
    settings: SettingStore
    jobs: JobStore
    description: str  # for logs and readiness: "SQLite at ./data/chathub.db"

    async def ping(self) -> None:
        """Raise `StoreError` if the store does not answer."""
        ...

    async def aclose(self) -> None: ...
