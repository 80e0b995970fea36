"""Router failover: transparent before the first token, a clean failure after it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hub.core.models import Queued, Started
from hub.core.ports import BackendError, Delta, Final
from hub.core.routing_config import Candidate
from tests.unit.router_doubles import (
    Plan,
    ScriptedBackend,
    collect,
    ctx,
    make_router,
    request,
    spawn,
    text_of,
    until,
)


@pytest.mark.parametrize(
    "error",
    [
        BackendError("Could not connect to gpu: connection refused.", kind="connect"),
        BackendError("The model server answered HTTP 500: boom.", status=500),
        BackendError("model 'llama3' not found", kind="not_found", status=404),
        BackendError("No first token within 120 s.", kind="timeout"),
        BackendError("Ollama's queue is full.", kind="busy", status=503),
    ],
    ids=["connect", "http500", "not_found", "first_token_timeout", "busy"],
)
async def test_failure_before_first_token_fails_over_transparently(error: BackendError) -> None:
    gpu = ScriptedBackend("gpu", default=Plan(fail_before=error))
    laptop = ScriptedBackend("laptop", default=Plan(deltas=("from ", "laptop")))
    router = make_router([gpu, laptop], priority={"gpu": 1})
    await router.probe_now()
    events = await collect(router.stream(ctx(), request()))
    assert events[0] == Started(model="llama3:latest", backend="laptop")
    assert [type(e) for e in events] == [Started, Delta, Delta, Final]
    assert text_of(events) == "from laptop"
    assert len(gpu.calls) == 1 and gpu.active == 0 and gpu.closed == 1
    assert all(s.in_flight == 0 for s in router.status())


async def test_alias_fails_over_in_candidate_order_and_names_who_answered() -> None:
    a = ScriptedBackend("a", models=["m1"], default=Plan(fail_before=BackendError("x", status=500)))
    b = ScriptedBackend("b", models=["m2"])
    router = make_router(
        [a, b],
        models={"smart": [Candidate(backend="a", model="m1"), Candidate(backend="b", model="m2")]},
    )
    events = await collect(router.stream(ctx(), request("smart")))
    assert [e for e in events if isinstance(e, Started)] == [Started(model="m2", backend="b")]
    assert [c.model for c in a.calls] == ["m1"] and [c.model for c in b.calls] == ["m2"]


async def test_failure_after_first_token_fails_cleanly_naming_the_problem() -> None:
    broken = Plan(
        deltas=("partial ",), fail_after=BackendError("connection reset by peer", kind="stream")
    )
    gpu = ScriptedBackend("gpu", default=broken)
    laptop = ScriptedBackend("laptop")
    router = make_router([gpu, laptop], priority={"gpu": 1})
    await router.probe_now()
    seen: list[object] = []
    with pytest.raises(BackendError) as err:
        async for event in router.stream(ctx(), request()):
            seen.append(event)
    assert err.value.kind == "stream"
    assert "connection reset by peer" in err.value.reason
    assert "gpu" in err.value.reason and "llama3" in err.value.reason
    assert seen == [Started(model="llama3:latest", backend="gpu"), Delta(text="partial ")]
    assert not laptop.calls  # no second model's text mixed in
    assert all(s.in_flight == 0 for s in router.status())


async def test_stream_ending_without_final_is_a_broken_reply() -> None:
    class Truncating(ScriptedBackend):
        async def _reply(self, request, plan):  # type: ignore[no-untyped-def,override]
            self.calls.append(request)
            yield Delta(text="half")

    router = make_router([Truncating("gpu")])
    with pytest.raises(BackendError, match="broke off"):
        await collect(router.stream(ctx(), request()))


async def test_every_candidate_failed_lists_what_was_tried() -> None:
    gpu = ScriptedBackend(
        "gpu", default=Plan(fail_before=BackendError("HTTP 500: oom", status=500))
    )
    laptop = ScriptedBackend(
        "laptop", default=Plan(fail_before=BackendError("connection refused", kind="connect"))
    )
    router = make_router([gpu, laptop])
    await router.probe_now()
    with pytest.raises(BackendError) as err:
        await collect(router.stream(ctx(), request()))
    assert err.value.kind == "unavailable"
    assert "gpu/llama3:latest: HTTP 500: oom" in err.value.reason
    assert "laptop/llama3:latest: connection refused" in err.value.reason
    # Both were tried exactly once.
    assert len(gpu.calls) == 1 and len(laptop.calls) == 1


async def test_every_candidate_down_says_when_it_is_checked_again() -> None:
    gpu = ScriptedBackend("gpu", probe_error=BackendError("connection refused", kind="connect"))
    router = make_router([gpu], cooldown=45, probe_interval=20)
    await router.probe_now()
    with pytest.raises(BackendError) as err:
        await collect(router.stream(ctx(), request("llama3")))
    assert err.value.reason == (
        "Backend 'gpu' is unavailable (connection refused), retrying in 20 s."
    )
    assert err.value.kind == "down" and err.value.retry_after == 20
    assert not gpu.calls


async def test_a_down_candidate_after_a_failed_one_still_says_when_to_retry() -> None:
    gpu = ScriptedBackend(
        "gpu", default=Plan(fail_before=BackendError("HTTP 500: oom", status=500))
    )
    laptop = ScriptedBackend("laptop", probe_error=BackendError("refused", kind="connect"))
    router = make_router([gpu, laptop], probe_interval=15)
    await router.probe_now()
    with pytest.raises(BackendError) as err:
        await collect(router.stream(ctx(), request()))
    assert "gpu/llama3:latest: HTTP 500: oom" in err.value.reason
    assert "laptop/llama3 is unavailable (refused), retrying in 15 s" in err.value.reason
    assert err.value.kind == "down" and err.value.retry_after == 15


async def test_not_found_everywhere_is_not_found() -> None:
    missing = Plan(fail_before=BackendError("model not found", kind="not_found"))
    a, b = ScriptedBackend("a", default=missing), ScriptedBackend("b", default=missing)
    router = make_router([a, b])
    await router.probe_now()
    with pytest.raises(BackendError) as err:
        await collect(router.stream(ctx(), request()))
    assert err.value.kind == "not_found"
    assert "a, b" in err.value.reason


async def test_a_bad_request_is_not_failed_over() -> None:
    bad = BackendError("invalid option 'num_ctx'", status=400)
    gpu, laptop = ScriptedBackend("gpu", default=Plan(fail_before=bad)), ScriptedBackend("laptop")
    router = make_router([gpu, laptop])
    await router.probe_now()
    with pytest.raises(BackendError) as err:
        await collect(router.stream(ctx(), request()))
    assert err.value is bad
    assert not laptop.calls
    assert all(s.up and s.in_flight == 0 for s in router.status())


async def test_adapter_bug_is_wrapped_and_failed_over() -> None:
    class Buggy(ScriptedBackend):
        def chat(self, request):  # type: ignore[no-untyped-def]
            raise RuntimeError("adapter bug")

    router = make_router([Buggy("gpu"), ScriptedBackend("laptop")])
    await router.probe_now()
    events = await collect(router.stream(ctx(), request()))
    assert events[0].backend == "laptop"


async def test_cancelling_a_running_reply_releases_the_slot_and_closes_upstream() -> None:
    gate = asyncio.Event()
    gpu = ScriptedBackend("gpu", default=Plan(deltas=("a",) * 1000))
    router = make_router([gpu], max_concurrency=1)
    await router.probe_now()
    seen: list[object] = []

    async def consume(closing: bool) -> None:
        stream = router.stream(ctx(), request())
        async with contextlib.AsyncExitStack() as stack:
            if closing:
                await stack.enter_async_context(contextlib.aclosing(stream))  # type: ignore[type-var]
            async for event in stream:
                seen.append(event)
                if isinstance(event, Delta):
                    await gate.wait()

    # The pipeline consumes with aclosing(): cancellation frees the slot at once.
    task = spawn(consume(closing=True))
    await until(lambda: len(seen) == 2)
    assert router.status()[0].in_flight == 1 and gpu.active == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.status()[0].in_flight == 0
    assert gpu.closed == 1 and gpu.active == 0
    # A consumer that just drops the stream frees it when the generator is finalized.
    seen.clear()
    task = spawn(consume(closing=False))
    await until(lambda: len(seen) == 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: router.status()[0].in_flight == 0)
    assert gpu.closed == 2 and gpu.active == 0
    assert isinstance((await collect(router.stream(ctx(), request())))[0], Started)


async def test_closing_the_stream_early_releases_the_slot() -> None:
    gpu = ScriptedBackend("gpu", default=Plan(deltas=("a", "b", "c")))
    router = make_router([gpu], max_concurrency=1)
    await router.probe_now()
    stream = router.stream(ctx(), request())
    first = await anext(stream)  # type: ignore[call-overload]
    assert isinstance(first, Started | Queued)
    await stream.aclose()  # type: ignore[attr-defined]
    assert router.status()[0].in_flight == 0
