"""ChatService logic on a scripted in-process backend and the real SQLite store.

The same behaviours over real HTTP against the fake Ollama are in test_chat_service.py; these
cover the pipeline's own rules quickly (ordering, persistence, commands, limits, trimming).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.core.context import TRIMMED_NOTICE
from hub.core.models import Done, Failed, Queued, Started, Text, User
from hub.core.ports import Admission, BackendError
from tests.doubles.backend import Script, ScriptedBackend
from tests.doubles.router import SingleBackendRouter
from tests.unit.pipeline_kit import (
    collect,
    done,
    failed,
    message,
    notices,
    pipeline,
    text_of,
)


def router_for(backend: ScriptedBackend, **kw: object) -> SingleBackendRouter:
    return SingleBackendRouter(backend, "m1", **kw)  # type: ignore[arg-type]


async def test_reply_streams_and_stores_both_turns(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    async with pipeline(tmp_path, router_for(backend), system_prompt="Be brief.") as kit:
        events = await collect(kit.service, message("hi"))
        assert isinstance(events[0], Started)
        assert text_of(events) == "Hello there!"
        end = done(events)
        assert (end.text, end.model, end.backend) == ("Hello there!", "m1", "scripted")
        turns = await kit.turns(message("hi"))
        assert [(t.role, t.text, t.interrupted) for t in turns] == [
            ("user", "hi", False),
            ("assistant", "Hello there!", False),
        ]
        sent = backend.requests[0].messages
        assert [(m.role, m.content) for m in sent] == [("system", "Be brief."), ("user", "hi")]


async def test_failure_before_first_token_keeps_conversation_consistent(tmp_path: Path) -> None:
    error = BackendError("Ollama is not reachable at http://x: start it.", kind="connect")
    backend = ScriptedBackend(scripts={"m1": Script(fail_before=error)})
    async with pipeline(tmp_path, router_for(backend)) as kit:
        end = failed(await collect(kit.service, message("hi")))
        assert end.reason == error.reason and end.code == "unavailable"
        turns = await kit.turns(message("hi"))
        assert [(t.role, t.text, t.interrupted) for t in turns] == [
            ("user", "hi", False),
            ("assistant", "", True),
        ]
        # The empty interrupted turn is not sent to the model next time.
        backend.scripts["m1"] = Script()
        done(await collect(kit.service, message("again")))
        assert [m.content for m in backend.requests[-1].messages] == ["hi", "again"]


async def test_mid_stream_failure_stores_partial_text(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(tokens=["a", "b", "c"], fail_after=2)})
    async with pipeline(tmp_path, router_for(backend)) as kit:
        end = failed(await collect(kit.service, message("hi")))
        assert end.partial_text == "ab"
        turns = await kit.turns(message("hi"))
        assert [(t.role, t.text, t.interrupted) for t in turns][-1] == ("assistant", "ab", True)


async def test_stop_cancels_and_stores_partial_turn(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(tokens=["x"] * 1000, delay=0.002)})
    async with pipeline(tmp_path, router_for(backend)) as kit:
        msg = message("long please")
        events = []
        async for event in kit.service.reply(msg):
            events.append(event)
            if isinstance(event, Text) and sum(isinstance(e, Text) for e in events) == 5:
                assert await kit.service.stop(msg.key)
        end = failed(events)
        assert end.code == "cancelled" and end.reason == "Reply stopped."
        assert end.partial_text.startswith("xxxxx")
        assert backend.closed_early == 1
        turns = await kit.turns(msg)
        assert [(t.role, t.interrupted) for t in turns] == [("user", False), ("assistant", True)]
        assert turns[1].text == end.partial_text
        assert not await kit.service.stop(msg.key)


async def test_closing_the_iterator_cancels_and_stores(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(tokens=["y"] * 1000, delay=0.002)})
    async with pipeline(tmp_path, router_for(backend)) as kit:
        msg = message("go")
        stream = kit.service.reply(msg)
        seen = 0
        async for event in stream:
            seen += isinstance(event, Text)
            if seen == 3:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        assert backend.closed_early == 1
        turns = await kit.turns(msg)
        assert turns[-1].role == "assistant" and turns[-1].interrupted
        assert len(turns) == 2


async def test_rate_limited_message_makes_no_model_call(tmp_path: Path) -> None:
    class Refuse:
        released = 0

        async def admit(
            self,
            user: User,
            platform: str,
            chat_id: str,
            model: str,
            workspace: str = "",
            *,
            wait: bool = False,
        ) -> Admission:
            return Admission(
                False,
                "Rate limit reached (1 per minute). Try again in 23 s.",
                retry_after=22.4,
                limit=1,
                remaining=0,
                reset_after=22.4,
            )

        async def release(self, user: User, admission: Admission) -> None:
            self.released += 1

        async def record_usage(self, user: User, model: str, p: int, c: int) -> None:
            raise AssertionError("no usage without a reply")

    backend = ScriptedBackend()
    async with pipeline(tmp_path, router_for(backend), limits=Refuse()) as kit:
        events = await collect(kit.service, message("hi"))
        assert len(events) == 1
        end = failed(events)
        assert end.code == "rate_limited" and "23 s" in end.reason
        assert (end.retry_after, end.limit, end.remaining) == (22.4, 1, 0)
        assert backend.requests == []
        assert await kit.turns(message("hi")) == []


async def test_lease_released_and_usage_counted(tmp_path: Path) -> None:
    class Counting:
        def __init__(self) -> None:
            self.released = 0
            self.usage: list[tuple[str, int, int]] = []

        async def admit(
            self,
            user: User,
            platform: str,
            chat_id: str,
            model: str,
            workspace: str = "",
            *,
            wait: bool = False,
        ) -> Admission:
            return Admission(True, lease_id="L")

        async def release(self, user: User, admission: Admission) -> None:
            assert admission.lease_id == "L"
            self.released += 1

        async def record_usage(self, user: User, model: str, p: int, c: int) -> None:
            self.usage.append((model, p, c))

    gate = Counting()
    backend = ScriptedBackend(scripts={"m1": Script(prompt_tokens=7)})
    async with pipeline(tmp_path, router_for(backend), limits=gate) as kit:
        done(await collect(kit.service, message("hi")))
        backend.scripts["m1"] = Script(fail_before=BackendError("down", kind="connect"))
        failed(await collect(kit.service, message("hi")))
        assert gate.released == 2
        assert gate.usage == [("m1", 7, 3)]
        user = await kit.stores.users.for_identity(message("x").user)
        usage = await kit.stores.usage.for_user(user.id, kit_day())
        assert [(u.model, u.requests, u.prompt_tokens, u.completion_tokens) for u in usage] == [
            ("m1", 1, 7, 3)
        ]


def kit_day() -> str:
    from hub.core.models import utcnow

    return utcnow().strftime("%Y-%m-%d")


async def test_same_conversation_in_order_other_conversation_concurrent(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(tokens=["t"] * 20, delay=0.005)})
    async with pipeline(tmp_path, router_for(backend)) as kit:
        order: list[str] = []

        async def run(text: str, chat: str) -> list[object]:
            events = []
            async for event in kit.service.reply(message(text, chat=chat)):
                events.append(event)
                if isinstance(event, Done):
                    order.append(text)
            return events

        first = asyncio.create_task(run("one", "c1"))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(run("two", "c1"))
        other = asyncio.create_task(run("other", "c2"))
        results = await asyncio.gather(first, second, other)
        assert order.index("one") < order.index("two")
        # The other conversation did not wait for both replies of c1.
        assert order.index("other") < order.index("two")
        assert any(isinstance(e, Queued) and e.position == 0 for e in results[1])
        # The second reply saw the first one's answer in its history.
        second_request = next(r for r in backend.requests if r.messages[-1].content == "two")
        assert [m.content for m in second_request.messages] == ["one", "t" * 20, "two"]
        assert len(kit.service._turns) == 0  # the registry is empty again


async def test_busy_policy_cancel_stops_the_running_reply(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(tokens=["z"] * 150, delay=0.002)})
    async with pipeline(tmp_path, router_for(backend), busy_policy="cancel") as kit:
        first = asyncio.create_task(collect(kit.service, message("one")))
        await backend.got_request.wait()
        second = await collect(kit.service, message("two"))
        assert failed(await first).code == "cancelled"
        assert done(second).text == "z" * 150
        turns = await kit.turns(message("x"))
        assert [(t.role, t.interrupted) for t in turns] == [
            ("user", False),
            ("assistant", True),
            ("user", False),
            ("assistant", False),
        ]


async def test_trimming_drops_oldest_and_tells_once(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(tokens=["ok"], context_length=400)})
    async with pipeline(
        tmp_path, router_for(backend), reply_reserve_tokens=100, system_prompt="SYS"
    ) as kit:
        told = []
        for i in range(8):
            events = await collect(kit.service, message(f"{i}" + "w" * 240))
            told += notices(events)
        assert told == [TRIMMED_NOTICE]
        sent = backend.requests[-1].messages
        assert sent[0].content == "SYS"
        assert sent[-1].content.startswith("7")
        assert sent[1].role == "user"
        assert len(sent) < 2 * 8
        contents = [m.content[0] for m in sent[1:] if m.role == "user"]
        assert contents == sorted(contents)  # newest kept, in order


async def test_history_mode_forwards_given_messages(tmp_path: Path) -> None:
    from hub.core.models import ChatMessage

    backend = ScriptedBackend()
    async with pipeline(tmp_path, router_for(backend)) as kit:
        history = (
            ChatMessage("user", "a"),
            ChatMessage("assistant", "b"),
            ChatMessage("user", "/help"),
        )
        events = await collect(kit.service, message("", history=history))
        done(events)
        assert [m.content for m in backend.requests[0].messages] == ["a", "b", "/help"]
        assert await kit.turns(message("")) == []


async def test_unexpected_error_becomes_failed(tmp_path: Path) -> None:
    class Broken(SingleBackendRouter):
        async def context_window(self, model: str) -> int | None:
            raise RuntimeError("bug")

    backend = ScriptedBackend()
    async with pipeline(tmp_path, Broken(backend, "m1")) as kit:  # type: ignore[arg-type]
        end = failed(await collect(kit.service, message("hi")))
        assert isinstance(end, Failed) and "went wrong" in end.reason
        turns = await kit.turns(message("hi"))
        assert [(t.role, t.interrupted) for t in turns] == [("user", False), ("assistant", True)]


async def test_empty_message_is_answered_by_the_hub(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    async with pipeline(tmp_path, router_for(backend)) as kit:
        assert notices(await collect(kit.service, message("  \n"))) == [
            "There is nothing to answer yet: send me some text."
        ]
        assert backend.requests == []


async def test_aclose_stops_replies_in_progress(tmp_path: Path) -> None:
    backend = ScriptedBackend(scripts={"m1": Script(tokens=["w"] * 1000, delay=0.002)})
    async with pipeline(tmp_path, router_for(backend)) as kit:
        replying = asyncio.create_task(collect(kit.service, message("long")))
        await backend.got_request.wait()
        await kit.service.aclose()
        assert failed(await replying).code == "cancelled"
        turns = await kit.turns(message("x"))
        assert [(t.role, t.interrupted) for t in turns] == [("user", False), ("assistant", True)]


async def test_real_limit_gate_refuses_and_releases_leases(tmp_path: Path) -> None:
    from hub.core.limits.config import LimitsConfig
    from hub.core.limits.gate import PolicyLimitGate
    from hub.core.limits.memory import MemoryRateLimiter

    limiter = MemoryRateLimiter()
    config = LimitsConfig.model_validate({"per_user": "2/minute", "concurrent_per_user": 1})
    backend = ScriptedBackend()
    async with pipeline(
        tmp_path, router_for(backend), limits=PolicyLimitGate(config, limiter)
    ) as kit:
        done(await collect(kit.service, message("one")))
        done(await collect(kit.service, message("two")))  # the first lease was given back
        refused = failed(await collect(kit.service, message("three")))
        assert refused.code == "rate_limited"
        assert refused.reason.startswith("Rate limit reached") and "Try again in" in refused.reason
        assert refused.retry_after is not None and 0 < refused.retry_after <= 60
        assert len(backend.requests) == 2
        assert await limiter.leases("replies:user:" + (await kit.user_id())) == 0


async def test_queued_message_is_admitted_only_when_its_turn_comes(tmp_path: Path) -> None:
    from hub.core.limits.config import LimitsConfig
    from hub.core.limits.gate import PolicyLimitGate
    from hub.core.limits.memory import MemoryRateLimiter

    config = LimitsConfig.model_validate({"concurrent_per_user": 1})
    gate = PolicyLimitGate(config, MemoryRateLimiter())
    backend = ScriptedBackend(scripts={"m1": Script(tokens=["q"] * 20, delay=0.003)})
    async with pipeline(tmp_path, router_for(backend), limits=gate) as kit:
        first = asyncio.create_task(collect(kit.service, message("one")))
        await backend.got_request.wait()
        second = await collect(kit.service, message("two"))
        # One reply at a time per user is allowed; the waiting message is not refused.
        assert done(await first).text == "q" * 20
        assert done(second).text == "q" * 20
