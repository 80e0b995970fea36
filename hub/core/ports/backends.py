"""The model-backend port: what the core asks a model server for, and what streams back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from hub.core.models import (
    ChatMessage,
    Metrics,
)


@dataclass(frozen=True, slots=True)
class Completion:
    """A prompt completion (Ollama's `/api/generate`) rather than a chat turn.

    The prompt, system prompt and images are the request's messages (so a chat-only backend
    can still answer a plain completion); these are the fields only `/api/generate` has.
    """

    suffix: str | None = None  # text after the insertion point (fill-in-the-middle)
    template: str | None = None  # overrides the model's prompt template
    raw: bool = False  # the prompt is sent as is, without any template
    context: tuple[int, ...] | None = None  # tokens of an earlier reply (deprecated by Ollama)

    @property
    def native_only(self) -> list[str]:
        """The fields set that only Ollama's `/api/generate` understands."""
        fields = {
            "suffix": self.suffix is not None,
            "template": self.template is not None,
            "raw": self.raw,
            "context": self.context is not None,
        }
        return [name for name, used in fields.items() if used]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the core asks a backend for: the whole (trimmed) history plus pass-through options.

    `completion` is set for `/api/generate` requests: backends that can send a completion as
    such do (Ollama), others answer the messages as a chat or refuse what they cannot do.
    """

    model: str
    messages: tuple[ChatMessage, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    keep_alive: str | int | None = None
    format: Any = None
    think: Any = None
    tools: Sequence[Mapping[str, Any]] | None = None
    completion: Completion | None = None
    # The caller's estimate of the prompt's size in tokens (0 = unknown): a stream that drops
    # before its first token right after a prompt larger than any that worked tells the
    # router the model's context window is smaller than this.
    prompt_estimate: int = 0


@dataclass(frozen=True, slots=True)
class Delta:
    """One streamed piece: reply text and/or extra output (thinking, tool_calls)."""

    text: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Final:
    """The backend's last chunk, carrying its metrics and any fields of the reply that only the
    last chunk has (Ollama's `context` for a completion)."""

    metrics: Metrics
    extra: Mapping[str, Any] = field(default_factory=dict)


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
class ReportsContextWindows(Protocol):
    """A backend that can say how many tokens each model's context window holds."""

    async def context_windows(self, models: Sequence[ModelInfo]) -> Mapping[str, int]:
        """The windows the server reports for `models` (model name -> tokens); models it says
        nothing about are left out. Raises `BackendError` only when the server is unreachable."""
        ...


@runtime_checkable
class ReportsRunning(Protocol):
    """A backend that can tell which models are loaded in memory (Ollama's `/api/ps`)."""

    async def running(self) -> list[dict[str, Any]]:
        """The `/api/ps` items, every upstream field kept; raises `BackendError`."""
        ...


# --- embeddings ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    """Texts to turn into vectors (Ollama's `/api/embed`, OpenAI's `/embeddings`).

    `legacy` asks for Ollama's older `/api/embeddings` (one prompt, vectors not normalised),
    which an Ollama backend serves as such; other servers answer it like any request.
    """

    model: str
    inputs: tuple[str, ...]
    truncate: bool | None = None  # Ollama: cut inputs to the context window (its default)
    dimensions: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    keep_alive: str | int | float | None = None
    legacy: bool = False


@dataclass(frozen=True, slots=True)
class Embeddings:
    """The vectors, one per input and in order, and what the server reported."""

    vectors: list[list[float]]
    model: str = ""
    prompt_tokens: int = 0  # 0 = the server did not say
    total_duration: int = 0  # ns
    load_duration: int = 0  # ns


@runtime_checkable
class Embeds(Protocol):
    """A backend that computes embeddings."""

    async def embed(self, request: EmbedRequest) -> Embeddings:
        """The vectors for `request.inputs`; raises `BackendError` (kind "not_found" for an
        unknown model)."""
        ...


# --- model management ---------------------------------------------------------------------------

ModelOperation = Literal["pull", "push", "create", "copy", "delete"]


@dataclass(frozen=True, slots=True)
class ModelChange:
    """An administrator's change to the models of one server, in Ollama's request shape
    (`/api/pull`, `/api/push`, `/api/create`, `/api/copy`, `/api/delete`): `body` is what the
    client sent (`model`, `insecure`, `from`, `files`, `source`, `destination`…)."""

    operation: ModelOperation
    body: Mapping[str, Any]


@runtime_checkable
class ManagesModels(Protocol):
    """A backend whose models can be pulled, pushed, created, copied and deleted."""

    def change_models(self, change: ModelChange) -> AsyncIterator[Mapping[str, Any]]:
        """Run `change`, yielding the server's progress objects (`{"status": …, "digest",
        "total", "completed"}`) as they come; copy and delete yield none. Raises
        `BackendError` before the first one when the server refuses (its status kept), kind
        "unsupported" when this kind of server has no such thing. Closing the iterator early
        cancels the change (a pull stops downloading)."""
        ...

    async def has_blob(self, digest: str) -> bool:
        """Whether the server holds the file `digest` (`sha256:…`) for a model to be created."""
        ...

    async def push_blob(self, digest: str, data: AsyncIterator[bytes]) -> None:
        """Upload a file for `create` (its `files` name blobs by digest); raises `BackendError`
        (status 400 when the data does not match the digest)."""
        ...


@runtime_checkable
class LoadsModels(Protocol):
    """A backend that can load a model into memory ahead of use, or unload it (Ollama)."""

    async def load(self, model: str, keep_alive: str | int | float | None) -> str:
        """Load `model` (`keep_alive` 0: unload it); returns Ollama's `done_reason` ("load" or
        "unload"). Raises `BackendError` (kind "not_found" for an unknown model)."""
        ...


@runtime_checkable
class ReportsVersion(Protocol):
    """A backend that says which version of its server runs (Ollama's `/api/version`)."""

    async def version(self) -> str | None:
        """The server's version string, or None when it does not say; raises `BackendError`."""
        ...
