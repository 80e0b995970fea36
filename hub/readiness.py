"""Readiness of each dependency of the running hub, for `GET /ready`; the pieces `chathub check`
(`hub/check.py`) shares: `CheckResult`, `run_probe`, `backend_probe`."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.connectors.plugin import ReportsStatus
from hub.core.ports import BackendError, ChatBackend

if TYPE_CHECKING:
    from hub.runtime import Services

CHECK_TIMEOUT = 3.0
OLLAMA_HINT = "start it with `ollama serve` or set HUB_OLLAMA_URL"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One dependency: `detail` says what answered, or what is wrong and what to do."""

    name: str
    ok: bool
    detail: str
    required: bool = True


async def run_probe(
    name: str,
    probe: Callable[[], Awaitable[str]],
    required: bool = True,
    within: float = CHECK_TIMEOUT,
) -> CheckResult:
    """Run `probe` for at most `within` seconds; its answer, or what went wrong, as a
    `CheckResult`."""
    try:
        detail = await asyncio.wait_for(probe(), within)
    except TimeoutError:
        return CheckResult(name, False, f"no answer within {within:.0f} s", required)
    except BackendError as exc:
        return CheckResult(name, False, exc.reason, required)
    except Exception as exc:
        return CheckResult(name, False, str(exc) or type(exc).__name__, required)
    return CheckResult(name, True, detail, required)


def backend_probe(backend: ChatBackend, hint: str) -> Callable[[], Awaitable[str]]:
    """Probe `backend`; when it cannot be reached, add `hint` (what to do) to the reason."""

    async def probe() -> str:
        try:
            await backend.probe()
        except BackendError as exc:
            if exc.kind == "connect" and hint:
                reason = exc.reason.rstrip(".")
                raise BackendError(f"{reason}: {hint}.", kind=exc.kind) from exc
            raise
        return "answering"

    return probe


async def readiness(services: Services) -> list[CheckResult]:
    """Check store, limiter and every backend concurrently.

    The hub is ready when store and limiter answer and at least one backend does.
    """
    stores = services.stores

    async def store_probe() -> str:
        await stores.ping()
        return stores.description

    checks = [run_probe("store", store_probe, True)]
    limiter = services.extras.get("limiter")
    if limiter is not None:

        async def limiter_probe() -> str:
            await limiter.ping()
            return str(services.extras.get("limiter_description", "answering"))

        checks.append(run_probe("limiter", limiter_probe, True))
    coordination = services.coordination
    if coordination is not None and coordination.shared:

        async def coordination_probe() -> str:
            await coordination.ping()
            return f"{coordination.description}, replica {coordination.replica}"

        # Not required: without Redis each replica coordinates within itself meanwhile.
        checks.append(run_probe("coordination", coordination_probe, False))
    backends: list[ChatBackend] = list(services.extras.get("backends", []))
    single = len(backends) == 1 and not services.settings.routing.backends
    hint = OLLAMA_HINT if single else ""
    held = held_back(services.router)
    for backend in backends:
        probe = run_probe(f"backend {backend.name}", backend_probe(backend, hint), False)
        checks.append(_held_back_check(probe, held.get(backend.name)))
    results = list(await asyncio.gather(*checks))
    if backends and not any(r.ok for r in results if r.name.startswith("backend ")):
        results.append(CheckResult("backends", False, "no model backend is answering"))
    # A connector that is down here was allowed to be (`required: false`): it is reported, and
    # the hub stays ready for everything else.
    running = services.extras.get("connectors", {})
    for name, state in services.connector_states.items():
        detail = state.detail
        connector = running.get(name)
        if state.ok and isinstance(connector, ReportsStatus) and connector.replica_status():
            detail = f"{detail}; {connector.replica_status()}"
        results.append(CheckResult(f"connector {name}", state.ok, detail, required=False))
    return results


def held_back(router: object) -> dict[str, str]:
    """Backends the router holds back after failures: name -> why, and when it retries."""
    status_of = getattr(router, "status", None)
    held: dict[str, str] = {}
    for status in status_of() if status_of is not None else []:
        if not status.up:
            reason = status.last_error.rstrip(".") or "repeated failures"
            wait = max(1, math.ceil(status.retry_in))
            held[status.name] = f"unavailable ({reason}), retrying in {wait} s"
    return held


async def _held_back_check(probe: Awaitable[CheckResult], held: str | None) -> CheckResult:
    """The probe's result; one that answers but is held back by the router still does not
    answer for the hub (the router sends it nothing until its own health check passes)."""
    result = await probe
    if result.ok and held is not None:
        return CheckResult(result.name, False, held, result.required)
    return result


def is_ready(results: list[CheckResult]) -> bool:
    return all(r.ok for r in results if r.required)
