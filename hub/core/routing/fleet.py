"""The backends as a fleet an administrator manages: where a model change goes, loading and
unloading a model everywhere it runs, the model lists refreshed after a change, the version.

Where a change goes: the backend the request names (`?backend=`), else the model's current
home (the Ollama backends that list it), else for a model no backend has yet (a pull, a create)
`routing.pull_backend`, else the first Ollama backend. A delete reaches every home of the model,
so it leaves the hub's list; the other changes go to one backend.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from hub.core.backends.ollama_admin import unloads
from hub.core.ports import (
    BackendError,
    ChatBackend,
    LoadsModels,
    ManagesModels,
    ModelChange,
    ModelOperation,
    ReportsVersion,
)
from hub.core.routing.catalog import Catalog
from hub.core.routing.state import BackendState, canonical

log = logging.getLogger(__name__)

VERSION_TTL = 60.0  # seconds the fleet's lowest version is remembered
_VERSION_PARTS = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def version_key(version: str) -> tuple[int, int, int] | None:
    """`0.12.3` → (0, 12, 3), as Open WebUI compares them (a leading `v` and a `-rc1` ignored)."""
    match = _VERSION_PARTS.match(version.strip())
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


class Fleet:
    """Model management over the router's backends (`ModelFleet`)."""

    def __init__(
        self,
        states: Sequence[BackendState],
        catalog: Catalog,
        on_change: Callable[[], None],
        *,
        pull_backend: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._states = list(states)
        self._catalog = catalog
        self._on_change = on_change
        self._pull_backend = pull_backend
        self._clock = clock
        self._version: tuple[float, str | None] | None = None

    # --- where a change goes ------------------------------------------------------------------

    def placement(
        self, operation: ModelOperation, model: str, backend: str | None = None
    ) -> list[str]:
        """The backends `operation` on `model` goes to (one, or every home for a delete).

        Raises `BackendError`: kind "not_found" (no such backend, or the model is on none),
        "unsupported" (only OpenAI-compatible servers could take it).
        """
        if backend:
            return [self._named(backend).name]
        homes = self._homes(model)
        ollama = [s for s in homes if _manages(s)]
        if operation == "delete" and ollama:
            return [s.name for s in ollama]
        if ollama:
            return [ollama[0].name]
        if homes:  # only OpenAI-compatible servers have it
            raise self.unsupported(homes[0], operation)
        if operation in ("push", "copy", "delete"):
            raise BackendError(f"model '{model}' not found", kind="not_found", status=404)
        return [self._default(operation).name]

    def _homes(self, model: str) -> list[BackendState]:
        key = canonical(model)
        homes = [s for s in self._states if s.models is not None and key in s.models]
        return sorted(homes, key=lambda s: (s.down, s.index))

    def _named(self, name: str) -> BackendState:
        for state in self._states:
            if state.name == name:
                return state
        known = ", ".join(s.name for s in self._states)
        reason = f"There is no backend named '{name}' (backends: {known})."
        raise BackendError(reason, kind="not_found", status=404)

    def _default(self, operation: str) -> BackendState:
        if self._pull_backend:
            return self._named(self._pull_backend)
        for state in self._states:
            if _manages(state):
                return state
        raise BackendError(
            f"No Ollama backend is configured, and only Ollama can {operation} models; add "
            "one to routing.backends, or manage models on the model servers themselves.",
            kind="unsupported",
            status=501,
        )

    def unsupported(self, state: BackendState, operation: str) -> BackendError:
        """Why `operation` cannot run on `state`'s server, and where it could."""
        ollama = [s.name for s in self._states if _manages(s)]
        where = (
            f"; add ?backend=NAME to use an Ollama backend ({', '.join(ollama)})" if ollama else ""
        )
        reason = (
            f"'{state.name}' is an OpenAI-compatible server: its API cannot {operation} models, "
            f"so manage them on that server itself{where}."
        )
        return BackendError(reason, kind="unsupported", status=501)

    # --- running a change ---------------------------------------------------------------------

    def backend(self, name: str) -> ChatBackend:
        return self._named(name).backend

    async def change_models(
        self, backend: str, change: ModelChange
    ) -> AsyncIterator[Mapping[str, Any]]:
        """`change` on the backend named `backend` (progress objects as they come); the model
        lists are read again once it succeeded."""
        state = self._named(backend)
        if not _manages(state):
            raise self.unsupported(state, change.operation)
        assert isinstance(state.backend, ManagesModels)
        changes = state.backend.change_models(change)
        try:
            async for progress in changes:
                yield progress
        except BackendError as exc:
            if exc.kind == "unsupported":
                raise self.unsupported(state, change.operation) from None
            raise
        finally:
            aclose = getattr(changes, "aclose", None)
            if aclose is not None:
                await aclose()
        await self.refresh([backend])

    async def has_blob(self, backend: str, digest: str) -> bool:
        return await self._blobs(backend).has_blob(digest)

    async def push_blob(self, backend: str, digest: str, data: AsyncIterator[bytes]) -> None:
        await self._blobs(backend).push_blob(digest, data)

    def _blobs(self, backend: str) -> ManagesModels:
        state = self._named(backend)
        if not _manages(state):
            raise self.unsupported(state, "create")
        assert isinstance(state.backend, ManagesModels)
        return state.backend

    async def refresh(self, backends: Sequence[str]) -> None:
        """Read the model lists of `backends` now (after a pull, a copy or a delete), so the
        hub's list shows the change at once rather than at the next health check."""
        states = [s for s in self._states if s.name in backends]
        answers = await asyncio.gather(
            *(s.backend.list_models() for s in states), return_exceptions=True
        )
        for state, answer in zip(states, answers, strict=True):
            if isinstance(answer, BaseException):
                log.info(
                    "model list not refreshed", extra={"backend": state.name, "error": str(answer)}
                )
                continue
            state.set_models(answer)
        self._on_change()

    # --- loading ------------------------------------------------------------------------------

    async def load(self, model: str, keep_alive: str | int | float | None) -> str:
        """Load (or with keep_alive 0 unload) `model` on every up Ollama backend serving it.

        Returns the `done_reason`; raises `BackendError` naming each backend that failed.
        Servers that cannot load on request (OpenAI-compatible ones) are left alone.
        """
        targets = [
            t
            for t in self._catalog.targets(model)
            if not t.state.down and isinstance(t.state.backend, LoadsModels)
        ]
        if not targets:
            return "unload" if unloads(keep_alive) else "load"
        calls: list[Awaitable[str]] = []
        for target in targets:
            assert isinstance(target.state.backend, LoadsModels)
            calls.append(target.state.backend.load(target.model, keep_alive))
        answers = await asyncio.gather(*calls, return_exceptions=True)
        failures = [
            f"{t.state.name}: {a.reason if isinstance(a, BackendError) else a}"
            for t, a in zip(targets, answers, strict=True)
            if isinstance(a, BaseException)
        ]
        if failures:
            if all(isinstance(a, BackendError) and a.kind == "not_found" for a in answers):
                raise BackendError(f"model '{model}' not found", kind="not_found", status=404)
            reason = f"Loading '{model}' failed on {len(failures)} of {len(targets)} backends: "
            raise BackendError(reason + "; ".join(failures), kind="unavailable")
        return next(str(a) for a in answers if isinstance(a, str))

    # --- version ------------------------------------------------------------------------------

    async def version(self) -> str | None:
        """The lowest version among the up Ollama backends (remembered for a minute), or None
        when none says."""
        now = self._clock()
        if self._version is not None and now - self._version[0] < VERSION_TTL:
            return self._version[1]
        states = [s for s in self._states if not s.down and isinstance(s.backend, ReportsVersion)]
        answers = await asyncio.gather(*(_version_of(s) for s in states))
        known = [(key, v) for v in answers if v and (key := version_key(v)) is not None]
        lowest = min(known)[1] if known else None
        self._version = (now, lowest)
        return lowest


async def _version_of(state: BackendState) -> str | None:
    assert isinstance(state.backend, ReportsVersion)
    try:
        return await state.backend.version()
    except BackendError as exc:
        log.info("version not read", extra={"backend": state.name, "error": exc.reason})
        return None


def _manages(state: BackendState) -> bool:
    """Whether the hub can change this backend's models (an Ollama server)."""
    return state.config.kind == "ollama" and isinstance(state.backend, ManagesModels)
