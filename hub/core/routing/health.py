"""Backend health: failure streaks, cooldown, probing of idle backends, automatic recovery.

A backend that is serving requests is judged by those requests; only idle ones are probed (every
`probe_interval`, per backend if set), and a request never goes out while its backend is being
probed, so a server that answers one request at a time (llama-cpp-python, which cuts off the
reply it is streaming when another request arrives) is never interrupted by the hub itself.

Only what says something about the backend counts against it: connection failures, timeouts,
5xx and broken streams. Context overflows, 4xx answers, unknown models and "busy" are the
request's own business. And since one person's requests could still break a server's answers
in ways it reports as 5xx or timeouts (a huge prompt, a malformed tool schema), a streak of such
failures takes a backend down only when they came from at least two people, or together with
failures no request can cause (the server unreachable, a wrong API key, failed probes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Literal

from hub.core.ports import BackendError, ModelInfo
from hub.core.routing.state import BackendState
from hub.core.routing.windows import ContextWindows, read_windows
from hub.core.routing_config import RoutingConfig

log = logging.getLogger(__name__)

Blame = Literal["request", "backend", "unclear"]

# Errors that say something about the request or the model, not about the backend's health.
_REQUEST_KINDS = frozenset(
    {"not_found", "busy", "bad_request", "unsupported", "overflow", "incomplete", "forbidden"}
)
# 4xx answers that mean the backend itself is misconfigured (a wrong API key) rather than the
# request being wrong: they keep happening, so they count like an outage.
_BACKEND_4XX = frozenset({401, 403})
BACKEND_WITNESS = "\0backend"  # the streak's "user" for failures no request can cause


def blame(error: BackendError) -> Blame:
    """Whose fault a failed request was: the request's, the backend's, or unclear (5xx,
    timeouts, broken streams: usually the server, but a request can provoke them)."""
    if error.kind in _REQUEST_KINDS:
        return "request"
    if error.kind == "http" and error.status is not None and error.status < 500:
        return "backend" if error.status in _BACKEND_4XX else "request"
    if error.kind == "connect":
        return "backend"
    return "unclear"


def counts_against_health(error: BackendError) -> bool:
    """Whether a request failure counts towards putting its backend in cooldown."""
    return blame(error) != "request"


class Health:
    """Tracks each backend's failures and cooldown, and probes the idle ones.

    A backend goes down after `failure_threshold` consecutive failed probes, or as many
    consecutive failed requests (after the first if it has never answered) from at least two
    users or with a failure no request can cause. While down it gets no traffic and is probed
    every `probe_interval` (sooner if `cooldown` is shorter); the first successful probe that
    began after it went down brings it back. `on_change` runs whenever a backend goes down,
    comes back or lists different models, so queued requests can be re-placed.
    """

    def __init__(
        self,
        states: Sequence[BackendState],
        config: RoutingConfig,
        clock: Callable[[], float],
        on_change: Callable[[], None],
        windows: ContextWindows,
    ) -> None:
        self._states = list(states)
        self._config = config
        self._clock = clock
        self._on_change = on_change
        self._windows = windows

    def interval(self, state: BackendState) -> float:
        return state.config.probe_interval or self._config.probe_interval

    def record_failure(
        self, state: BackendState, reason: str, *, probe: bool = False, user: str | None = None
    ) -> None:
        """Count one failed probe, or one failed request of `user` (None: a failure no request
        can cause); put the backend in cooldown when a streak is long and wide enough."""
        if probe:
            state.probe_failures += 1
        else:
            state.request_failures += 1
            state.streak_users.add(user or BACKEND_WITNESS)
        state.last_error = reason
        threshold = self._config.failure_threshold if state.ever_ok else 1
        probes_failed = state.probe_failures >= threshold
        requests_failed = state.request_failures >= threshold and (
            len(state.streak_users) >= 2 or BACKEND_WITNESS in state.streak_users
        )
        if probes_failed or requests_failed:
            self._go_down(state, reason)

    def _go_down(self, state: BackendState, reason: str) -> None:
        was_down = state.down
        now = self._clock()
        state.down = True
        state.down_until = now + self._config.cooldown
        if not was_down:
            state.down_since = now
            # Checked again after a probe interval, not at once: a server that just failed
            # requests must not be waved back in by a health check that cannot see why.
            state.next_probe = max(state.next_probe, now + self.interval(state))
            log.warning(
                "backend down, cooling down",
                extra={
                    "backend": state.name,
                    "failures": state.failures,
                    "cooldown_s": self._config.cooldown,
                    "error": reason,
                },
            )
            self._on_change()

    def record_success(self, state: BackendState) -> None:
        """A request got an answer: its failure streak is over.

        A down backend stays down until a probe after its cooldown succeeds, even if a request
        that started before it went down now succeeds: one answer does not prove it is stable.
        """
        state.ever_ok = True
        state.next_probe = self._clock() + self.interval(state)  # it just proved itself
        if not state.down:
            state.request_failures = 0
            state.streak_users.clear()

    def retry_in(self, state: BackendState) -> float:
        """Seconds until a down backend is probed again (0 when it is up or already due)."""
        if not state.down:
            return 0.0
        return max(0.0, self._due_at(state) - self._clock())

    def next_wait(self) -> float:
        """Seconds until the next probe is due, so a down backend comes back as soon as a
        health check finds it answering."""
        now = self._clock()
        waits = [self._due_at(state) - now for state in self._states]
        return max(min(waits, default=self._config.probe_interval), 0.001)

    def _due_at(self, state: BackendState) -> float:
        if state.down:
            return min(state.down_until, state.next_probe)
        return state.next_probe

    async def probe_due(self) -> None:
        """Probe every idle backend whose time has come, concurrently."""
        now = self._clock()
        due = [s for s in self._states if self._due_at(s) <= now]
        await self.probe_all(due)

    async def probe_all(self, states: Sequence[BackendState] | None = None) -> None:
        """Probe `states` (default: all) that are idle, down ones included, concurrently."""
        chosen = self._states if states is None else states
        await asyncio.gather(*(self.probe(s) for s in chosen))

    async def probe(self, state: BackendState) -> None:
        """Health-check one idle backend, refresh its model list and, when due, its windows.

        A backend with requests in flight is skipped: those requests are its health check.
        """
        if state.in_flight or state.probing is not None:
            state.next_probe = self._clock() + self.interval(state)
            return
        state.probing = asyncio.Event()
        try:
            await self._check(state, began=self._clock())
        finally:
            state.probing.set()  # requests that waited for the probe go out now
            state.probing = None
            state.next_probe = self._clock() + self.interval(state)

    async def _check(self, state: BackendState, began: float) -> None:
        try:
            async with asyncio.timeout(self._config.probe_timeout):
                await state.backend.probe()
                infos = await state.backend.list_models()
        except BackendError as exc:
            self.record_failure(state, exc.reason, probe=True)
            return
        except TimeoutError:
            reason = f"no answer within {self._config.probe_timeout:g} s"
            self.record_failure(state, reason, probe=True)
            return
        except Exception as exc:  # a broken adapter must not kill the probe loop
            log.exception("backend probe crashed", extra={"backend": state.name})
            self.record_failure(state, f"health check crashed: {exc}", probe=True)
            return
        if self._windows.due(state):
            await self._read_windows(state, infos)
        before = None if state.models is None else list(state.models)
        state.set_models(infos)
        state.probe_failures = 0
        state.ever_ok = True
        if state.down:
            # A probe that began before the backend went down proves nothing about its health.
            if began >= state.down_since:
                self._recover(state)
        elif before != list(state.models or {}):
            self._on_change()

    async def _read_windows(self, state: BackendState, infos: list[ModelInfo]) -> None:
        """Read the models' context windows (one `/api/show` per model on Ollama): its own
        time limit, and a failure here is no health failure; it is tried at the next probe."""
        try:
            async with asyncio.timeout(self._config.probe_timeout):
                self._windows.reported(state, await read_windows(state.backend, infos))
        except (BackendError, TimeoutError) as exc:
            reason = exc.reason if isinstance(exc, BackendError) else "no answer in time"
            log.info("context windows not read", extra={"backend": state.name, "error": reason})
        except Exception:  # a broken adapter must not kill the probe loop
            log.exception("reading context windows crashed", extra={"backend": state.name})

    def _recover(self, state: BackendState) -> None:
        state.down = False
        state.request_failures = 0
        state.streak_users.clear()
        state.down_until = 0.0
        log.info("backend recovered", extra={"backend": state.name})
        self._on_change()
