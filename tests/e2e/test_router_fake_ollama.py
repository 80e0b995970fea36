"""The router over real sockets: OllamaBackend (aiohttp) talking to fake Ollama servers.

One dead (a closed port), one slow (first token later than the timeout), one healthy; a backend
killed mid-run; a 500 before the first token; a reply that breaks after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.bootstrap import build_router
from hub.core.chat_config import ChatConfig
from hub.core.models import Started
from hub.core.ports import BackendError, Delta, Final
from hub.core.router import Router
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.settings import HubSettings
from tests.fakes.ollama import FakeOllama
from tests.unit.router_doubles import ctx, eventually, request, user

MODEL = "gemma3:270m"
TIMEOUTS = ChatConfig(connect_timeout=1.0, first_token_timeout=0.3, chunk_timeout=2.0)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _router(
    urls: dict[str, str], *, priority: dict[str, int] | None = None, **routing: Any
) -> Router:
    backends = [
        BackendConfig(name=n, url=u, max_concurrency=2, priority=(priority or {}).get(n, 0))
        for n, u in urls.items()
    ]
    settings = HubSettings(routing=RoutingConfig(backends=backends, **routing), chat=TIMEOUTS)
    return build_router(settings)


async def _ask(router: Router, who: str = "u1") -> tuple[Started, str, Final]:
    events: list[Any] = []
    async with contextlib.aclosing(router.stream(ctx(user(who)), request(MODEL))) as stream:
        async for event in stream:
            events.append(event)
    started = next(e for e in events if isinstance(e, Started))
    text = "".join(e.text for e in events if isinstance(e, Delta))
    return started, text, events[-1]


@pytest.fixture
async def running() -> AsyncIterator[list[Router]]:
    routers: list[Router] = []
    yield routers
    for router in routers:
        await router.aclose()


async def test_requests_go_to_the_healthy_backend(running: list[Router]) -> None:
    async with (
        FakeOllama(models=[MODEL], first_token_delay=5.0) as slow,
        FakeOllama(models=[MODEL], tokens=["fine", " thanks"]) as healthy,
    ):
        urls = {"dead": f"http://127.0.0.1:{_closed_port()}", "slow": slow.url}
        urls["healthy"] = healthy.url
        router = _router(urls, probe_interval=0.05, failure_threshold=2, cooldown=60)
        running.append(router)
        await router.start()
        status = {s.name: s for s in router.status()}
        assert not status["dead"].up and "not reachable" in status["dead"].last_error
        assert status["slow"].up and status["healthy"].up
        for _ in range(4):
            started, text, final = await _ask(router)
            assert started == Started(model=MODEL, backend="healthy")
            assert text == "fine thanks" and isinstance(final, Final)
        # The slow one timed out before its first token twice, then went into cooldown.
        assert len(slow.chat_requests) == 2
        assert not next(s for s in router.status() if s.name == "slow").up
        assert len(healthy.chat_requests) == 4


async def test_killing_the_serving_backend_moves_new_requests(running: list[Router]) -> None:
    async with (
        FakeOllama(models=[MODEL], token_count=200, tokens_per_second=100) as gpu,
        FakeOllama(models=[MODEL], tokens=["from", " laptop"]) as laptop,
    ):
        urls = {"gpu": gpu.url, "laptop": laptop.url}
        router = _router(urls, probe_interval=0.05, priority={"gpu": 1})
        running.append(router)
        await router.start()
        # A reply streaming from gpu when it dies fails cleanly, naming gpu.
        seen: list[Any] = []
        with pytest.raises(BackendError) as err:
            async with contextlib.aclosing(router.stream(ctx(), request(MODEL))) as stream:
                async for event in stream:
                    seen.append(event)
                    if isinstance(event, Delta):
                        await gpu.stop()
        assert seen[0] == Started(model=MODEL, backend="gpu")
        assert err.value.kind == "stream" and "gpu" in err.value.reason
        # Right away: the connection error is failed over, nobody sees it.
        for _ in range(3):
            started, text, _ = await _ask(router)
            assert (started.backend, text) == ("laptop", "from laptop")
        # The probe loop soon takes gpu out of rotation, and brings it back when it returns.
        await eventually(lambda: not next(s.up for s in router.status() if s.name == "gpu"))
        before = len(laptop.chat_requests)
        assert (await _ask(router))[0].backend == "laptop"
        assert len(laptop.chat_requests) == before + 1


async def test_500_before_the_first_token_is_failed_over(running: list[Router]) -> None:
    async with (
        FakeOllama(models=[MODEL], status=500) as broken,
        FakeOllama(models=[MODEL], tokens=["ok"]) as good,
    ):
        router = _router({"broken": broken.url, "good": good.url})
        running.append(router)
        await router.start()
        started, text, final = await _ask(router)
        assert started == Started(model=MODEL, backend="good")
        assert text == "ok" and isinstance(final, Final)
        assert len(broken.chat_requests) == 1 and len(good.chat_requests) == 1


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ({"error_after": 2, "error_message": "CUDA error: out of memory"}, "out of memory"),
        ({"drop_after": 2}, "dropped"),
    ],
    ids=["error_line", "dropped_connection"],
)
async def test_break_after_the_first_token_fails_naming_the_problem(
    running: list[Router], script: dict[str, Any], problem: str
) -> None:
    async with (
        FakeOllama(models=[MODEL], token_count=10, **script) as breaking,
        FakeOllama(models=[MODEL]) as spare,
    ):
        router = _router({"breaking": breaking.url, "spare": spare.url})
        running.append(router)
        await router.start()
        seen: list[Any] = []
        with pytest.raises(BackendError) as err:
            async for event in router.stream(ctx(), request(MODEL)):
                seen.append(event)
        assert err.value.kind == "stream"
        assert problem in err.value.reason and "breaking" in err.value.reason
        assert seen[0] == Started(model=MODEL, backend="breaking")
        assert sum(isinstance(e, Delta) for e in seen) == 2
        assert not spare.chat_requests  # no second model's text mixed in
        assert all(s.in_flight == 0 for s in router.status())


async def test_cancelled_reply_closes_the_upstream_request(running: list[Router]) -> None:
    async with FakeOllama(models=[MODEL], token_count=500, tokens_per_second=50) as gpu:
        router = _router({"gpu": gpu.url})
        running.append(router)
        await router.start()
        got_text = asyncio.Event()

        async def consume() -> None:
            async with contextlib.aclosing(router.stream(ctx(), request(MODEL))) as stream:
                async for event in stream:
                    if isinstance(event, Delta):
                        got_text.set()

        task = asyncio.create_task(consume())
        await got_text.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert router.status()[0].in_flight == 0
        await gpu.wait_for(lambda: gpu.connections_closed == 1)
