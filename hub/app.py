"""create_app(settings) -> Litestar, plus the `serve` and `check` entry points of the CLI.

One lifespan builds every client on the running loop and tears it down in reverse order:
services (stores, limiter, backends, router, ChatService) → router health task → connectors.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from litestar import Litestar

from hub.api import api_routers, exception_handlers
from hub.api.json_body import HubRequest
from hub.api.ops import ops_routes
from hub.bootstrap import open_services
from hub.connectors.registry import load_connector_plugins, start_connectors
from hub.core.readiness import readiness
from hub.http_server import uvicorn_config
from hub.runtime import Services
from hub.settings import HubSettings, SettingsError

log = logging.getLogger(__name__)


class StartupError(Exception):
    """A dependency could not be reached at start-up. The message says which and what to do."""


def create_app(settings: HubSettings, services: Services | None = None) -> Litestar:
    """Build the ASGI app. With `services` given (by `serve`), the lifespan reuses them."""
    plugins = load_connector_plugins()
    _warn_about_missing_connectors(settings, {p.name for p in plugins})

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            svc = services
            if svc is None:
                svc = await stack.enter_async_context(open_services(settings))
            app.state.services = svc
            await stack.enter_async_context(start_connectors(plugins, svc))
            log.info("chathub ready", extra={"host": settings.host, "port": settings.port})
            yield
            log.info("chathub stopping")

    handlers: list[Any] = [*ops_routes()]
    for plugin in plugins:
        handlers.extend(plugin.routes(settings))
    handlers.extend(api_routers(settings))  # Ollama/OpenAI/Open WebUI routes (+ SPA when set)
    # logging_config=None: logging is configured once by the CLI (hub/logging_setup.py).
    # exception_handlers: unmatched paths answer in their route family's error shape too.
    # HubRequest: every JSON body is held to what the stores and backends take (json_body.py).
    return Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        logging_config=None,
        exception_handlers=exception_handlers(),
        request_class=HubRequest,
    )


def _warn_about_missing_connectors(settings: HubSettings, installed: set[str]) -> None:
    """Say so when a platform is configured but no connector plugin for it is installed."""
    configured = {
        "slack": settings.slack.bot_token is not None or settings.slack.app_token is not None,
        "discord": settings.discord.token is not None,
    }
    for name, wanted in configured.items():
        if wanted and name not in installed:
            log.warning(
                f"HUB_{name.upper()}__* is set but no {name} connector is installed; "
                "those settings are ignored",
                extra={"connector": name},
            )


async def _serve(settings: HubSettings) -> None:
    import uvicorn

    try:
        services_cm = open_services(settings)
        services = await services_cm.__aenter__()
    except Exception as exc:  # every start-up failure becomes one actionable line
        raise StartupError(str(exc)) from exc
    try:
        app = create_app(settings, services)
        config = uvicorn_config(app, settings.host, settings.port, settings.server)
        settle_gc()
        await uvicorn.Server(config).serve()
    finally:
        await services_cm.__aexit__(None, None, None)


def settle_gc() -> None:
    """Tune the garbage collector for serving, once start-up has built what lives for good.

    `gc.freeze()` puts everything alive now (modules, the app, the clients: tens of thousands
    of objects that last as long as the process) out of the collector's way, so a full
    collection no longer walks them; under 50 streams such a pause took 27–52 ms. A larger
    first-generation threshold (20,000 allocations instead of 700) lets the many short-lived
    objects of each request die by reference counting before a collection looks at them: time
    in the collector fell from about 250 ms to 30 ms per 1,000 replies (benchmarks/RESULTS.md,
    "Relay"). Cyclic garbage still goes, a little later. No collection first: at this point
    it finds nothing to free and costs 30–40 ms of start-up.
    """
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(20_000, second, third)


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (less CPU per request and per streamed chunk than asyncio's own
    loop: benchmarks/RESULTS.md, "Relay"), else asyncio's default loop."""
    if not _importable("uvloop"):
        return None
    import uvloop

    return uvloop.new_event_loop


class _Terminated(Exception):
    pass


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def serve(settings: HubSettings) -> int:
    """Run the hub until SIGTERM/SIGINT. Returns the process exit code."""
    # uvicorn handles SIGTERM/SIGINT itself (graceful shutdown), then re-raises the signal
    # to the handler it found: make that a clean exit instead of a death by signal.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve(settings))
    except StartupError as exc:
        print(f"chathub: {exc}", file=sys.stderr)
        return 1
    except SettingsError as exc:  # found while wiring connectors, e.g. a missing webhook secret
        print(f"chathub: {exc}", file=sys.stderr)
        return 2
    except (_Terminated, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


async def _check(settings: HubSettings) -> bool:
    try:
        async with open_services(settings) as services:
            results = await readiness(services)
    except Exception as exc:
        print(f"FAIL  start-up: {exc}")
        return False
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'}  {result.name}: {result.detail}")
    return all(r.ok for r in results)


def check(settings: HubSettings) -> int:
    """Print readiness per dependency with an actionable message; 0 when all are ready."""
    return 0 if asyncio.run(_check(settings)) else 1
