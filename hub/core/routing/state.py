"""Per-backend runtime state the router shares between selection, health and the queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hub.core.ports import ChatBackend, ModelInfo
from hub.core.routing_config import BackendConfig

_LATEST = ":latest"


def canonical(name: str) -> str:
    """The name used to compare models: `llama3:latest` and `llama3` are the same model.

    Stock Open WebUI appends `:latest` to names without a tag, and Ollama lists untagged pulls
    with it, so both spellings must reach the same model or alias.
    """
    return name[: -len(_LATEST)] if name.endswith(_LATEST) else name


@dataclass(eq=False)
class BackendState:
    """One backend as the router sees it: load, health and its last known model list.

    `models` is None until the backend has listed its models once; the router then treats the
    backend as a possible home for any plain model name rather than refusing the request.
    """

    config: BackendConfig
    backend: ChatBackend
    index: int
    in_flight: int = 0
    # Consecutive failures, counted apart: a backend can pass its health checks while every
    # request times out, so a good probe must not wipe out a run of failed requests.
    probe_failures: int = 0
    request_failures: int = 0
    streak_users: set[str] = field(default_factory=set)  # whose requests make up the streak
    down: bool = False
    down_since: float = 0.0  # clock time it went down
    down_until: float = 0.0  # probed again by then at the latest (`routing.cooldown`)
    ever_ok: bool = False
    last_error: str = ""
    models: dict[str, ModelInfo] | None = None  # canonical name -> info, in listing order
    next_probe: float = 0.0  # clock time the next health check is due
    probing: asyncio.Event | None = None  # set while a probe runs; requests wait for it

    async def quiet(self) -> None:
        """Wait until no probe of this backend is running (so a request never overlaps one)."""
        while (probing := self.probing) is not None:
            await probing.wait()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def failures(self) -> int:
        return max(self.probe_failures, self.request_failures)

    @property
    def capacity(self) -> int:
        return self.config.max_concurrency

    @property
    def has_slot(self) -> bool:
        return self.in_flight < self.config.max_concurrency

    @property
    def load(self) -> float:
        return self.in_flight / self.config.max_concurrency

    def set_models(self, infos: list[ModelInfo]) -> None:
        listing: dict[str, ModelInfo] = {}
        for info in infos:
            listing.setdefault(canonical(info.name), info)
        self.models = listing


@dataclass(frozen=True, eq=False)
class Target:
    """One way to serve a request: `model` (the name that backend knows) on `state`'s backend."""

    state: BackendState
    model: str
    order: int = 0  # position in the alias's candidate list or the backend config order

    @property
    def label(self) -> str:
        return f"{self.state.name}/{self.model}"

    def same_as(self, other: Target) -> bool:
        return self.state is other.state and canonical(self.model) == canonical(other.model)


@dataclass
class Attempt:
    """A failed try, kept to explain the final error when every candidate failed."""

    target: Target
    reason: str
    kind: str
