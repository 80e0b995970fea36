"""ModelRouter: aliases, rules, per-user choice, health, failover and a fair queue.

The parts live in `hub.core.routing` (selection, catalog, health, fair_queue, failover); this
module wires them into `Router`, the one object the rest of the hub talks to. It is built from
settings by `hub/bootstrap.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from hub.core.backends.ollama import show_with_window
from hub.core.cancel_safe import run_to_completion
from hub.core.models import Queued, Started, User
from hub.core.ports import (
    BackendChunk,
    BackendError,
    ChatBackend,
    ChatRequest,
    ContextOverflow,
    Delta,
    Embeddings,
    EmbedRequest,
    Embeds,
    Final,
    ModelListing,
    ReportsRunning,
    RouteContext,
    SlotScheduler,
    SlotTicket,
)
from hub.core.routing import failover
from hub.core.routing.catalog import Catalog
from hub.core.routing.fair_queue import Scheduler
from hub.core.routing.fleet import Fleet
from hub.core.routing.health import Health, blame
from hub.core.routing.selection import Selector, rank
from hub.core.routing.state import Attempt, BackendState, Target, canonical
from hub.core.routing.windows import ContextWindows
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.core.wording import SEE_MODELS

log = logging.getLogger(__name__)

RouterEvent = Queued | Started | Delta | Final
BackendFactory = Callable[[BackendConfig], ChatBackend]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """One backend's state for /ready, /metrics and logs."""

    name: str
    up: bool
    in_flight: int
    max_concurrency: int
    failures: int
    last_error: str
    retry_in: float
    models: int | None  # None until the backend has listed its models once


