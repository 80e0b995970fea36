"""Small parts of the pipeline: command parsing, history trimming, token estimates, slots."""

from __future__ import annotations

import asyncio

import pytest

from hub.core.commands import Command, parse_command
from hub.core.context import (
    MAX_PLAUSIBLE_RATIO,
    NoticeMemory,
    TokenEstimator,
    message_tokens,
    trim_history,
)
from hub.core.models import ChatMessage
from hub.core.serial import ConversationSlots


@pytest.mark.parametrize(
    ("text", "bot", "expected"),
    [
        ("/help", "", Command("help", "")),
        ("  /Model  llama3:8b ", "", Command("model", "llama3:8b")),
        ("/new@hubbot", "hubbot", Command("new", "")),
        ("/new@HubBot", "hubbot", Command("new", "")),
        ("/new@otherbot", "hubbot", Command("new", "", for_us=False)),
        ("/new@anybot", "", Command("new", "")),
        (
            "/prompt add x T | line one\nline two",
            "",
            Command("prompt", "add x T | line one\nline two"),
        ),
        ("/summarize\nsome text", "", Command("summarize", "some text")),
        ("hello /help", "", None),
        ("/usr/bin/env is a path", "", None),
        ("/", "", None),
        ("plain text", "", None),
    ],
)
def test_parse_command(text: str, bot: str, expected: Command | None) -> None:
    assert parse_command(text, bot) == expected


def msgs(*pairs: tuple[str, str]) -> list[ChatMessage]:
    return [ChatMessage(role, content) for role, content in pairs]


def test_trim_keeps_everything_that_fits() -> None:
    system = msgs(("system", "s"))
    history = msgs(("user", "a"), ("assistant", "b"))
    result = trim_history(system, history, ChatMessage("user", "c"), 1000, 3.0)
    assert [m.content for m in result.messages] == ["s", "a", "b", "c"]
    assert result.dropped == 0


def test_trim_drops_oldest_and_never_starts_with_an_orphan_answer() -> None:
    history = msgs(
        ("user", "u" * 30), ("assistant", "a" * 30), ("user", "v" * 30), ("assistant", "b" * 3)
    )
    # Room for everything but the oldest question: its answer is left out with it.
    cost = [message_tokens(m, 3.0) for m in history]
    current = ChatMessage("user", "now")
    budget = message_tokens(current, 3.0) + cost[1] + cost[2] + cost[3]
    result = trim_history([], history, current, budget, 3.0)
    assert [m.content[0] for m in result.messages] == ["v", "b", "n"]
    assert result.dropped == 2


def test_trim_always_sends_the_current_message() -> None:
    current = ChatMessage("user", "x" * 10_000)
    result = trim_history(msgs(("system", "s")), msgs(("user", "a")), current, 10, 3.0)
    assert [m.content[:1] for m in result.messages] == ["s", "x"]
    assert result.dropped == 1


def test_estimator_ignores_small_and_implausible_observations() -> None:
    estimator = TokenEstimator(3.0)
    estimator.observe("m", msgs(("user", "short")), 2)
    assert estimator.ratio("m") == 3.0
    text = msgs(("user", "y" * 1000))
    estimator.observe("m", text, int(1000 / (MAX_PLAUSIBLE_RATIO + 1)) + 4)  # a cached prompt
    assert estimator.ratio("m") == 3.0
    estimator.observe("m", text, 250 + 4)
    assert estimator.ratio("m") == pytest.approx(0.3 * 4.0 + 0.7 * 3.0)
    assert estimator.ratio("other") == 3.0
    assert estimator.count("other", text) == 4 + 334


def test_notice_memory_tells_once_and_stays_bounded() -> None:
    memory = NoticeMemory(capacity=2)
    assert memory.first_time("a") and not memory.first_time("a")
    assert memory.first_time("b") and memory.first_time("c")
    assert memory.first_time("a")  # forgotten: the oldest went first


async def test_slots_serialise_and_disappear_when_idle() -> None:
    slots = ConversationSlots()
    order: list[str] = []

    async def hold(name: str) -> None:
        async with slots.hold("k", on_stop=lambda: None):
            order.append(f"{name}+")
            await asyncio.sleep(0.01)
            order.append(f"{name}-")

    first = asyncio.create_task(hold("1"))
    await asyncio.sleep(0)
    assert slots.ahead("k") == 0 and slots.holds("k")
    await asyncio.gather(first, hold("2"))
    assert order == ["1+", "1-", "2+", "2-"]
    assert len(slots) == 0 and slots.ahead("k") == -1 and not slots.holds("k")
