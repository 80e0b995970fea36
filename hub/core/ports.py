"""Ports: the Protocols the core talks to. Edges and adapters implement them.

Every port has a real implementation and an embedded twin, and one contract suite in
`tests/contract/` runs against all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from hub.core.models import (
    ChatMessage,
    Conversation,
    ConversationKey,
    Metrics,
    PlatformUser,
    Prompt,
    PromptScope,
    Turn,
    Usage,
    User,
    UserRole,
    WebChat,
)

# --- errors -----------------------------------------------------------------------------------


class StoreError(Exception):
    """The store could not do what was asked (unreachable, corrupt). The message is user-safe."""


class DuplicateError(StoreError):
    """A unique key is taken (prompt command, e-mail)."""


class BackendError(Exception):
    """A model backend failed. `reason` is a sentence a user can act on.

    `kind` classifies it for failover and HTTP status: connect, timeout, http, not_found,
    protocol, busy, stream.
    """

    def __init__(self, reason: str, *, kind: str = "http", status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.status = status


# --- model backends ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the core asks a backend for: the whole (trimmed) history plus pass-through options."""

    model: str
    messages: tuple[ChatMessage, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    keep_alive: str | int | None = None
    format: Any = None
    think: Any = None
    tools: Sequence[Mapping[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    """One streamed piece: reply text and/or extra output (thinking, tool_calls)."""

    text: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Final:
    """The backend's last chunk, carrying its metrics."""

    metrics: Metrics


BackendChunk = Delta | Final


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model a backend serves, in Ollama `/api/tags` terms (`raw` keeps every upstream field)."""

    name: str
    modified_at: datetime | None = None
    size: int = 0
    digest: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)


class ChatBackend(Protocol):
    """A model server (Ollama, or any OpenAI-compatible server)."""

    name: str

    def chat(self, request: ChatRequest) -> AsyncIterator[BackendChunk]:
        """Stream a reply; raises `BackendError`. Closing the iterator closes the upstream."""
        ...

    async def list_models(self) -> list[ModelInfo]:
        """The models this backend serves right now."""
        ...

    async def show(self, model: str) -> Mapping[str, Any] | None:
        """Ollama `/api/show` body for `model`, or None if unknown or unsupported."""
        ...

    async def probe(self) -> None:
        """Raise `BackendError` unless the backend answers its health checks."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ReportsRunning(Protocol):
    """A backend that can tell which models are loaded in memory (Ollama's `/api/ps`)."""

    async def running(self) -> list[dict[str, Any]]:
        """The `/api/ps` items, every upstream field kept; raises `BackendError`."""
        ...


# --- stores -----------------------------------------------------------------------------------


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

    async def set_role(self, user_id: str, role: UserRole) -> None: ...

    async def count(self) -> int: ...

    async def link_identity(self, user_id: str, platform: str, platform_user_id: str) -> None:
        """Attach a platform identity to an existing hub user (moves it if linked elsewhere)."""
        ...


class ConversationStore(Protocol):
    """Conversations and their turns; turns are stored apart so no document grows unbounded."""

    async def active(self, key: ConversationKey, user_id: str) -> Conversation:
        """The active conversation for `key`, opened on first use."""
        ...

    async def start_new(self, key: ConversationKey, user_id: str) -> Conversation:
        """Close the active conversation (it stays stored) and open a new one."""
        ...

    async def append(self, conversation_id: str, turn: Turn) -> Turn:
        """Store a turn at the end; returns it with its id set."""
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
        self, user_id: str, model: str, day: str, *, prompt_tokens: int, completion_tokens: int
    ) -> None: ...

    async def for_user(self, user_id: str, day: str) -> list[Usage]: ...


class SettingStore(Protocol):
    """Small runtime settings changed over the API (Open WebUI default models…)."""

    async def get(self, name: str) -> Any: ...

    async def put(self, name: str, value: Any) -> None: ...


class Stores(Protocol):
    """Every store of one backend (MongoDB or SQLite), opened and closed together."""

    users: UserStore
    conversations: ConversationStore
    prompts: PromptStore
    chats: WebChatStore
    usage: UsageStore
    settings: SettingStore
    description: str  # for logs and readiness: "SQLite at ./data/chathub.db"

    async def ping(self) -> None:
        """Raise `StoreError` if the store does not answer."""
        ...

    async def aclose(self) -> None: ...


# --- rate limits ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """`limit` events per `period` seconds, with `burst` extra allowed at once (GCRA)."""

    limit: int
    period: float
    burst: int = 0
    text: str = ""  # as configured, for messages: "20/minute"


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One scope to charge: `key` names the subject ("user:42"), `cost` how much to take."""

    key: str
    rate: Rate
    cost: int = 1


@dataclass(frozen=True, slots=True)
class Decision:
    """Result of charging several scopes at once (all or nothing).

    When refused, `scope` names the check that refused (its key) and `retry_after` is in seconds.
    When allowed, `limit`/`remaining`/`reset_after` describe the tightest rate check, and
    `lease_id` is the concurrency lease taken (if one was asked for).
    """

    allowed: bool
    retry_after: float = 0.0
    limit: int = 0
    remaining: int = 0
    reset_after: float = 0.0
    scope: str = ""
    lease_id: str = ""


class RateLimiter(Protocol):
    """Atomic multi-scope limiter (Redis Lua, or the in-memory twin)."""

    async def acquire(self, checks: Sequence[LimitCheck]) -> Decision:
        """Charge every check, or none if any would be refused."""
        ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


# --- routing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What routing rules may match on, and the model asked for (None = defaults apply)."""

    user: User
    platform: str
    chat_id: str
    requested_model: str | None = None
    command: str | None = None


@dataclass(frozen=True, slots=True)
class ModelListing:
    """One entry of the hub's model list: a real model or an alias, and where it runs."""

    name: str
    backends: tuple[str, ...]
    info: ModelInfo | None = None
    alias_of: tuple[str, ...] = ()


class ModelRouter(Protocol):
    """Picks a backend and model for each request; failover before the first token; queueing.

    `stream` yields `Queued` while waiting, `Started` once a backend accepted the request, then
    the backend's `Delta`s and `Final`. Raises `BackendError` when no candidate could answer.
    """

    def resolve(self, ctx: RouteContext) -> str:
        """The model name (or alias) this request will use."""
        ...

    def allowed(self, user: User, model: str) -> bool:
        """Whether `user` may choose `model` with /model."""
        ...

    def stream(self, ctx: RouteContext, request: ChatRequest) -> AsyncIterator[Any]: ...

    async def models(self) -> list[ModelListing]: ...

    async def context_window(self, model: str) -> int | None:
        """The model's context length in tokens, when a backend reports it."""
        ...

    async def show(self, model: str) -> Mapping[str, Any] | None: ...


# --- limits as the pipeline sees them ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Admission:
    """The limiter's verdict for one message. When refused, `message` is the user-facing text."""

    allowed: bool
    message: str = ""
    retry_after: float = 0.0
    limit: int = 0
    remaining: int = 0
    reset_after: float = 0.0
    lease_id: str = ""  # concurrency lease to release when the reply ends
    # When refused: "rate_limited" (HTTP 429) or "unavailable" (limiter down, fail_closed: 503).
    code: str = ""
    # Which policy refused: user, chat, platform, global, model, tokens, concurrency, limiter.
    scope: str = ""


class LimitGate(Protocol):
    """Applies the configured policies (per user, chat, platform, model, tokens, concurrency)."""

    async def admit(self, user: User, platform: str, chat_id: str, model: str) -> Admission: ...

    async def release(self, user: User, admission: Admission) -> None:
        """End the concurrency lease taken by `admit` (success, failure or cancellation)."""
        ...

    async def record_usage(
        self, user: User, model: str, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Count real token usage after a reply (checked by the next `admit`)."""
        ...


# --- chat platforms: sinks and budgets (connectors: hub/connectors/registry.py) ---------------


class SinkError(Exception):
    """A platform call of a sink failed (network, unexpected answer). The message is log-safe."""


class SinkRateLimited(SinkError):
    """The platform asked to wait `retry_after` seconds (Telegram 429, Slack/Discord 429)."""

    def __init__(self, retry_after: float, message: str = "") -> None:
        super().__init__(message or f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after


class SinkRejectedMarkup(SinkError):
    """The platform refused the formatted text (Telegram "can't parse entities")."""


class SinkMessageGone(SinkError):
    """The message to edit no longer exists (deleted by a user); send a new one instead."""


@dataclass(frozen=True, slots=True)
class SinkText:
    """Text for a sink: platform markup, or plain text after the platform rejected the markup."""

    text: str
    markup: bool = True


class EditBudget(Protocol):
    """How often one chat may be written to: its own rate plus pools it shares with other chats.

    `acquire` waits until every bucket has room and takes one unit from each; `pause` stops the
    chat for exactly `seconds` after the platform answered with a retry-after.
    """

    async def acquire(self) -> None: ...

    def pause(self, seconds: float) -> None: ...

    def describe(self) -> str:
        """For logs and benchmarks: "1/1.0s per chat; 30/1.0s per bot"."""
        ...


class MessageSink(Protocol):
    """Where `render()` writes one reply: a chat, thread or DM of one platform.

    Handles are opaque to the renderer. `send`/`edit` show an in-progress reply (with controls
    such as a Stop button); `finish` sets a message's final content and removes the controls.
    A "not modified" answer is success. Errors: `SinkRateLimited`, `SinkRejectedMarkup`,
    `SinkMessageGone`, other `SinkError`s.
    """

    max_len: int  # per message, in the unit `measure` counts
    typing_interval: float  # seconds between typing renewals; 0 = the platform has none
    keepalive: float  # re-send unchanged in-progress content this often (drafts); 0 = never

    @property
    def budget(self) -> EditBudget:
        """The chat's write budget, shared with other replies in the same chat and pools."""
        ...

    def format(self, markdown: str, *, partial: bool = False) -> str:
        """Platform markup for `markdown`; `partial` while the reply is still streaming."""
        ...

    def plain(self, markdown: str) -> str:
        """The plain-text fallback for `markdown`."""
        ...

    def measure(self, markdown: str) -> int:
        """The length the platform counts for `markdown` once converted (and as plain text)."""
        ...

    async def send(self, text: SinkText, *, reply_to: Any = None, final: bool = False) -> Any:
        """Post a new message (replying to `reply_to`, or the sink's own default); its handle."""
        ...

    async def edit(self, handle: Any, text: SinkText) -> None:
        """Replace the in-progress content of a message."""
        ...

    async def finish(self, handle: Any, text: SinkText) -> Any:
        """Set the final content and remove controls; returns the (possibly new) handle."""
        ...

    async def delete(self, handle: Any) -> None: ...

    async def typing(self) -> None:
        """Show "typing…" (lasts a few seconds on most platforms)."""
        ...
