"""create_app(settings) -> Litestar, and `serve`, the CLI's entry point that runs it.

Everything is built on the running loop and torn down in reverse order: services (stores,
limiter, backends, router, ChatService) → connectors → the HTTP server. `serve` builds the
services and starts the connectors before the server, so a start-up failure is one line and an
exit code (1 a dependency down, 2 a configuration error, refused credentials included), never
a traceback from inside the server.
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
from hub.api.docs import openapi_config
from hub.api.job_lifecycle import run_jobs
from hub.api.json_body import HubRequest
from hub.api.ops import ops_routes
from hub.api.query_string import refuse_repeated_query
from hub.api.request_log import install_request_log
from hub.bootstrap import open_services
from hub.connectors.plugin import ConnectorError
from hub.connectors.registry import start_connectors, verify_enabled
from hub.http_server import uvicorn_config
from hub.listener import StartupError, listening_socket
from hub.runtime import Services
from hub.settings import HubSettings, SettingsError
from hub.workers import WorkerSockets

log = logging.getLogger(__name__)


def create_app(settings: HubSettings, services: Services | None = None) -> Litestar:
    """Build the ASGI app for `settings` and the connector plugins it was loaded with.

    Without `services`, the lifespan opens them and starts the enabled connectors; with them
    (from `serve`), the caller did both and closes them.
    """
    plugins = type(settings).plugins

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            svc = services
            if svc is None:
                svc = await stack.enter_async_context(open_services(settings))
                await stack.enter_async_context(start_connectors(plugins, svc))
            app.state.services = svc
            await stack.enter_async_context(run_jobs(svc))  # this replica's job workers
            log.info("chathub ready", extra={"host": settings.host, "port": settings.port})
            yield
            log.info("chathub stopping")

    handlers: list[Any] = [*ops_routes()]
    for plugin in plugins:
        handlers.extend(plugin.routes(settings.section(plugin.name)))
    handlers.extend(api_routers(settings))  # Ollama/OpenAI/Open WebUI routes (+ SPA when set)
    # logging_config=None: logging is configured once by the CLI (hub/logging_setup.py).
    # exception_handlers: unmatched paths answer in their route family's error shape too.
    # HubRequest: every JSON body is held to what the stores and backends take (json_body.py);
    # middleware: a query parameter given twice is refused (query_string.py).
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        logging_config=None,
        exception_handlers=exception_handlers(),
        openapi_config=openapi_config(),  # titled chathub, Swagger UI from local assets
        request_class=HubRequest,
        middleware=[refuse_repeated_query],
    )
    if settings.log_requests:
        install_request_log(app)
    return app


async def _serve(settings: HubSettings, worker: WorkerSockets | None = None) -> None:
    from hub.graceful import GracefulServer, refuse_while_stopping

    plugins = type(settings).plugins
    # Credentials and the address first: a refused token or a port in use is then the one
    # line start-up prints.
    verified = await verify_enabled(plugins, settings)
    if worker is None:
        listener = listening_socket(settings.host, settings.port)
    else:  # one of `serve --workers N`: the supervisor bound the socket (hub/workers.py)
        listener = worker.listener()
    async with AsyncExitStack() as stack:
        stack.callback(listener.close)
        try:
            services = await stack.enter_async_context(open_services(settings))
        except Exception as exc:  # every start-up failure becomes one actionable line
            raise StartupError(str(exc)) from exc
        await stack.enter_async_context(start_connectors(plugins, services, verified))
        app = refuse_while_stopping(create_app(settings, services), services)
        config = uvicorn_config(app, settings.host, settings.port, settings.server)
        if worker is not None:
            worker.watch_supervisor()
        settle_gc()
        await GracefulServer(config, services).serve(sockets=[listener])  # hub/graceful.py


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


def serve(settings: HubSettings, worker: WorkerSockets | None = None) -> int:
    """Run the hub until SIGTERM/SIGINT (as one of `serve --workers N` when `worker` is
    given). Returns the process exit code."""
    # The server takes SIGTERM/SIGINT (hub/graceful.py), then re-raises the signal to the
    # handler it found: make that a clean exit instead of a death by signal.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve(settings, worker))
    except StartupError as exc:
        print(f"chathub: {exc}", file=sys.stderr)
        return 1
    except ConnectorError as exc:  # refused credentials (2) or a platform not answering (1)
        print(f"chathub: {exc}", file=sys.stderr)
        return exc.exit_code
    except SettingsError as exc:  # found while wiring the app
        print(f"chathub: {exc}", file=sys.stderr)
        return 2
    except (_Terminated, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
