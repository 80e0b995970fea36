"""Backend health: consecutive failures, cooldown, probing and automatic recovery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from hub.core.ports import BackendError
from hub.core.routing.state import BackendState
from hub.core.routing_config import RoutingConfig

log = logging.getLogger(__name__)

# Errors that say something about the request or the model, not about the backend's health.
_NOT_HEALTH = frozenset({"not_found", "busy", "bad_request", "unsupported"})
# 4xx answers that mean the backend itself is misconfigured (a wrong API key) rather than the
# request being wrong: they keep happening, so they count like an outage.
_BACKEND_4XX = frozenset({401, 403})


def counts_against_health(error: BackendError) -> bool:
    """Whether a request failure should count towards putting its backend in cooldown."""
    if error.kind in _NOT_HEALTH:
        return False
    if error.kind == "http" and error.status is not None and error.status < 500:
        return error.status in _BACKEND_4XX
    return True


class Health:
    """Tracks each backend's failures and cooldown, and probes them.

    A backend goes down after `failure_threshold` consecutive failed probes, or as many
    consecutive failed requests (after the first if it has never answered), and
    stays down for `cooldown` seconds. The first successful probe after that brings it back.
    `on_change` runs whenever a backend goes down, comes back or lists different models, so
    queued requests can be re-placed.
    """

    def __init__(
        self,
        states: Sequence[BackendState],
        config: RoutingConfig,
        clock: Callable[[], float],
        on_change: Callable[[], None],
    ) -> None:
        self._states = list(states)
        self._config = config
        self._clock = clock
        self._on_change = on_change

    def record_failure(self, state: BackendState, reason: str, *, probe: bool = False) -> None:
        """Count one failed probe or request; put the backend in cooldown when either streak
        reaches the threshold."""
        now = self._clock()
        if probe:
            state.probe_failures += 1
        else:
            state.request_failures += 1
        state.last_error = reason
        threshold = self._config.failure_threshold if state.ever_ok else 1
        if state.failures < threshold:
            return
        was_down = state.down
        state.down = True
        state.down_until = now + self._config.cooldown
        if not was_down:
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
        if not state.down:
            state.request_failures = 0

    def retry_in(self, state: BackendState) -> float:
        """Seconds until a down backend is probed again (0 when it is up or already due)."""
        if not state.down:
            return 0.0
        return max(0.0, state.down_until - self._clock())

    def next_wait(self) -> float:
        """Seconds until the next probe round is due: the probe interval, or sooner when a
        cooldown ends first, so a backend comes back as soon as it is allowed to."""
        wait = self._config.probe_interval
        now = self._clock()
        for state in self._states:
            if state.down and state.down_until > now:
                wait = min(wait, state.down_until - now)
        return max(wait, 0.001)

    async def probe_all(self) -> None:
        """Probe every backend that is not cooling down, concurrently."""
        now = self._clock()
        due = [s for s in self._states if not (s.down and now < s.down_until)]
        await asyncio.gather(*(self.probe(s) for s in due))

    async def probe(self, state: BackendState) -> None:
        """Health-check one backend and refresh its model list."""
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
        before = None if state.models is None else list(state.models)
        state.set_models(infos)
        state.probe_failures = 0
        state.ever_ok = True
        if state.down:
            # A probe that began before the backend went down proves nothing about the cooldown.
            if self._clock() >= state.down_until:
                self._recover(state)
        elif before != list(state.models or {}):
            self._on_change()

    def _recover(self, state: BackendState) -> None:
        state.down = False
        state.request_failures = 0
        state.down_until = 0.0
        log.info("backend recovered", extra={"backend": state.name})
        self._on_change()
