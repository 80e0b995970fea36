"""Router health: failures, cooldown and recovery (fake clock), and the probing task."""

from __future__ import annotations

import asyncio

import pytest

from hub.core.models import Started
from hub.core.ports import BackendError, ContextOverflow
from hub.core.routing.health import counts_against_health
from tests.unit.router_doubles import (
    FakeClock,
    Plan,
    ScriptedBackend,
    collect,
    ctx,
    eventually,
    make_router,
    request,
    until,
    user,
)

REFUSED = BackendError("Could not connect: connection refused.", kind="connect")


def _up(router: object, name: str) -> bool:
    return next(s.up for s in router.status() if s.name == name)  # type: ignore[attr-defined]


async def test_cooldown_after_threshold_and_recovery_at_the_first_good_probe() -> None:
    clock = FakeClock()
    gpu, laptop = ScriptedBackend("gpu"), ScriptedBackend("laptop")
    router = make_router(
        [gpu, laptop], clock=clock, failure_threshold=3, cooldown=300, probe_interval=10
    )
    await router.probe_now()
    assert _up(router, "gpu")
    gpu.probe_error = REFUSED
    for _ in range(2):
        await router.probe_now()
        assert _up(router, "gpu")  # below the threshold
    await router.probe_now()
    assert not _up(router, "gpu")
    status = next(s for s in router.status() if s.name == "gpu")
    assert status.retry_in == 10 and "refused" in status.last_error  # the next health check
    # While down it gets no traffic; its health checks go on, and fail while it is dead.
    events = await collect(router.stream(ctx(), request()))
    assert events[0] == Started(model="llama3:latest", backend="laptop")
    clock.advance(10)
    await router.probe_now()
    assert not _up(router, "gpu")
    # The first successful health check brings it back, long before the cooldown ends.
    gpu.probe_error = None
    clock.advance(10)
    await router.probe_now()
    assert _up(router, "gpu")
    assert (await collect(router.stream(ctx(), request())))[0].backend == "gpu"


async def test_a_backend_down_after_failed_requests_is_probed_after_an_interval() -> None:
    clock = FakeClock()
    gpu = ScriptedBackend("gpu")
    router = make_router([gpu], clock=clock, failure_threshold=2, cooldown=3600, probe_interval=5)
    await router.probe_now()
    gpu.default = Plan(fail_before=BackendError("HTTP 500: boom", status=500))
    for who in ("ann", "bob"):
        with pytest.raises(BackendError):
            await collect(router.stream(ctx(user(who)), request()))
    assert not _up(router, "gpu")
    assert router.status()[0].retry_in == 5  # not at once: the probe cannot see why it failed
    gpu.default = Plan()
    clock.advance(5)
    await router.probe_now()
    assert _up(router, "gpu")  # healthy again: no need to wait out an hour


async def test_a_probe_that_began_before_the_backend_went_down_does_not_bring_it_back() -> None:
    class SlowProbe(ScriptedBackend):
        release: asyncio.Event | None = None
        holding = False

        async def probe(self) -> None:
            if self.release is not None:
                self.holding = True
                await self.release.wait()
            await super().probe()

    clock = FakeClock()
    gpu = SlowProbe("gpu")
    router = make_router([gpu], clock=clock, failure_threshold=1)
    await router.probe_now()
    gpu.release = asyncio.Event()
    probing = asyncio.ensure_future(router.probe_now())
    await until(lambda: gpu.holding)
    clock.advance(1)
    gpu.default = Plan(fail_before=REFUSED)  # a request, waiting for the probe, then failing
    reply = asyncio.ensure_future(collect(router.stream(ctx(), request())))
    gpu.release.set()
    await probing
    with pytest.raises(BackendError):
        await reply
    assert not _up(router, "gpu")


async def test_failed_probe_after_cooldown_starts_a_new_cooldown() -> None:
    clock = FakeClock()
    gpu = ScriptedBackend("gpu", probe_error=REFUSED)
    router = make_router([gpu], clock=clock, cooldown=10)
    await router.probe_now()  # never answered: down after its first failure
    assert not _up(router, "gpu")
    clock.advance(11)
    await router.probe_now()
    assert not _up(router, "gpu")
    assert router.status()[0].retry_in == 10


async def test_request_failures_count_towards_cooldown() -> None:
    clock = FakeClock()
    gpu, laptop = ScriptedBackend("gpu"), ScriptedBackend("laptop")
    router = make_router([gpu, laptop], clock=clock, failure_threshold=2, cooldown=30)
    await router.probe_now()
    gpu.default = Plan(fail_before=BackendError("HTTP 500: boom", status=500))
    for who in ("ann", "bob"):  # two people's requests: the server, not one request, is at fault
        events = await collect(router.stream(ctx(user(who)), request()))
        assert events[0].backend == "laptop"  # failed over each time
    assert not _up(router, "gpu")
    assert len(gpu.calls) == 2
    await collect(router.stream(ctx(), request()))
    assert len(gpu.calls) == 2  # cooling down: not tried any more


async def test_model_not_found_does_not_count_against_health() -> None:
    gpu, laptop = ScriptedBackend("gpu"), ScriptedBackend("laptop")
    router = make_router([gpu, laptop], failure_threshold=1)
    await router.probe_now()
    gpu.default = Plan(fail_before=BackendError("model 'llama3' not found", kind="not_found"))
    events = await collect(router.stream(ctx(), request()))
    assert events[0].backend == "laptop"
    assert _up(router, "gpu")


