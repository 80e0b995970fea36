"""ChatService end to end over real HTTP: the real Ollama backend and Router against the fake
Ollama server, and the real SQLite store."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hub.core.backends import build_backend
from hub.core.chat_config import ChatConfig
from hub.core.context import TRIMMED_NOTICE
from hub.core.models import Done, Failed, ReplyEvent, Started, Text, Turn, utcnow
from hub.core.router import Router
from hub.core.routing_config import BackendConfig, RoutingConfig
from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_wire import numbered_tokens
from tests.unit.pipeline_kit import Kit, collect, done, failed, message, notices, pipeline

MODEL = "gemma3:270m"
OTHER = "llama3.2:1b"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama([MODEL, OTHER]) as server:
        yield server


@asynccontextmanager
async def hub(tmp_path: Path, url: str, **chat: Any) -> AsyncIterator[Kit]:
    """A ChatService on one Ollama backend at `url` (routing as `chathub serve` builds it)."""
    config = ChatConfig(**chat)
    backend_config = BackendConfig(name="ollama", url=url)
    routing = RoutingConfig(backends=[backend_config], allowlists={"user": [MODEL]})
    router = Router(routing, [build_backend(backend_config, config)], default_model=MODEL)
    await router.start()
    try:
        async with pipeline(tmp_path, router, **chat) as kit:
            yield kit
    finally:
        await router.aclose()


def consistent(turns: list[Turn], user_text: str) -> Turn:
    """The user turn is stored once, followed by one interrupted assistant turn."""
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[0].text == user_text
    assert turns[1].interrupted
    return turns[1]


async def test_history_reaches_backend_in_order_with_system_prompt(
    tmp_path: Path, fake: FakeOllama
) -> None:
    fake.script(MODEL, tokens=["fine"])
    async with hub(tmp_path, fake.url, system_prompt="You are terse.") as kit:
        for text in ("one", "two", "three"):
            done(await collect(kit.service, message(text)))
    sent = fake.chat_requests[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "You are terse."),
        ("user", "one"),
        ("assistant", "fine"),
        ("user", "two"),
        ("assistant", "fine"),
        ("user", "three"),
    ]
    assert fake.chat_requests[-1].json["model"] == MODEL


async def test_long_streamed_reply_arrives_intact(tmp_path: Path, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=2000)
    async with hub(tmp_path, fake.url) as kit:
        events = await collect(kit.service, message("write a lot"))
        expected = "".join(numbered_tokens(2000))
        assert "".join(e.delta for e in events if isinstance(e, Text)) == expected
        end = done(events)
        assert end.text == expected
        assert (end.model, end.backend) == (MODEL, "ollama")
        assert end.metrics.completion_tokens == 2000
        turns = await kit.turns(message("x"))
        assert turns[-1].text == expected and not turns[-1].interrupted
        assert turns[-1].completion_tokens == 2000


async def test_stop_closes_upstream_and_stores_partial_turn(
    tmp_path: Path, fake: FakeOllama
) -> None:
    fake.script(MODEL, token_count=5000, tokens_per_second=400)
    async with hub(tmp_path, fake.url) as kit:
        msg = message("go on forever")
        events: list[ReplyEvent] = []
        async for event in kit.service.reply(msg):
            events.append(event)
            if isinstance(event, Text) and len(events) == 6:
                assert await kit.service.stop(msg.key)
        await fake.wait_for(lambda: fake.connections_closed == 1)
        end = failed(events)
        assert (end.code, end.reason) == ("cancelled", "Reply stopped.")
        assert end.partial_text.startswith("t0 t1 t2 t3 t4")
        partial = consistent(await kit.turns(msg), "go on forever")
        assert partial.text == end.partial_text


@pytest.mark.parametrize(
    ("script", "words"),
    [
        ({"error_after": 3, "error_message": "CUDA error: out of memory"}, "out of memory"),
        ({"drop_after": 3}, ""),
        ({"status": 500}, "llama runner process has terminated"),
        ({"first_token_delay": 3.0}, "did not start answering within 0.5 s"),
    ],
    ids=["error-line", "dropped", "http-500", "first-token-timeout"],
)
async def test_backend_failures_become_failed_events(
    tmp_path: Path, fake: FakeOllama, script: dict[str, Any], words: str
) -> None:
    fake.script(MODEL, token_count=50, **script)
    async with hub(tmp_path, fake.url, first_token_timeout=0.5) as kit:
        events = await collect(kit.service, message("hello"))
        end = failed(events)
        assert len(end.reason) > 15, end.reason
        assert words.lower() in end.reason.lower(), end.reason
        assert end.code == "unavailable"
        partial = consistent(await kit.turns(message("x")), "hello")
        assert partial.text == end.partial_text
        if "error_after" in script or "drop_after" in script:
            assert end.partial_text == "t0 t1 t2"
        else:
            assert end.partial_text == ""


async def test_connect_refused_is_a_readable_failure(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    async with hub(tmp_path, f"http://127.0.0.1:{port}") as kit:
        end = failed(await collect(kit.service, message("anyone there?")))
        assert str(port) in end.reason and end.code == "backend_down", end.reason
        assert end.retry_after is not None and end.retry_after >= 1
        consistent(await kit.turns(message("x")), "anyone there?")


async def test_after_a_failure_the_next_reply_is_consistent(
    tmp_path: Path, fake: FakeOllama
) -> None:
    fake.script(MODEL, token_count=10, error_after=2)
    async with hub(tmp_path, fake.url) as kit:
        failed(await collect(kit.service, message("first")))
        fake.script(MODEL, tokens=["ok"])
        done(await collect(kit.service, message("second")))
        turns = await kit.turns(message("x"))
        assert [(t.role, t.text, t.interrupted) for t in turns] == [
            ("user", "first", False),
            ("assistant", "t0 t1", True),
            ("user", "second", False),
            ("assistant", "ok", False),
        ]
    sent = fake.chat_requests[-1].json["messages"]
    assert [m["content"] for m in sent] == ["first", "t0 t1", "second"]


async def test_new_isolates_history(tmp_path: Path, fake: FakeOllama) -> None:
    async with hub(tmp_path, fake.url) as kit:
        done(await collect(kit.service, message("remember 42")))
        notices(await collect(kit.service, message("/new")))
        done(await collect(kit.service, message("what number?")))
    assert [m["content"] for m in fake.chat_requests[-1].json["messages"]] == ["what number?"]


async def test_model_outside_allowlist_is_refused(tmp_path: Path, fake: FakeOllama) -> None:
    async with hub(tmp_path, fake.url) as kit:
        [answer] = notices(await collect(kit.service, message(f"/model {OTHER}")))
        assert answer.startswith(f"You can't choose {OTHER}: the hub's allowlist for the user role")
        done(await collect(kit.service, message("hi")))
    assert fake.chat_requests[-1].json["model"] == MODEL


async def test_unknown_command_makes_no_request(tmp_path: Path, fake: FakeOllama) -> None:
    async with hub(tmp_path, fake.url) as kit:
        [answer] = notices(await collect(kit.service, message("/summarise this")))
        assert answer == "Unknown command /summarise. Send /help for the list."
    assert fake.chat_requests == []


async def test_one_reply_at_a_time_per_conversation(tmp_path: Path, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=30, tokens_per_second=300)
    async with hub(tmp_path, fake.url) as kit:
        finished: list[str] = []
        streaming = asyncio.Event()

        async def ask(text: str, chat: str) -> list[ReplyEvent]:
            events: list[ReplyEvent] = []
            async for event in kit.service.reply(message(text, chat=chat)):
                events.append(event)
                if isinstance(event, Text):
                    streaming.set()
            finished.append(text)
            return events

        first = asyncio.create_task(ask("a1", "A"))
        await streaming.wait()  # a1 is streaming now
        second = asyncio.create_task(ask("a2", "A"))
        other = asyncio.create_task(ask("b1", "B"))
        results = await asyncio.gather(first, second, other)
        for events in results:
            done(events)
    arrivals = [r.json["messages"][-1]["content"] for r in fake.chat_requests]
    # a2 reached the model only after a1 was answered; b1 did not wait for conversation A.
    assert arrivals.index("b1") < arrivals.index("a2")
    assert finished.index("a1") < finished.index("a2")
    a2 = next(r for r in fake.chat_requests if r.json["messages"][-1]["content"] == "a2")
    assert [m["content"] for m in a2.json["messages"]][:2] == ["a1", "".join(numbered_tokens(30))]


async def test_trimming_drops_oldest_turns_and_tells_once(tmp_path: Path, fake: FakeOllama) -> None:
    fake.script(MODEL, tokens=["ok"], context_length=600)
    async with hub(tmp_path, fake.url, reply_reserve_tokens=200, system_prompt="SYS") as kit:
        told: list[str] = []
        for i in range(10):
            told += notices(await collect(kit.service, message(f"q{i} " + "word " * 40)))
        assert told == [TRIMMED_NOTICE]
        assert len(await kit.turns(message("x"))) == 20  # nothing is deleted from the store
    sent = fake.chat_requests[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": "SYS"}
    assert sent[1]["role"] == "user"
    assert sent[-1]["content"].startswith("q9 ")
    kept = [m["content"].split()[0] for m in sent if m["role"] == "user"]
    assert "q0" not in kept and kept == sorted(kept)
    chars = sum(len(m["content"]) for m in sent)
    assert chars / 3.0 + 4 * len(sent) <= 400  # within the budget at the start ratio


async def test_calibration_from_prompt_eval_count(tmp_path: Path, fake: FakeOllama) -> None:
    text = "x" * 1196
    async with hub(tmp_path, fake.url) as kit:
        estimator = kit.service.estimator
        assert estimator.ratio(MODEL) == 3.0
        # 1,196 + 4 = 1,200 characters in two messages read as 300 tokens: 4.0 chars/token.
        fake.script(MODEL, tokens=["abcd"], prompt_eval_count=300 + 4 * 1)
        done(await collect(kit.service, message(text)))
        assert estimator.ratio(MODEL) == pytest.approx(0.3 * (1196 / 300) + 0.7 * 3.0)
        # A denser tokenizer than assumed is believed at once (the estimate stays conservative).
        await collect(kit.service, message("/new"))
        fake.script(MODEL, tokens=["ok"], prompt_eval_count=600 + 4)
        done(await collect(kit.service, message(text)))
        assert estimator.ratio(MODEL) == pytest.approx(1196 / 600)


async def test_done_names_model_and_counts_usage(tmp_path: Path, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=7, prompt_eval_count=11)
    async with hub(tmp_path, fake.url) as kit:
        events = await collect(kit.service, message("hi"))
        assert isinstance(events[0], Started) and events[0].backend == "ollama"
        end = done(events)
        assert isinstance(end, Done) and not isinstance(end, Failed)
        user = await kit.stores.users.for_identity(message("x").user)
        today = utcnow().strftime("%Y-%m-%d")
        usage = await kit.stores.usage.for_user(user.id, today)
        assert [(u.model, u.requests, u.prompt_tokens, u.completion_tokens) for u in usage] == [
            (MODEL, 1, 11, 7)
        ]
