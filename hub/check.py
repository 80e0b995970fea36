"""`chathub check`: every dependency the settings name, each reported, all of them even when
several are down: the store, the limiter, each backend (answering, how many models), the default
model, and each enabled connector's credentials (the plugins' `verify` hook).

Each is opened on its own here, not through `open_services`, so one that is down does not hide
the others. Exit code 1 when anything is not ok.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hub.bootstrap import (
    backend_configs,
    build_backends,
    build_limiter,
    limiter_description,
    open_stores,
)
from hub.connectors.registry import verify_credentials
from hub.core.limits.base import LimiterUnavailable
from hub.core.ports import BackendError, ChatBackend
from hub.core.routing.state import canonical
from hub.readiness import OLLAMA_HINT, CheckResult, backend_probe, run_probe
from hub.settings import HubSettings

STORE_TIMEOUT = 10.0  # MongoDB's own server selection gives up after 5 s
PROBE_TIMEOUT = 5.0
SUGGESTED_MODEL = "llama3.2"  # what to pull when nothing says which model


async def run_checks(settings: HubSettings) -> list[CheckResult]:
    """Every check, run concurrently, in a fixed order."""
    store, limiter, models, connectors = await asyncio.gather(
        check_store(settings),
        check_limiter(settings),
        check_backends(settings),
        check_connectors(settings),
    )
    return [store, limiter, *models, *connectors]


async def check_store(settings: HubSettings) -> CheckResult:
    async def probe() -> str:
        stores = await open_stores(settings)
        try:
            await stores.ping()
            return stores.description
        finally:
            await stores.aclose()

    return await run_probe("store", probe, within=STORE_TIMEOUT)


async def check_limiter(settings: HubSettings) -> CheckResult:
    where = limiter_description(settings)

    async def probe() -> str:
        limiter = await build_limiter(settings)
        try:
            await limiter.ping()
        except LimiterUnavailable as exc:
            raise LimiterUnavailable(
                f"{where} is not answering ({_cause(exc)}); start it, or unset HUB_REDIS_URL "
                "to use the in-memory limiter"
            ) from exc
        finally:
            await limiter.aclose()
        return where

    return await run_probe("limiter", probe, within=PROBE_TIMEOUT)


async def check_backends(settings: HubSettings) -> list[CheckResult]:
    """One line per backend (answering, how many models), then one for the default model."""
    backends = build_backends(settings)
    kinds = {cfg.name: cfg.kind for cfg in backend_configs(settings)}
    hint = OLLAMA_HINT if not settings.routing.backends else ""
    listed: dict[str, list[str]] = {}

    async def one(backend: ChatBackend) -> CheckResult:
        async def answer() -> str:
            await backend_probe(backend, hint)()
            names = [m.name for m in await backend.list_models()]
            listed[backend.name] = names
            if not names:
                raise BackendError(_no_models(kinds[backend.name], settings.default_model))
            return f"answering, {len(names)} model{'s' if len(names) != 1 else ''}"

        return await run_probe(f"backend {backend.name}", answer, within=PROBE_TIMEOUT)

    try:
        results = list(await asyncio.gather(*(one(b) for b in backends)))
    finally:
        for backend in backends:
            await backend.aclose()
    return [*results, _default_model(settings, listed)]


def _no_models(kind: str, wanted: str | None) -> str:
    if kind != "ollama":
        return "answering, but it serves no models"
    return f"answering, but it has no models; run `ollama pull {wanted or SUGGESTED_MODEL}`"


def _default_model(settings: HubSettings, listed: dict[str, list[str]]) -> CheckResult:
    """Whether the default model (HUB_DEFAULT_MODEL, else the first one listed) exists."""
    wanted = settings.default_model
    aliases = {canonical(a) for a in settings.routing.models}
    if wanted is not None and canonical(wanted) in aliases:
        return CheckResult("default model", True, f"{wanted} (an alias in routing.models)")
    if not listed:
        return CheckResult("default model", False, "unknown: no backend is answering")
    if wanted is None:
        first = next((names[0] for names in listed.values() if names), None)
        if first is None:
            return CheckResult("default model", False, f"none: run `ollama pull {SUGGESTED_MODEL}`")
        return CheckResult(
            "default model", True, f"{first} (the first listed; set HUB_DEFAULT_MODEL)"
        )
    where = [name for name, names in listed.items() if canonical(wanted) in map(canonical, names)]
    if where:
        return CheckResult("default model", True, f"{wanted} (on {', '.join(where)})")
    known = sorted({n for names in listed.values() for n in names})
    shown = ", ".join(known[:8]) + (", …" if len(known) > 8 else "")
    return CheckResult(
        "default model",
        False,
        f"HUB_DEFAULT_MODEL={wanted} is on no backend (they have: {shown or 'nothing'}); "
        f"run `ollama pull {wanted}` or set HUB_DEFAULT_MODEL to one of those",
    )


async def check_connectors(settings: HubSettings) -> Sequence[CheckResult]:
    """Each enabled connector's credentials, asked of the platform by the plugin's hook."""

    async def one(plugin_name: str) -> CheckResult:
        plugin = next(p for p in type(settings).plugins if p.name == plugin_name)
        section = settings.section(plugin_name)

        async def probe() -> str:
            return await verify_credentials(plugin, section) or "enabled (nothing to verify)"

        return await run_probe(f"connector {plugin_name}", probe, within=PROBE_TIMEOUT * 4)

    enabled = [p.name for p in type(settings).plugins if p.enabled(settings.section(p.name))]
    return list(await asyncio.gather(*(one(name) for name in enabled)))


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return str(cause).rstrip(".") or type(cause).__name__


def report(results: Sequence[CheckResult]) -> str:
    """One line per check: `ok    store: SQLite at …` or `FAIL  backend gpu: …`."""
    return "\n".join(f"{'ok  ' if r.ok else 'FAIL'}  {r.name}: {r.detail}" for r in results)


def check(settings: HubSettings) -> int:
    """Print every check; 0 when all are ok, else 1."""
    results = asyncio.run(run_checks(settings))
    print(report(results))
    return 0 if all(r.ok for r in results) else 1
