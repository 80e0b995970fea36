"""The routing port: which backend and model answer a request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from hub.core.models import User
from hub.core.ports.backends import (
    ChatRequest,
    Embeddings,
    EmbedRequest,
    ModelChange,
    ModelInfo,
    ModelOperation,
)


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What routing rules may match on, and the model asked for (None = defaults apply).

    `command` is the HTTP route ("chat", "generate"); `typed_command` the prompt command the
    user typed (`/code …` in a chat, or as an HTTP client's last message). A rule's `command`
    matches either.
    """

    user: User
    platform: str
    chat_id: str
    requested_model: str | None = None
    command: str | None = None
    typed_command: str | None = None


@dataclass(frozen=True, slots=True)
class ModelListing:
    """One entry of the hub's model list: a real model or an alias, and where it runs."""

    name: str
    backends: tuple[str, ...]
    info: ModelInfo | None = None
    alias_of: tuple[str, ...] = ()
    context_window: int | None = None  # tokens, when known (configured, reported or learned)


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
        """The model's context window in tokens: configured, reported by its server, or learned
        from overflows; None when nothing is known."""
        ...

    async def show(self, model: str) -> Mapping[str, Any] | None: ...


@runtime_checkable
class RoutesEmbeddings(Protocol):
    """A router that also serves embeddings (through its fair queue, with failover)."""

    async def embed(self, ctx: RouteContext, request: EmbedRequest) -> Embeddings: ...


class ModelFleet(Protocol):
    """The backends as an administrator manages them (the router's `fleet`)."""

    def placement(
        self, operation: ModelOperation, model: str, backend: str | None = None
    ) -> list[str]:
        """The backend names `operation` on `model` goes to: the one named, the model's home(s),
        or the configured default; raises `BackendError` (not_found, unsupported)."""
        ...

    def change_models(
        self, backend: str, change: ModelChange
    ) -> AsyncIterator[Mapping[str, Any]]: ...

    async def has_blob(self, backend: str, digest: str) -> bool: ...

    async def push_blob(self, backend: str, digest: str, data: AsyncIterator[bytes]) -> None: ...

    async def refresh(self, backends: Sequence[str]) -> None:
        """Read these backends' model lists now."""
        ...

    async def load(self, model: str, keep_alive: str | int | float | None) -> str:
        """Load or unload `model` everywhere it runs; returns Ollama's `done_reason`."""
        ...

    async def version(self) -> str | None:
        """The lowest version among the Ollama backends, None when none says."""
        ...
