"""Context windows the router learns, and which dropped streams it takes for overflows."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from hub.core.ports import BackendError, ContextOverflow
from hub.core.routing_config import BackendModelConfig
from tests.unit.router_doubles import (
    Plan,
    ScriptedBackend,
    collect,
    ctx,
    eventually,
    make_router,
    request,
    user,
)

DROPPED = BackendError("The connection to gpu dropped before it answered.", kind="dropped")


def sized(tokens: int) -> object:
    return replace(request(), prompt_estimate=tokens)


async def test_a_drop_after_a_larger_prompt_than_ever_worked_is_an_overflow() -> None:
    gpu = ScriptedBackend("gpu")
    router = make_router([gpu], failure_threshold=1)
    await router.probe_now()
    await collect(router.stream(ctx(), sized(300)))  # 300 tokens worked
    gpu.plans = [Plan(fail_before=DROPPED)]
    with pytest.raises(ContextOverflow) as overflow:
        await collect(router.stream(ctx(), sized(900)))
    assert overflow.value.below == 900
    assert await router.context_window("llama3") == 899
    assert router.status()[0].up and router.status()[0].failures == 0
    # A prompt under half the window the hub knows: the drop is the server's failure.
    gpu.plans = [Plan(fail_before=DROPPED)]
    with pytest.raises(BackendError) as failure:
        await collect(router.stream(ctx(user("ann")), sized(250)))
    assert not isinstance(failure.value, ContextOverflow)
    assert router.status()[0].failures == 1


async def test_a_bound_is_forgotten_when_a_prompt_that_large_is_answered() -> None:
    gpu = ScriptedBackend("gpu")
    router = make_router([gpu])
    await router.probe_now()
    gpu.plans = [Plan(fail_before=DROPPED)]
    with pytest.raises(ContextOverflow):
        await collect(router.stream(ctx(), sized(500)))
    assert await router.context_window("llama3") == 499
    await collect(router.stream(ctx(), sized(560)))  # estimates are rough: not proof enough
    assert await router.context_window("llama3") == 499
    await collect(router.stream(ctx(), sized(650)))  # clearly larger: it was a crash after all
    assert await router.context_window("llama3") is None


async def test_a_drop_a_little_under_a_prompt_that_worked_is_still_an_overflow() -> None:
    gpu = ScriptedBackend("gpu")
    router = make_router([gpu])
    await router.probe_now()
    await collect(router.stream(ctx(), sized(600)))
    gpu.plans = [Plan(fail_before=DROPPED)]
    with pytest.raises(ContextOverflow) as overflow:  # the estimate of that text was too low
        await collect(router.stream(ctx(), sized(520)))
    assert overflow.value.below == 520


async def test_a_small_prompt_dropped_is_never_an_overflow() -> None:
    gpu = ScriptedBackend("gpu")
    router = make_router([gpu])
    await router.probe_now()
    gpu.plans = [Plan(fail_before=DROPPED)]
    with pytest.raises(BackendError) as failure:
        await collect(router.stream(ctx(), sized(20)))
    assert not isinstance(failure.value, ContextOverflow)


async def test_stated_windows_and_the_yaml_override() -> None:
    gpu = ScriptedBackend("gpu")
    router = make_router([gpu])
    await router.probe_now()
    gpu.plans = [Plan(fail_before=ContextOverflow("max 512", window=512, prompt_tokens=700))]
    with pytest.raises(ContextOverflow):
        await collect(router.stream(ctx(), sized(800)))
    assert await router.context_window("llama3") == 512
    configured = make_router([ScriptedBackend("gpu")])
    state = configured._states[0]
    state.config = state.config.model_copy(
        update={"models": {"llama3": BackendModelConfig(context_window=2048)}}
    )
    await configured.probe_now()
    assert await configured.context_window("llama3:latest") == 2048


async def test_probe_interval_per_backend() -> None:
    often, seldom = ScriptedBackend("often"), ScriptedBackend("seldom")
    router = make_router([often, seldom], probe_interval=60)
    state = router._states[0]
    state.config = state.config.model_copy(update={"probe_interval": 0.01})
    await router.start()
    await eventually(lambda: often.probes >= 5)
    assert seldom.probes == 1
    await router.aclose()
    await asyncio.sleep(0)


async def test_windows_that_cannot_be_read_are_no_health_failure_and_are_read_later() -> None:
    class ShowFails(ScriptedBackend):
        failing = True

        async def show(self, model: str) -> Any:
            if self.failing:
                raise BackendError("no answer within 5 s", kind="timeout")
            return await super().show(model)

    body = {"model_info": {"general.architecture": "llama", "llama.context_length": 8192}}
    gpu = ShowFails("gpu", show_body=body)
    router = make_router([gpu], failure_threshold=1)
    await router.probe_now()
    assert router.status()[0].up and await router.context_window("llama3") is None
    gpu.failing = False
    await router.probe_now()
    assert await router.context_window("llama3") == 8192
