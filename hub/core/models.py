"""Core value types shared by every edge: messages in, reply events out, stored records.

All are frozen dataclasses: they cross task boundaries and are cached, so nothing may mutate them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
UserRole = Literal["admin", "user", "pending"]
PromptScope = Literal["personal", "global"]


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- identities -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlatformUser:
    """Who sent a message, as the platform knows them (Telegram user id, Slack user id…)."""

    platform: str
    platform_user_id: str
    display_name: str = ""
    language: str = ""


@dataclass(frozen=True, slots=True)
class User:
    """A hub user. One hub user may own several platform identities and an HTTP login."""

    id: str
    name: str
    role: UserRole = "user"
    email: str | None = None
    password_hash: str | None = None
    model: str | None = None  # the user's own /model choice; None = defaults apply
    language: str = ""
    profile_image_url: str = ""
    created_at: datetime = field(default_factory=utcnow)
    disabled: bool = False  # refused everywhere (sign-in, tokens, API keys, bots) until enabled


@dataclass(frozen=True, slots=True)
class Identity:
    """A platform identity linked to a hub user (`telegram`/`12345` → user id)."""

    platform: str
    platform_user_id: str
    user_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.platform_user_id}"


# --- conversations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """Where a conversation lives: one per platform chat, thread and platform user."""

    platform: str
    chat_id: str
    thread_id: str
    user_id: str

    def as_str(self) -> str:
        return f"{self.platform}:{self.chat_id}:{self.thread_id}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation; `/new` closes the active one and opens another under the same key."""

    id: str
    key: ConversationKey
    user_id: str
    created_at: datetime = field(default_factory=utcnow)
    active: bool = True


@dataclass(frozen=True, slots=True)
class Turn:
    """One stored message of a conversation.

    `typed_text` keeps what the user typed when `text` is a prompt command's expansion.
    `interrupted` marks an assistant turn that ended early (failure, /stop, shutdown).
    """

    role: Role
    text: str
    created_at: datetime = field(default_factory=utcnow)
    model: str | None = None
    backend: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    interrupted: bool = False
    typed_text: str | None = None
    id: str = ""


# --- chat traffic -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A message as sent to a model backend (Ollama/OpenAI shape)."""

    role: str
    content: str
    images: tuple[str, ...] = ()
    # Fields the hub does not interpret but must forward (tool_calls, thinking, tool_name…).
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message. `size` is what the platform reports (0 = unknown).

    `fetch` downloads it: connectors pass the platform's download, so nothing is fetched for a
    message that is refused, or for a model that could not use it anyway.
    """

    kind: Literal["image", "file"]
    mime: str = ""
    size: int = 0
    name: str = ""
    fetch: Callable[[], Awaitable[bytes]] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A message from any edge, normalised. The only input of `ChatService.reply`.

    Bots send `text` and let the hub keep history. HTTP clients that send their own history set
    `history` (the whole `messages` list); the hub then forwards it instead of the stored one.
    A bot message that continues one branch of a conversation (a Discord reply chain) sets
    `chain`, the earlier messages of that branch, oldest first: they stand in for the stored
    history while commands, limits, trimming and persistence apply as usual.
    """

    platform: str
    chat_id: str
    user: PlatformUser
    text: str
    thread_id: str = ""
    message_id: str = ""
    reply_to_text: str | None = None
    chat_name: str = ""
    is_group: bool = False
    workspace_id: str = ""  # Slack team, Discord guild: limits and allow lists may scope by it
    attachments: tuple[Attachment, ...] = ()  # images (and files) sent with the text
    hub_user_id: str | None = None  # set by HTTP edges that already authenticated a hub user
    model: str | None = None  # explicit model request (HTTP); bots leave it None
    history: tuple[ChatMessage, ...] | None = None
    chain: tuple[ChatMessage, ...] | None = None  # the branch's history (bots; see above)
    roles: tuple[str, ...] = ()  # the sender's roles where the platform has them (Discord)
    options: Mapping[str, Any] = field(default_factory=dict)
    passthrough: Mapping[str, Any] = field(default_factory=dict)  # format, keep_alive, think, tools
    command: str | None = None  # the HTTP route ("chat", "generate"), for routing rules
    # A service client (an API key: Open WebUI's background tasks, scripts) that would rather
    # wait for one of its person's replies to end than be refused at `concurrent_per_user`.
    may_wait: bool = False
    typed_command: str | None = None  # the prompt command it expanded (set by the pipeline)
    received_at: datetime = field(default_factory=utcnow)
    # The limits were charged when the request was accepted (a job, at submission): the
    # pipeline does not charge them again, and the reply waits in the fair queue instead of
    # being refused for a concurrency limit. Token usage still counts.
    admitted: bool = False

    @property
    def key(self) -> ConversationKey:
        return ConversationKey(
            self.platform, self.chat_id, self.thread_id, self.user.platform_user_id
        )


@dataclass(frozen=True, slots=True)
class Metrics:
    """Generation metrics as Ollama reports them (durations in nanoseconds)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_duration: int = 0
    eval_duration: int = 0
    done_reason: str = "stop"
    estimated: bool = False  # the token counts are the hub's estimate: the server sent none


# --- reply events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """Generation began on `backend` with `model` (after routing, before the first token)."""

    model: str
    backend: str


@dataclass(frozen=True, slots=True)
class Queued:
    """Waiting for a free backend slot; `position` requests are ahead (0 = next)."""

    position: int


@dataclass(frozen=True, slots=True)
class Text:
    """A piece of reply text, in order."""

    delta: str


@dataclass(frozen=True, slots=True)
class Extra:
    """Non-text model output the HTTP edges forward (thinking, tool calls)."""

    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Notice:
    """A message from the hub itself (command output, "older turns were dropped")."""

    text: str


@dataclass(frozen=True, slots=True)
class Done:
    """The reply finished. `text` is the complete reply; `model`/`backend` name who answered."""

    text: str
    model: str | None = None
    backend: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    final: Mapping[str, Any] = field(default_factory=dict)  # e.g. Ollama's `context`


@dataclass(frozen=True, slots=True)
class Failed:
    """The reply could not be completed. `reason` is a sentence a user can act on.

    `code` lets HTTP edges pick a status: not_found, rate_limited, busy, limiter_unavailable,
    unavailable, bad_request, cancelled, forbidden, restarting (the hub is shutting down),
    backend_down (every backend with the model is held back after failures; `retry_after` says
    when it is checked again), store_unavailable (the database is down: try again).
    """

    reason: str
    partial_text: str = ""
    code: str = "unavailable"
    retry_after: float | None = None
    model: str | None = None
    # Set when code == "rate_limited", for RateLimit-* headers on HTTP.
    limit: int = 0
    remaining: int = 0
    reset_after: float = 0.0


ReplyEvent = Started | Queued | Text | Extra | Notice | Done | Failed


# --- prompts, web chats, usage ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prompt:
    """A `/command` prompt template. `command` keeps its leading slash."""

    command: str
    title: str
    content: str
    owner_id: str
    scope: PromptScope = "personal"
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class WebChat:
    """An Open WebUI chat: the `chat` object is kept verbatim. Times are epoch seconds."""

    id: str
    user_id: str
    title: str
    chat: Mapping[str, Any]
    created_at: int
    updated_at: int
    archived: bool = False
    share_id: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one user with one model on one UTC day (`day` is YYYY-MM-DD)."""

    user_id: str
    model: str
    day: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Tokens of replies whose counts are the hub's estimate (the server reported none).
    estimated_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
