"""Router benchmarks: routing decision latency, failover overhead, queue fairness.

Run from the repository root:  python benchmarks/router.py
Targets (issue 4): decision p50 < 100 µs with 10 backends; failover adds < 50 ms beyond the
failed attempt's own time; with 200 queued requests from 20 users, each user's served count
stays within 1 request of the fair share at every point.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.core.models import ChatMessage, Metrics, User
from hub.core.ports import (
    BackendChunk,
    BackendError,
    ChatRequest,
    Delta,
    Final,
    ModelInfo,
    RouteContext,
)
from hub.core.router import Router
from hub.core.routing_config import (
    BackendConfig,
    Candidate,
    RoutingConfig,
    RuleConfig,
)


class BenchBackend:
    """An in-process ChatBackend: optional failure after `fail_after_s`, optional gate."""

    def __init__(self, name: str, models: list[str]) -> None:
        self.name = name
        self.models = models
        self.fail_after_s: float | None = None
        self.gate: asyncio.Event | None = None
        self.called_at: list[int] = []
        self.failed_for: list[float] = []
        self.served: list[str] = []

    def chat(self, request: ChatRequest) -> AsyncIterator[BackendChunk]:
        self.called_at.append(time.perf_counter_ns())
        return self._reply(request)

    async def _reply(self, request: ChatRequest) -> AsyncIterator[BackendChunk]:
        started = time.perf_counter()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_after_s is not None:
            await asyncio.sleep(self.fail_after_s)
            self.failed_for.append(time.perf_counter() - started)
            raise BackendError("HTTP 500: simulated", status=500)
        self.served.append(request.messages[-1].content)
        yield Delta(text="ok")
        yield Final(metrics=Metrics())

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(name=m) for m in self.models]

    async def show(self, model: str) -> Mapping[str, Any] | None:
        return None

    async def probe(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _router(backends: list[BenchBackend], max_concurrency: int = 4, **routing: Any) -> Router:
    configs = [
        BackendConfig(name=b.name, url="http://bench.invalid", max_concurrency=max_concurrency)
        for b in backends
    ]
    return Router(RoutingConfig(backends=configs, **routing), backends)


def _ctx(uid: str, chat: str = "c") -> RouteContext:
    return RouteContext(user=User(id=uid, name=uid), platform="telegram", chat_id=chat)


def _request(model: str, text: str = "hi") -> ChatRequest:
    return ChatRequest(model=model, messages=(ChatMessage(role="user", content=text),))


async def bench_decision(rounds: int = 5000) -> dict[str, float]:
    """Time from calling stream() to the chosen backend's chat() call, 10 backends."""
    backends = [BenchBackend(f"b{i}", [f"model{j}:latest" for j in range(20)]) for i in range(10)]
    aliases = {
        f"alias{k}": [Candidate(backend=f"b{i}", model=f"model{k}") for i in range(10)]
        for k in range(5)
    }
    rules = [RuleConfig(platform="discord", chat=str(n), model="alias0") for n in range(20)]
    router = _router(backends, max_concurrency=10**6, models=aliases, rules=rules)
    await router.probe_now()
    resolve_ns: list[int] = []
    decision_ns: list[int] = []
    for n in range(rounds):
        ctx = _ctx(f"u{n % 50}")
        t0 = time.perf_counter_ns()
        router.resolve(ctx)
        resolve_ns.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        stream = router.stream(ctx, _request("alias1" if n % 2 else "model3"))
        await anext(stream)
        called = max(b.called_at[-1] for b in backends if b.called_at)
        decision_ns.append(called - t0)
        await stream.aclose()  # type: ignore[attr-defined]
    return {
        "resolve_p50_us": statistics.median(resolve_ns) / 1000,
        "decision_p50_us": statistics.median(decision_ns) / 1000,
        "decision_p99_us": sorted(decision_ns)[int(len(decision_ns) * 0.99)] / 1000,
    }


async def bench_failover(rounds: int = 50, fail_after_s: float = 0.02) -> dict[str, float]:
    """First token time minus the failed attempt's own time, with one failing candidate."""
    bad, good = BenchBackend("bad", ["m"]), BenchBackend("good", ["m"])
    bad.fail_after_s = fail_after_s
    router = _router([bad, good], failure_threshold=10**6)
    await router.probe_now()
    overheads: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        async for event in router.stream(_ctx("u"), _request("m")):
            if isinstance(event, Delta):
                overheads.append(time.perf_counter() - t0 - bad.failed_for[-1])
    return {
        "failed_attempt_ms": fail_after_s * 1000,
        "overhead_p50_ms": statistics.median(overheads) * 1000,
        "overhead_max_ms": max(overheads) * 1000,
    }


async def bench_fairness(users: int = 20, per_user: int = 10) -> dict[str, float]:
    """200 requests queued user by user (the worst case for FIFO), then served one at a time."""
    backend = BenchBackend("gpu", ["m"])
    backend.gate = asyncio.Event()
    router = _router([backend], max_concurrency=1, queue_limit=users * per_user)
    await router.probe_now()
    holder = asyncio.create_task(_drain(router, "holder", "hold"))
    await _until(lambda: bool(backend.called_at))
    tasks = []
    for u in range(users):
        for r in range(per_user):
            tasks.append(asyncio.create_task(_drain(router, f"user{u}", f"user{u}:{r}")))
            await asyncio.sleep(0)
    await _until(lambda: router.queued == users * per_user)
    backend.gate.set()
    await asyncio.gather(holder, *tasks)
    order = [s.split(":")[0] for s in backend.served if s != "hold"]
    worst = 0.0
    served = dict.fromkeys((f"user{u}" for u in range(users)), 0)
    for n, who in enumerate(order, start=1):
        served[who] += 1
        worst = max(worst, *(abs(c - n / users) for c in served.values()))
    fifo_worst = per_user - per_user / users  # user 0 after its burst, under FIFO
    return {"max_deviation_requests": worst, "fifo_would_be": fifo_worst}


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1_000_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise RuntimeError("benchmark setup never reached its state")


async def _drain(router: Router, uid: str, text: str) -> None:
    async for _ in router.stream(_ctx(uid), _request("m", text)):
        pass


async def main() -> None:
    decision = await bench_decision()
    failover = await bench_failover()
    fairness = await bench_fairness()
    print(
        f"routing decision, 10 backends: resolve p50 {decision['resolve_p50_us']:.1f} µs; "
        f"stream() to backend call p50 {decision['decision_p50_us']:.1f} µs, "
        f"p99 {decision['decision_p99_us']:.1f} µs (target p50 < 100 µs)"
    )
    print(
        f"failover overhead beyond a {failover['failed_attempt_ms']:.0f} ms failed attempt: "
        f"p50 {failover['overhead_p50_ms']:.2f} ms, max {failover['overhead_max_ms']:.2f} ms "
        "(target < 50 ms)"
    )
    print(
        f"fairness, 200 queued from 20 users: max deviation from fair share "
        f"{fairness['max_deviation_requests']:.2f} requests (target < 1; FIFO would be "
        f"{fairness['fifo_would_be']:.1f})"
    )


if __name__ == "__main__":
    asyncio.run(main())
