"""Router balancing (least busy, priority, order), model listing, show and context windows."""

from __future__ import annotations

import asyncio

from hub.core.models import Started
from hub.core.ports import BackendError
from hub.core.routing_config import Candidate
from tests.unit.router_doubles import (
    FakeClock,
    ScriptedBackend,
    collect,
    ctx,
    make_router,
    request,
    spawn,
    until,
)


async def test_least_busy_first_then_priority_then_config_order() -> None:
    gate = asyncio.Event()
    a, b, c = (ScriptedBackend(n, gate=gate) for n in ("a", "b", "c"))
    router = make_router([a, b, c], max_concurrency={"a": 2, "b": 4, "c": 4}, priority={"c": 1})
    await router.probe_now()
    tasks = []
    # Loads before each pick (a cap 2, b and c cap 4, c has priority):
    # all idle -> c; a=b=0 -> a (order); b=0 -> b; b=c=.25 -> c (priority); b=.25 -> b.
    for expected in ["c", "a", "b", "c", "b"]:
        before = {x.name: len(x.calls) for x in (a, b, c)}
        tasks.append(spawn(collect(router.stream(ctx(), request()))))
        total = sum(before.values()) + 1
        await until(lambda t=total: sum(len(x.calls) for x in (a, b, c)) == t)
        grown = [x.name for x in (a, b, c) if len(x.calls) > before[x.name]]
        assert grown == [expected]
    gate.set()
    results = await asyncio.gather(*tasks)
    assert [r[0].backend for r in results] == ["c", "a", "b", "c", "b"]
    assert all(s.in_flight == 0 for s in router.status())


async def test_alias_candidates_keep_their_order_when_equally_busy() -> None:
    a, b = ScriptedBackend("a", models=["x"]), ScriptedBackend("b", models=["y"])
    router = make_router(
        [a, b],
        models={"m": [Candidate(backend="b", model="y"), Candidate(backend="a", model="x")]},
    )
    events = await collect(router.stream(ctx(), request("m")))
    assert events[0] == Started(model="y", backend="b")


async def test_models_union_without_duplicates_marked_by_backend() -> None:
    gpu = ScriptedBackend("gpu", models=["llama3:latest", "qwen2.5:7b", "fast"])
    laptop = ScriptedBackend("laptop", models=["llama3", "phi3:latest"])
    dead = ScriptedBackend("dead", models=["ghost:latest"])
    router = make_router(
        [gpu, laptop, dead],
        models={
            "fast": [
                Candidate(backend="laptop", model="phi3"),
                Candidate(backend="gpu", model="x"),
            ],
            "gone": [Candidate(backend="dead", model="ghost")],
        },
    )
    dead.probe_error = BackendError("refused", kind="connect")
    await router.probe_now()
    listing = {m.name: m for m in await router.models()}
    # "gone" stays listed though its only backend is down: asking for it says so.
    assert set(listing) == {"fast", "gone", "llama3:latest", "qwen2.5:7b", "phi3:latest"}
    assert listing["gone"].backends == ("dead",)
    assert listing["llama3:latest"].backends == ("gpu", "laptop")
    assert listing["qwen2.5:7b"].backends == ("gpu",)
    assert listing["fast"].backends == ("laptop", "gpu")
    assert listing["fast"].alias_of == ("phi3", "x")
    info = listing["fast"].info
    assert info is not None and info.name == "phi3:latest"


async def test_show_and_context_window_read_by_the_health_check() -> None:
    clock = FakeClock()
    body = {
        "model_info": {"general.architecture": "llama", "llama.context_length": 8192},
        "parameters": "stop <eot>",
    }
    gpu = ScriptedBackend("gpu", show_body=body)
    router = make_router([gpu], clock=clock, context_cache_ttl=60)
    await router.probe_now()
    assert gpu.show_calls == 1  # the health check read the window
    assert await router.context_window("llama3") == 8192
    assert await router.context_window("llama3:latest") == 8192
    assert gpu.show_calls == 1  # no request to the backend for it
    assert await router.show("llama3") == body  # nothing new to say about the window
    assert await router.show("nonexistent") is None


async def test_context_window_num_ctx_alias_minimum_and_reread_after_ttl() -> None:
    clock = FakeClock()
    big = ScriptedBackend(
        "big",
        models=["m1"],
        show_body={"model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768}},
    )
    small = ScriptedBackend(
        "small",
        models=["m2"],
        show_body={
            "model_info": {"general.architecture": "gemma3", "gemma3.context_length": 131072},
            "parameters": "num_ctx 4096\ntemperature 0.7",
        },
    )
    blank = ScriptedBackend("blank", models=["m3"], show_body=None)
    router = make_router(
        [big, small, blank],
        clock=clock,
        context_cache_ttl=60,
        models={
            "both": [Candidate(backend="big", model="m1"), Candidate(backend="small", model="m2")]
        },
    )
    await router.probe_now()
    assert await router.context_window("m2") == 4096
    assert await router.context_window("both") == 4096
    assert await router.context_window("m3") is None
    assert await router.context_window("m3") is None
    assert blank.show_calls == 1  # asked once by the health check, not per request
    await router.probe_now()
    assert blank.show_calls == 1  # read again only after the TTL
    clock.advance(61)
    await router.probe_now()
    assert blank.show_calls == 2