class Router:
    """The hub's `ModelRouter`.

    `backends` pair up, in order and by name, with `config.backends`. Call `start()` once on
    the running loop (it probes every backend, then keeps probing in the background) and
    `stop()` at shutdown; `aclose()` also closes the backends. `clock` is a monotonic clock in
    seconds, replaceable in tests. `slots` hands out backend slots through the fair queue: the
    embedded one by default, the Redis one (shared by every replica) when given.
    """

    def __init__(
        self,
        config: RoutingConfig,
        backends: Sequence[ChatBackend],
        *,
        default_model: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        slots: SlotScheduler[Target] | None = None,
    ) -> None:
        configured = [b.name for b in config.backends]
        given = [b.name for b in backends]
        if configured != given:
            raise ValueError(f"backends {given} do not match routing.backends {configured}")
        self._config = config
        self._clock = clock
        self._states = [
            BackendState(cfg, backend, i)
            for i, (cfg, backend) in enumerate(zip(config.backends, backends, strict=True))
        ]
        self._catalog = Catalog(config, self._states)
        self._selector = Selector(config, self._catalog, default_model)
        self._scheduler: SlotScheduler[Target] = slots or Scheduler(config.queue_limit)
        self._windows = ContextWindows(config.context_cache_ttl, clock)
        self._health = Health(self._states, config, clock, self._scheduler.dispatch, self._windows)
        self._task: asyncio.Task[None] | None = None
        # Model management, loading and versions (`ModelFleet`), for the Ollama routes.
        self.fleet = Fleet(
            self._states, self._catalog, self._scheduler.dispatch, pull_backend=config.pull_backend
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Probe every backend once (so dead ones are known before traffic), then keep probing."""
        if self._task is not None:
            return
        await self._health.probe_all()
        self._task = asyncio.create_task(self._monitor(), name="router-health")

    async def stop(self) -> None:
        """Stop the background probing. Requests in flight are not touched."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        """Stop probing and close every backend."""
        await self.stop()
        for state in self._states:
            try:
                await state.backend.aclose()
            except Exception:  # one backend failing to close must not leak the others
                log.warning(
                    "closing a backend failed", extra={"backend": state.name}, exc_info=True
                )

    async def probe_now(self) -> None:
        """Probe every idle backend now (the background task probes each every interval)."""
        await self._health.probe_all()

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(self._health.next_wait())
            try:
                await self._health.probe_due()
            except Exception:  # keep probing whatever one round did
                log.exception("health probe round failed")

    # --- selection ----------------------------------------------------------------------------

    def resolve(self, ctx: RouteContext) -> str:
        """The model or alias for this request (rule → requested → user → chat → global)."""
        return self._selector.resolve(ctx)

    def allowed(self, user: User, model: str) -> bool:
        """Whether `user` may choose `model` with /model (known here and allowed for the role)."""
        return self._selector.allowed(user, model)

    def status(self) -> list[BackendStatus]:
        return [
            BackendStatus(
                name=s.name,
                up=not s.down,
                in_flight=s.in_flight,
                max_concurrency=s.capacity,
                failures=s.failures,
                last_error=s.last_error,
                retry_in=self._health.retry_in(s),
                models=None if s.models is None else len(s.models),
            )
            for s in self._states
        ]

    @property
    def backends(self) -> list[ChatBackend]:
        """Every configured backend, in config order (for readiness checks)."""
        return [s.backend for s in self._states]

    @property
    def queued(self) -> int:
        """Requests waiting for a slot right now."""
        return self._scheduler.waiting

    # --- streaming ----------------------------------------------------------------------------

    async def stream(self, ctx: RouteContext, request: ChatRequest) -> AsyncIterator[RouterEvent]:
        """Serve `request` (its `model` from `resolve`; empty = resolve here) for `ctx.user`.

        Yields `Queued(position)` while waiting (again whenever the position changes), one
        `Started(model, backend)` naming who answers, then that backend's `Delta`s and `Final`.
        A candidate failing before its first chunk is replaced by the next one silently; a
        failure after it raises `BackendError(kind="stream")`. Raises `BackendError` when the
        queue is full (kind "busy") or no candidate could answer.

        Consume it inside `contextlib.aclosing(...)`: then a cancelled consumer leaves the queue
        or frees its slot (and closes the upstream request) at once, not when the generator is
        garbage-collected.
        """
        name = request.model or self.resolve(ctx)
        targets = self._catalog.targets(name)
        failed: list[Attempt] = []
        while True:
            pending = [t for t in targets if not any(t.same_as(a.target) for a in failed)]
            if all(t.state.down for t in pending):
                down = [t for t in pending if t.state.down]
                raise failover.exhausted(name, failed, down, self._retry_in)
            try:
                attempt = self._attempt(ctx.user.id, pending, request)
                async with contextlib.aclosing(attempt) as ev:
                    async for event in ev:
                        yield event
                return
            except failover.EarlyFailure as early:
                failed.append(early.attempt)
                log.info(
                    "failing over",
                    extra={"target": early.attempt.target.label, "error": early.attempt.reason},
                )
            except failover.TargetsLost:
                continue

    async def _attempt(
        self, user_id: str, targets: Sequence[Target], request: ChatRequest
    ) -> AsyncGenerator[RouterEvent, None]:
        ticket = await self._scheduler.enter(user_id, targets)
        try:
            async with contextlib.aclosing(_wait_for_slot(ticket)) as positions:
                async for queued in positions:
                    yield queued
            target = ticket.target
            assert target is not None  # _wait_for_slot returns only once a slot is granted
            await target.state.quiet()  # never alongside a health check of the same server
            chunks = _open(target, request)
            try:
                chunk = await failover.first_chunk(
                    target,
                    chunks,
                    lambda t, error: self._failure(t, error, user_id),
                    lambda error: self._classify(target, request, error),
                )
                self._health.record_success(target.state)
                self._windows.answered(target, request.prompt_estimate)
                yield Started(model=target.model, backend=target.state.name)
                yield chunk
                while not isinstance(chunk, Final):
                    chunk = await self._next_chunk(target, chunks, user_id)
                    yield chunk
            finally:
                await failover.close_quietly(chunks)
        finally:
            # Shielded: a cancelled reader must still give the slot back (on Redis a
            # round trip), or it stays taken until its lease expires.
            await run_to_completion(ticket.close())

    # --- single calls (embeddings) -------------------------------------------------------------

    async def embed(self, ctx: RouteContext, request: EmbedRequest) -> Embeddings:
        """Vectors from a backend serving `request.model`, through the fair queue and with
        failover like a reply. Routing rules do not apply (they pick chat models); the role's
        allowlist does."""
        if not self._selector.permitted(ctx.user, request.model):
            raise BackendError(
                f"You may not use the model '{request.model}'. {SEE_MODELS.chat}",
                kind="forbidden",
            )

        async def embed(backend: ChatBackend, model: str) -> Embeddings:
            if not isinstance(backend, Embeds):
                reason = f"'{backend.name}' cannot compute embeddings."
                raise BackendError(reason, kind="unsupported")
            return await backend.embed(replace(request, model=model))

        return await self.call(ctx, request.model, embed)

    async def call(
        self, ctx: RouteContext, name: str, op: Callable[[ChatBackend, str], Awaitable[T]]
    ) -> T:
        """Run `op(backend, model)` on a target of `name` once it holds a slot (queued fairly
        by user); a target failing is replaced by the next, as before a reply's first token."""
        targets = self._catalog.targets(name)
        failed: list[Attempt] = []
        while True:
            pending = [t for t in targets if not any(t.same_as(a.target) for a in failed)]
            if all(t.state.down for t in pending):
                down = [t for t in pending if t.state.down]
                raise failover.exhausted(name, failed, down, self._retry_in)
            ticket = await self._scheduler.enter(ctx.user.id, pending)
            try:
                async with contextlib.aclosing(_wait_for_slot(ticket)) as positions:
                    async for _ in positions:
                        pass
                target = ticket.target
                assert target is not None
                await target.state.quiet()
                try:
                    result = await op(target.state.backend, target.model)
                except Exception as exc:
                    error = failover.as_backend_error(target, exc)
                    if failover.is_request_fault(error):
                        raise error from None
                    self._failure(target, error, ctx.user.id)
                    failed.append(Attempt(target, error.reason, error.kind))
                    continue
                self._health.record_success(target.state)
                return result
            except failover.TargetsLost:
                continue
            finally:
                await run_to_completion(ticket.close())

    def _classify(self, target: Target, request: ChatRequest, error: BackendError) -> BackendError:
        """An error before the first token, as the context overflow it may really be."""
        if isinstance(error, ContextOverflow):
            self._windows.overflowed(target, error)
            return error
        if error.kind == "dropped":
            overflow = self._windows.dropped(target, request.prompt_estimate)
            if overflow is not None:
                if overflow.below is not None:
                    self._windows.overflowed(target, overflow)
                return overflow
        return error

    async def _next_chunk(
        self, target: Target, chunks: AsyncIterator[BackendChunk], user_id: str
    ) -> BackendChunk:
        try:
            return await anext(chunks)
        except StopAsyncIteration:
            error = BackendError(
                "the model server closed the stream before finishing.", kind="stream"
            )
        except Exception as exc:
            error = failover.as_backend_error(target, exc)
        self._failure(target, error, user_id)
        raise failover.broke_off(target, error)

    def _failure(self, target: Target, error: BackendError, user_id: str) -> None:
        verdict = blame(error)
        if verdict != "request":
            who = user_id if verdict == "unclear" else None
            self._health.record_failure(target.state, error.reason, user=who)

    def _retry_in(self, target: Target) -> float:
        return self._health.retry_in(target.state)

    # --- model information --------------------------------------------------------------------

    async def models(self) -> list[ModelListing]:
        """Aliases with an up candidate, then every up backend's models, each once, with the
        context window where known."""
        return [
            replace(listing, context_window=self._window(listing.name))
            for listing in self._catalog.listings()
        ]

    async def running(self) -> list[dict[str, Any]]:
        """Models loaded on the up backends now (`/api/ps` items, upstream fields kept), named
        as `models()` names them. Backends are asked concurrently; OpenAI-kind ones cannot
        tell and one that fails to answer contributes nothing."""
        states = [s for s in self._states if not s.down and isinstance(s.backend, ReportsRunning)]
        answers = await asyncio.gather(*(self._running_on(s) for s in states))
        loaded: dict[tuple[int, str], dict[str, Any]] = {}
        for state, items in zip(states, answers, strict=True):
            for item in items:
                name = str(item.get("model") or item.get("name") or "")
                if name:
                    loaded.setdefault((state.index, canonical(name)), item)
        return self._catalog.running(loaded)

    async def _running_on(self, state: BackendState) -> list[dict[str, Any]]:
        assert isinstance(state.backend, ReportsRunning)
        try:
            return await state.backend.running()
        except BackendError as exc:
            log.info(
                "listing running models failed", extra={"backend": state.name, "error": exc.reason}
            )
            return []

    async def show(self, model: str) -> Mapping[str, Any] | None:
        """The `/api/show` body from the least busy up backend that has `model`, its
        `parameters` stating the window the hub uses (`num_ctx`, as Ollama's do). Raises
        `BackendError` (kind "down") when every backend that has it is held back."""
        targets = self._targets(model)
        for target in rank(targets):
            body = await self._show(target)
            if body is not None:
                return show_with_window(body, self._windows.window(target))
        if targets and all(t.state.down for t in targets):
            raise failover.exhausted(model, [], targets, self._retry_in)
        return None

    async def context_window(self, model: str) -> int | None:
        """The model's context window; for an alias, the smallest among its candidates.

        Read from what the hub knows (the YAML, the servers' reports read by the health
        checks, overflows): no request goes to a backend for it.
        """
        return self._window(model)

    def _window(self, model: str) -> int | None:
        windows = [w for t in self._targets(model) if (w := self._windows.window(t))]
        return min(windows) if windows else None

    def _targets(self, model: str) -> list[Target]:
        try:
            return self._catalog.targets(model)
        except BackendError:
            return []

    async def _show(self, target: Target) -> Mapping[str, Any] | None:
        try:
            return await target.state.backend.show(target.model)
        except BackendError as exc:
            log.info("show failed", extra={"target": target.label, "error": exc.reason})
            return None


async def _wait_for_slot(ticket: SlotTicket[Target]) -> AsyncGenerator[Queued, None]:
    """Yield the ticket's queue position each time it changes until it holds a slot."""
    shown = -1
    while ticket.target is None:
        if ticket.lost:
            raise failover.TargetsLost
        if ticket.position != shown:
            shown = ticket.position
            yield Queued(position=shown)
        await ticket.changed()


def _open(target: Target, request: ChatRequest) -> AsyncIterator[BackendChunk]:
    try:
        return target.state.backend.chat(replace(request, model=target.model))
    except Exception as exc:  # an adapter that fails on the call itself, not in the stream
        return _raising(exc)


async def _raising(exc: Exception) -> AsyncIterator[BackendChunk]:
    raise exc
    yield  # unreachable; makes this an async generator


__all__ = ["BackendFactory", "BackendStatus", "Router", "RouterEvent"]