async def test_a_success_resets_the_failure_streak() -> None:
    gpu = ScriptedBackend("gpu")
    router = make_router([gpu], failure_threshold=2)
    await router.probe_now()
    gpu.plans = [Plan(fail_before=BackendError("HTTP 502", status=502)), Plan()]
    with pytest.raises(BackendError):
        await collect(router.stream(ctx(), request()))
    await collect(router.stream(ctx(), request()))
    gpu.plans = [Plan(fail_before=BackendError("HTTP 502", status=502))]
    with pytest.raises(BackendError):
        await collect(router.stream(ctx(), request()))
    assert _up(router, "gpu")  # 1 failure, success, 1 failure: never 2 in a row


async def test_start_probes_at_once_then_in_the_background_and_stop_ends_it() -> None:
    gpu, dead = ScriptedBackend("gpu"), ScriptedBackend("dead", probe_error=REFUSED)
    router = make_router([gpu, dead], probe_interval=0.01, cooldown=0.01)
    await router.start()
    assert gpu.probes == 1 and not _up(router, "dead")
    await eventually(lambda: gpu.probes >= 3)
    dead.probe_error = None
    await eventually(lambda: _up(router, "dead"))
    await router.stop()
    seen = gpu.probes
    await asyncio.sleep(0.05)
    assert gpu.probes == seen
    await router.aclose()


async def test_model_list_refresh_moves_plain_names() -> None:
    gpu, laptop = ScriptedBackend("gpu", models=["a"]), ScriptedBackend("laptop", models=["b"])
    router = make_router([gpu, laptop])
    await router.probe_now()
    assert (await collect(router.stream(ctx(), request("b"))))[0].backend == "laptop"
    laptop.models, gpu.models = ["a"], ["a", "b"]
    await router.probe_now()
    assert (await collect(router.stream(ctx(), request("b"))))[0].backend == "gpu"


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (BackendError("refused", kind="connect"), True),
        (BackendError("HTTP 502", status=502), True),
        (BackendError("HTTP 401: check its API key", status=401), True),
        (BackendError("no first token", kind="timeout"), True),
        (BackendError("dropped", kind="stream"), True),
        (BackendError("dropped before it answered", kind="dropped"), True),
        (ContextOverflow("maximum context length is 512 tokens", window=512), False),
        (BackendError("no finish reason", kind="incomplete"), False),
        (BackendError("HTTP 400", status=400), False),
        (BackendError("model not found", kind="not_found", status=404), False),
        (BackendError("busy", kind="busy", status=503), False),
    ],
)
def test_which_failures_count_against_health(error: BackendError, counts: bool) -> None:
    assert counts_against_health(error) is counts


async def test_passing_probes_do_not_hide_failing_requests() -> None:
    gpu, laptop = ScriptedBackend("gpu"), ScriptedBackend("laptop")
    router = make_router([gpu, laptop], failure_threshold=2)
    await router.probe_now()
    gpu.default = Plan(fail_before=BackendError("no first token within 120 s", kind="timeout"))
    await collect(router.stream(ctx(user("ann")), request()))
    await router.probe_now()  # the health check passes…
    await collect(router.stream(ctx(user("bob")), request()))
    assert not _up(router, "gpu")  # …but two requests in a row timed out
    assert len(gpu.calls) == 2


async def test_a_request_never_overlaps_a_probe_of_its_backend() -> None:
    class SlowProbe(ScriptedBackend):
        release: asyncio.Event | None = None
        holding = False

        async def probe(self) -> None:
            if self.release is not None:
                self.holding = True
                await self.release.wait()
            await super().probe()

    gpu = SlowProbe("gpu")
    router = make_router([gpu])
    await router.probe_now()
    gpu.release = asyncio.Event()
    probing = asyncio.ensure_future(router.probe_now())
    await until(lambda: gpu.holding)
    reply = asyncio.ensure_future(collect(router.stream(ctx(), request())))
    for _ in range(50):
        await asyncio.sleep(0)
    assert gpu.calls == []  # waits for the health check to finish
    gpu.release.set()
    await probing
    assert (await reply)[0] == Started(model="llama3:latest", backend="gpu")


async def test_a_busy_backend_is_judged_by_its_requests_not_probed() -> None:
    gpu = ScriptedBackend("gpu", gate=asyncio.Event())
    router = make_router([gpu])
    await router.probe_now()
    probes = gpu.probes
    reply = asyncio.ensure_future(collect(router.stream(ctx(), request())))
    await until(lambda: gpu.active == 1)
    await router.probe_now()
    assert gpu.probes == probes  # serving a request: not probed
    assert gpu.gate is not None
    gpu.gate.set()
    await reply
    await router.probe_now()
    assert gpu.probes == probes + 1  # idle again: probed


async def test_one_persons_failing_requests_never_cool_a_backend_down() -> None:
    gpu = ScriptedBackend("gpu")
    router = make_router([gpu], failure_threshold=2)
    await router.probe_now()
    boom = BackendError("HTTP 500: boom", status=500)
    for _ in range(10):
        gpu.plans = [Plan(fail_before=boom)]
        with pytest.raises(BackendError):
            await collect(router.stream(ctx(user("mallory")), request()))
    assert _up(router, "gpu")
    assert (await collect(router.stream(ctx(user("ann")), request())))[0].backend == "gpu"
