"""The sink contract: every platform's sink, against its fake, behaves the same under render().

Exact final text; valid splits with balanced code fences; a platform's rate-limit pause honoured
for exactly as long as asked, in its scope; "not modified" taken as success; markup refused →
plain text; the Stop control shown while streaming and gone at the end. Harnesses:
`sink_harness.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hub.core.markup.fences import fence_state_after
from hub.core.models import IncomingMessage, PlatformUser
from hub.core.ports import MessageSink, Scope, WriteKind
from hub.core.render import RenderResult, render
from tests.contract.sink_harness import SinkHarness, harnesses
from tests.support.chat import ScriptedChat
from tests.support.wait import until

HARNESSES = harnesses()


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[SinkHarness]:
    made = HARNESSES[request.param]()
    await made.start()
    yield made
    await made.close()


def long_text(words: int) -> str:
    lines = [" ".join(f"word{(i + j) % 89}" for j in range(11)) + "." for i in range(0, words, 11)]
    return "\n\n".join(" ".join(lines[i : i + 3]) for i in range(0, len(lines), 3))


def message(chat: str, thread: str = "") -> IncomingMessage:
    return IncomingMessage("contract", chat, PlatformUser("contract", "1", "Ada"), "go", thread)


async def reply(
    chat: ScriptedChat, sink: MessageSink, where: str, thread: str = ""
) -> RenderResult:
    return await render(chat.reply(message(where, thread)), sink)


async def test_final_text_is_exact_without_flood_errors(harness: SinkHarness) -> None:
    text = long_text(400)
    chat = ScriptedChat(lambda m: text, tokens_per_second=300)
    where = harness.chat(1)
    result = await reply(chat, harness.sink(where, stop_token="stop:t"), where)

    assert result.delivered and result.errors == 0
    assert [s.text for s in harness.shown(where)] == harness.expected(text)
    assert harness.flood_violations() == 0


async def test_long_replies_split_into_valid_parts(harness: SinkHarness) -> None:
    code = "```python\n" + "".join(f"x_{i} = f({i}) if a < b else 0\n" for i in range(200))
    text = long_text(300) + "\n\n" + code + "```\n\n" + long_text(300)
    chat = ScriptedChat(lambda m: text, tokens_per_second=2000)
    where = harness.chat(2)
    result = await reply(chat, harness.sink(where), where)

    shown = harness.shown(where)
    assert [s.text for s in shown] == harness.expected(text)
    assert len(shown) >= 3
    assert all(harness.length(s.text) <= harness.max_len for s in shown)
    assert all(fence_state_after(part) is None for part in result.parts)
    assert harness.flood_violations() == 0


async def test_a_scoped_pause_is_honoured_for_as_long_as_asked(harness: SinkHarness) -> None:
    for n, scope in enumerate(harness.scopes):
        await pause_in_scope(harness, harness.chat(30 + n), scope)
    assert harness.flood_violations() == 0


async def pause_in_scope(harness: SinkHarness, where: str, scope: Scope) -> None:
    """A 429 of `scope` in one reply: it and a reply sharing the scope wait it out."""
    sibling = harness.sibling(where, scope)  # None: no other conversation shares the scope
    text = long_text(240)
    chat = ScriptedChat(lambda m: text, tokens_per_second=60)
    kind: WriteKind = "stream" if harness.name.endswith(("drafts", "streams")) else "edit"
    first = asyncio.create_task(reply(chat, harness.sink(where), where))
    await until(lambda: any(w.kind == kind for w in harness.writes(where)))
    harness.fail_next(kind, "rate_limited", retry_after=1.5, scope=scope)
    replies = [first]
    if sibling is not None:
        other, thread = sibling
        replies.append(
            asyncio.create_task(reply(chat, harness.sink(other, thread=thread), other, thread))
        )
    await asyncio.gather(*replies)

    writes = harness.writes(where)
    if sibling is not None and sibling[0] != where:
        writes += harness.writes(sibling[0])
    limited = next(w.t for w in writes if w.status == 429)
    after = [w.t for w in writes if w.t > limited and w.status != 429]
    assert after and min(after) - limited >= 1.5 - 0.05  # nobody in the scope wrote early
    assert [s.text for s in harness.shown(where)][-1:] == harness.expected(text)[-1:]


async def test_not_modified_counts_as_success(harness: SinkHarness) -> None:
    if "not_modified" not in harness.failures:
        pytest.skip(f"{harness.name} has no 'not modified' answer")
    text = long_text(220)
    chat = ScriptedChat(lambda m: text, tokens_per_second=60)
    where = harness.chat(4)
    task = asyncio.create_task(reply(chat, harness.sink(where), where))
    await until(lambda: any(w.kind == "send" for w in harness.writes(where)))
    harness.fail_next("edit", "not_modified")
    result = await task

    assert result.errors == 0 and result.delivered
    assert [s.text for s in harness.shown(where)] == harness.expected(text)
    assert sum(w.status != 200 for w in harness.writes(where)) == 1  # never retried as an error


async def test_refused_markup_falls_back_to_plain_text(harness: SinkHarness) -> None:
    if "markup" not in harness.failures:
        pytest.skip(f"{harness.name} never refuses markup")
    text = "Some **bold**, `code` and a [link](https://example.org)."
    chat = ScriptedChat(lambda m: text)
    where = harness.chat(5)
    harness.fail_next("send", "markup")  # a short reply arrives whole: one send
    result = await reply(chat, harness.sink(where), where)

    assert result.plain_fallbacks == 1 and result.delivered
    [shown] = harness.shown(where)
    assert shown.text == harness.plain(text) and not shown.markup


async def test_stop_control_while_streaming_and_stopping(harness: SinkHarness) -> None:
    chat = ScriptedChat(lambda m: long_text(3000), tokens_per_second=50)
    where = harness.chat(6)
    task = asyncio.create_task(reply(chat, harness.sink(where, stop_token="stop:abc"), where))
    if harness.stop_control:
        await until(lambda: any(s.stop for s in harness.shown(where)))
    else:
        await until(lambda: any(w.status == 200 for w in harness.writes(where)))
    assert await chat.stop(message(where).key)
    result = await task

    assert result.text.endswith("⚠ reply interrupted: stopped.")
    shown = harness.shown(where)
    assert shown[-1].text.endswith("⚠ reply interrupted: stopped.")
    assert not any(s.stop for s in shown)  # no Stop control outlives the reply
