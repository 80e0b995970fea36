"""A protocol-faithful fake Ollama server (aiohttp, port 0), scriptable per model.

In-process:

    async with FakeOllama(models=["gemma3:270m"]) as fake:
        fake.script("gemma3:270m", token_count=2000, tokens_per_second=500, error_after=10)
        ...  # talk to fake.url with any Ollama or OpenAI client
        fake.chat_requests[-1].json["messages"]      # what the client sent
        await fake.wait_for(lambda: fake.connections_closed == 1)

As its own process (benchmarks):

    python -m tests.fakes.ollama --port 0 --models a,b --tokens-per-second 50 --tokens 500

prints the base URL on stdout once it accepts connections and runs until SIGINT/SIGTERM.
Shapes: shared/reference/ollama-api.md. Routes: ollama_routes.py (generation, lists),
ollama_manage.py (pull, push, create, copy, delete, blobs, embeddings); formats: ollama_formats.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import fields
from typing import Any

from aiohttp import web

from tests.fakes.ollama_manage import ManageRoutes
from tests.fakes.ollama_routes import RECORDED, Routes, native_error, parse_json, v1_error
from tests.fakes.ollama_wire import ModelEntry, Recorded, Script

__all__ = ["FakeOllama", "Recorded", "Script"]

DEFAULT_MODELS = ("gemma3:270m", "llama3.2:1b")
GENERATION_PATHS = ("/api/chat", "/api/generate", "/v1/chat/completions")
_SCRIPT_FIELDS = frozenset(f.name for f in fields(Script))


class FakeOllama:
    """The fake server. Use as an async context manager, or `start()` / `stop()`.

    `port` may be fixed so a stopped fake can come back on the same address.
    `api_key`, when set, is required as `Authorization: Bearer <key>` on every route.
    """

    def __init__(
        self,
        models: Iterable[str] = DEFAULT_MODELS,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        version: str = "0.11.4",
        max_recorded: int | None = None,
        **defaults: Any,
    ) -> None:
        unknown = set(defaults) - _SCRIPT_FIELDS
        if unknown:
            raise TypeError(f"unknown script settings: {sorted(unknown)}")
        self.host, self.port, self.api_key, self.version = host, port, api_key, version
        self.defaults: dict[str, Any] = defaults
        self.max_recorded = max_recorded  # long benchmark runs keep only the newest requests
        self.models: dict[str, ModelEntry] = {}
        self.scripts: dict[str, Script] = {}
        self.loaded: dict[str, float] = {}  # model -> expires_at (epoch s), for /api/ps
        # Model management (ollama_manage.py): what /api/pull can fetch (name -> bytes), the
        # pause between progress lines, uploaded blobs (digest -> bytes), pushes, creates.
        self.registry: dict[str, int] = {}
        self.pull_delay = 0.0
        self.blobs: dict[str, int] = {}
        self.pushed: list[str] = []
        self.created: list[dict[str, Any]] = []
        self.requests: list[Recorded] = []
        self.active = 0  # replies streaming right now
        self.peak = 0  # the most replies it streamed at once
        self.stopping = False
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Event | None = None
        for name in models:
            self.script(name)

    # --- scripting -----------------------------------------------------------------------------

    def script(self, model: str, **settings: Any) -> Script:
        """Set how `model` behaves (see `Script`); unknown models are added to the list.

        Settings not given fall back to the fake's constructor defaults, not the previous script.
        """
        script = Script(**(self.defaults | settings))
        self.scripts[model] = script
        if model not in self.models:
            self.models[model] = ModelEntry(model, modified_at=time.time() - 3600)
        return script

    def remove(self, model: str) -> None:
        """Forget `model`: it disappears from the lists and answers 404."""
        self.models.pop(model, None)
        self.scripts.pop(model, None)
        self.loaded.pop(model, None)

    def resolve(self, name: str) -> str | None:
        """Ollama's name matching: exact, or a bare name meaning `name:latest`."""
        if name in self.models:
            return name
        if ":" not in name and f"{name}:latest" in self.models:
            return f"{name}:latest"
        return None

    def mark_loaded(self, model: str) -> None:
        self.loaded[model] = time.time() + 300

    # --- observing -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def chat_requests(self) -> list[Recorded]:
        """Requests to /api/chat, /api/generate and /v1/chat/completions, in arrival order."""
        return [r for r in self.requests if r.path in GENERATION_PATHS]

    @property
    def connections_closed(self) -> int:
        """How many replies ended because the client closed the connection mid-reply."""
        return sum(1 for r in self.requests if r.outcome == "client_closed")

    def changed(self) -> None:
        """Wake `wait_for` callers (a reply changed state)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until `predicate()` holds (checked whenever a reply changes state)."""
        async with asyncio.timeout(within):
            while not predicate():
                assert self._changed is not None, "the fake is not running"
                await self._changed.wait()

    # --- lifecycle -----------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        Routes(self).add_to(app)
        ManageRoutes(self).add_to(app)
        return app

    async def start(self) -> FakeOllama:
        self.stopping = False
        self._changed = asyncio.Event()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        # handler_cancellation: a client hanging up cancels its handler at once, as in Ollama.
        self._runner = web.AppRunner(
            self.build_app(), handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        """Stop listening and cut every open reply (a crashed or killed Ollama)."""
        self.stopping = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOllama:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        raw = request.can_read_body and not request.path.startswith("/api/blobs/")
        body = parse_json(await request.read()) if raw else None  # blobs are files, not JSON
        rec = Recorded(request.method, request.path, body, dict(request.headers))
        self.requests.append(rec)
        if self.max_recorded is not None and len(self.requests) > self.max_recorded:
            del self.requests[: len(self.requests) - self.max_recorded]
        request[RECORDED] = rec
        self.changed()
        error = v1_error if request.path.startswith("/v1/") else native_error
        if isinstance(body, ValueError):
            rec.json = None
            return error(400, str(body))
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            rec.outcome = "answered"
            return error(401, "unauthorized")
        response = await handler(request)
        if rec.outcome == "pending":
            rec.outcome = "answered"
        return response


# --- running as its own process ---------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.ollama", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--tokens", type=int, default=5, help="tokens per reply")
    parser.add_argument("--tokens-per-second", type=float, default=None)
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    parser.add_argument("--context-length", type=int, default=8192)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--max-recorded", type=int, default=1000)
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeOllama(
        [m.strip() for m in args.models.split(",") if m.strip()],
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        token_count=args.tokens,
        tokens_per_second=args.tokens_per_second,
        first_token_delay=args.first_token_delay,
        context_length=args.context_length,
        max_recorded=args.max_recorded,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with fake:
        print(fake.url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_parse_args(argv)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
