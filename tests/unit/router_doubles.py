"""Test doubles for the router: a scripted ChatBackend, a fake clock, and small helpers.

`ScriptedBackend` is our own implementation of the `ChatBackend` Protocol (no library is
patched). Each call to `chat` takes the next `Plan` from `plans` (or `default`), which says how
the reply fails or streams; `gate` holds every reply before its first chunk until it is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.core.models import ChatMessage, Metrics, User
from hub.core.ports import (
    BackendChunk,
    BackendError,
    ChatRequest,
    Delta,
    Final,
    ModelInfo,
    RouteContext,
    SlotScheduler,
)
from hub.core.router import Router
from hub.core.routing.state import Target
from hub.core.routing_config import BackendConfig, RoutingConfig


@dataclass
class Plan:
    """How one reply goes: fail before the first chunk, or stream `deltas` and maybe break."""

    fail_before: BackendError | None = None
    deltas: tuple[str, ...] = ("Hel", "lo")
    fail_after: BackendError | None = None  # raised after the deltas, instead of Final
    delay: float = 0.0  # seconds before the first chunk (or the failure)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ScriptedBackend:
    name: str
    models: list[str] = field(default_factory=lambda: ["llama3:latest"])
    default: Plan = field(default_factory=Plan)
    plans: list[Plan] = field(default_factory=list)
    gate: asyncio.Event | None = None
    probe_error: BackendError | None = None
    show_body: Mapping[str, Any] | None = None
    calls: list[ChatRequest] = field(default_factory=list)
    active: int = 0
    peak: int = 0  # the most replies it streamed at once
    closed: int = 0
    probes: int = 0
    show_calls: int = 0

    def chat(self, request: ChatRequest) -> AsyncIterator[BackendChunk]:
        plan = self.plans.pop(0) if self.plans else self.default
        return self._reply(request, plan)

    async def _reply(self, request: ChatRequest, plan: Plan) -> AsyncIterator[BackendChunk]:
        self.calls.append(request)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if plan.delay:
                await asyncio.sleep(plan.delay)
            if plan.fail_before is not None:
                raise plan.fail_before
            for text in plan.deltas:
                yield Delta(text=text)
                await asyncio.sleep(0)
            if plan.fail_after is not None:
                raise plan.fail_after
            yield Final(metrics=Metrics(completion_tokens=len(plan.deltas)))
        finally:
            self.active -= 1
            self.closed += 1

    async def list_models(self) -> list[ModelInfo]:
        if self.probe_error is not None:
            raise self.probe_error
        return [ModelInfo(name=m) for m in self.models]

    async def show(self, model: str) -> Mapping[str, Any] | None:
        self.show_calls += 1
        return self.show_body

    async def probe(self) -> None:
        self.probes += 1
        if self.probe_error is not None:
            raise self.probe_error

    async def aclose(self) -> None:
        pass


def make_router(
    backends: list[ScriptedBackend],
    *,
    max_concurrency: int | dict[str, int] = 4,
    priority: dict[str, int] | None = None,
    clock: Callable[[], float] | None = None,
    default_model: str | None = None,
    backend_settings: dict[str, dict[str, Any]] | None = None,
    slots: SlotScheduler[Target] | None = None,
    **routing: Any,
) -> Router:
    def cap(name: str) -> int:
        if isinstance(max_concurrency, int):
            return max_concurrency
        return max_concurrency.get(name, 4)

    configs = [
        BackendConfig(
            name=b.name,
            url=f"http://{b.name}.invalid",
            max_concurrency=cap(b.name),
            priority=(priority or {}).get(b.name, 0),
            **(backend_settings or {}).get(b.name, {}),
        )
        for b in backends
    ]
    config = RoutingConfig(backends=configs, **routing)
    if clock is None:
        return Router(config, backends, default_model=default_model, slots=slots)
    return Router(config, backends, default_model=default_model, clock=clock, slots=slots)


def user(uid: str = "u1", role: str = "user", model: str | None = None) -> User:
    return User(id=uid, name=uid, role=role, model=model)  # type: ignore[arg-type]


def ctx(
    who: User | None = None,
    *,
    platform: str = "telegram",
    chat_id: str = "c1",
    requested: str | None = None,
    command: str | None = None,
) -> RouteContext:
    return RouteContext(
        user=who or user(),
        platform=platform,
        chat_id=chat_id,
        requested_model=requested,
        command=command,
    )


def request(model: str = "llama3", text: str = "hi") -> ChatRequest:
    return ChatRequest(model=model, messages=(ChatMessage(role="user", content=text),))


async def collect(events: AsyncIterator[Any]) -> list[Any]:
    return [e async for e in events]


async def until(condition: Callable[[], bool], *, turns: int = 2000) -> None:
    """Let the loop run until `condition` holds (counted in loop turns, not in seconds)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def eventually(condition: Callable[[], bool], *, limit: float = 20.0) -> None:
    """Poll `condition` while real time passes (background tasks, sockets); `limit` only
    bounds a hung test, it is not a timing assertion."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0.002)


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta))


def spawn(coro: Awaitable[Any]) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)
