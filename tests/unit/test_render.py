"""render(): budget, retry-after, failures, splitting, typing and placeholders, on virtual time."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence

import pytest

from hub.core.budget import BudgetPools, Limit
from hub.core.markup import telegram as tg
from hub.core.markup.fences import fence_state_after
from hub.core.markup.split import split_markdown
from hub.core.models import Done, Failed, Notice, Queued, ReplyEvent, Started, Text
from hub.core.ports import (
    Rate,
    SinkError,
    SinkMessageGone,
    SinkRateLimited,
    SinkRejectedMarkup,
)
from hub.core.render import render
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_html import parse
from tests.support.sinks import RecordingSink

PER_SECOND = Rate(limit=1, period=1.0)


def make_sink(clock: FakeClock, pools: BudgetPools | None = None, chat: str = "1") -> RecordingSink:
    pools = pools or BudgetPools(clock)
    return RecordingSink(budget=pools.budget((f"chat:{chat}", PER_SECOND)))


async def paced(
    clock: FakeClock,
    tokens: Sequence[str],
    rate: float = 40.0,
    *,
    before: Sequence[ReplyEvent] = (),
    end: ReplyEvent | None = None,
) -> AsyncIterator[ReplyEvent]:
    for event in before:
        yield event
    yield Started(model="m", backend="b")
    for token in tokens:
        await clock.sleep(1.0 / rate)
        yield Text(token)
    yield end if end is not None else Done(text="".join(tokens))


def words(n: int) -> list[str]:
    return [f"w{i} " for i in range(n)]


async def test_edits_follow_the_budget_exactly() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    tokens = words(600)  # 15 s at 40 tokens/s
    result = await clock.run(render(paced(clock, tokens), sink, clock=clock))

    times = [c.t for c in sink.writes()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1.0 - 1e-9  # never faster than the budget
    assert len(times) >= 15  # and not slower: one write per second of streaming
    assert len(times) <= 15 + 2
    assert result.rate_limited == 0
    assert sink.visible() == ["".join(tokens).strip()]
    assert result.first_token_at is not None and result.first_visible_at is not None
    assert result.first_visible_at - result.first_token_at == pytest.approx(0.25)


async def test_a_reply_that_arrives_whole_is_written_once() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    await clock.run(render(paced(clock, ["Short ", "answer."], rate=100.0), sink, clock=clock))
    assert [(c.kind, c.final) for c in sink.writes()] == [("send", True)]
    assert sink.visible() == ["Short answer."]


async def test_intermediate_writes_carry_marker_and_valid_html() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    tokens = ["Some **bold", " text** and `co", "de` then\n", "```py\nx = 1 <", " 2\n", "```\n"] * 8
    await clock.run(render(paced(clock, tokens, rate=4.0), sink, clock=clock))
    writes = sink.writes()
    assert all(c.text is not None for c in writes)
    for call in writes[:-1]:
        assert call.text is not None and call.text.text.endswith(" ▌")
        parse(call.text.text)  # raises like Telegram on invalid markup
    last = writes[-1].text
    assert last is not None and not last.text.endswith("▌")
    assert sink.visible() == [tg.visible(tg.to_html("".join(tokens)))]


async def test_retry_after_pauses_exactly_and_loses_nothing() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    sink.fail("edit", None, None, SinkRateLimited(2.0))
    tokens = words(400)
    result = await clock.run(render(paced(clock, tokens), sink, clock=clock))

    writes = sink.writes()
    failed_at = next(i for i, c in enumerate(writes) if c.kind == "edit" and i >= 3)
    assert writes[failed_at + 1].t == pytest.approx(writes[failed_at].t + 2.0, abs=1e-9)
    before, after = writes[failed_at].text, writes[failed_at + 1].text
    assert before is not None and after is not None
    assert len(after.text) > len(before.text)  # carries everything that came meanwhile
    assert result.rate_limited == 1
    assert sink.visible() == ["".join(tokens).strip()]


async def test_final_text_exact_after_injected_failures() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    sink.fail("send", SinkError("connection reset"))
    sink.fail("edit", None, SinkMessageGone("message to edit not found"), SinkError("boom"))
    sink.fail("finish", SinkRateLimited(1.5), SinkError("timeout"), SinkRejectedMarkup("bad"))
    tokens = ["Hello ", "**world**", ", this ", "is ", "fine.", *words(100)]
    result = await clock.run(render(paced(clock, tokens, rate=10.0), sink, clock=clock))

    full = "".join(tokens)
    assert result.delivered
    assert result.plain_fallbacks == 1
    # The finish was refused as markup, so the message fell back to the Markdown as typed.
    shown = [sink.content[h] for h in result.handles]
    assert [s.text for s in shown] == [tg.to_plain(full)]
    assert not shown[0].markup
    # The deleted message was replaced by a new one: only the live messages count.
    assert sink.final[result.handles[0]]


async def test_markup_rejected_everywhere_falls_back_to_plain() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    sink.reject_markup = True
    tokens = ["a *b* ", "c"]
    result = await clock.run(render(paced(clock, tokens), sink, clock=clock))
    assert sink.visible() == ["a *b* c"]
    assert result.delivered


async def test_long_reply_is_split_into_chained_parts() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    code = (
        "```python\n" + "".join(f"value_{i} = compute({i}) < limit\n" for i in range(160)) + "```\n"
    )
    prose = "".join(f"Sentence number {i} explains a detail. " for i in range(60)) + "\n\n"
    text = prose + code + prose + prose
    tokens = [text[i : i + 17] for i in range(0, len(text), 17)]
    assert len(text) > 9000
    result = await clock.run(render(paced(clock, tokens, rate=200.0), sink, clock=clock))

    expected = split_markdown(text, 4096, tg.measure)
    assert len(expected) >= 3
    assert result.parts == [p.text for p in expected]
    assert sink.visible() == [tg.visible(tg.to_html(p.text)) for p in expected]
    for part in expected:
        assert fence_state_after(part.text) is None
        assert tg.len16(tg.visible(tg.to_html(part.text))) <= 4096
    handles = result.handles
    assert sink.reply_to[handles[0]] is None
    assert [sink.reply_to[h] for h in handles[1:]] == handles[:-1]
    assert all(sink.final[h] for h in handles)


async def test_typing_until_first_text_and_queue_positions_in_placeholder() -> None:
    clock = FakeClock()
    sink = make_sink(clock)

    async def events() -> AsyncIterator[ReplyEvent]:
        for position in (2, 1, 0):
            yield Queued(position)
            await clock.sleep(5.0)
        yield Started(model="m", backend="b")
        await clock.sleep(2.0)
        yield Text("Hello there")
        await clock.sleep(6.0)
        yield Done(text="Hello there")

    await clock.run(render(events(), sink, clock=clock))
    typing = [c.t for c in sink.calls if c.kind == "typing"]
    assert typing == [0.0, 4.0, 8.0, 12.0, 16.0]  # renewed every 4 s until the text at 17 s
    shown = [tg.visible(c.text.text) for c in sink.writes() if c.text is not None]
    assert shown[:4] == [
        "⏳ Queued: 2 ahead of you ▌",
        "⏳ Queued: 1 ahead of you ▌",
        "⏳ Queued: you're next ▌",
        "… ▌",
    ]
    assert sink.visible() == ["Hello there"]
    assert len(sink.content) == 1  # the placeholder became the reply


async def test_failed_reply_ends_with_a_notice() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    end = Failed(reason="Backend unavailable.", partial_text="partial answer")
    await clock.run(render(paced(clock, ["partial ", "answer"], end=end), sink, clock=clock))
    assert sink.visible() == ["partial answer\n\n⚠ reply interrupted: backend unavailable."]


async def test_failure_inside_code_block_closes_it_first() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    end = Failed(reason="Stopped.", code="cancelled")
    tokens = ["```sh\n", "echo hi\n"]
    result = await clock.run(render(paced(clock, tokens, end=end), sink, clock=clock))
    assert result.text == "```sh\necho hi\n```\n\n⚠ reply interrupted: stopped."
    assert sink.visible() == ["echo hi\n\n⚠ reply interrupted: stopped."]


async def test_failure_before_any_text_is_shown_as_is() -> None:
    clock = FakeClock()
    sink = make_sink(clock)

    async def events() -> AsyncIterator[ReplyEvent]:
        yield Failed(reason="Rate limit reached (20 per minute). Try again in 23 s.")

    await clock.run(render(events(), sink, clock=clock))
    assert sink.visible() == ["⚠ Rate limit reached (20 per minute). Try again in 23 s."]


async def test_notices_are_rendered_as_text() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    before = [Notice("Older turns were dropped.")]
    await clock.run(render(paced(clock, ["Hi"], before=before), sink, clock=clock))
    assert sink.visible() == ["Older turns were dropped.\n\nHi"]


async def test_shared_pool_limits_concurrent_chats_together() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    sinks = [
        RecordingSink(budget=pools.budget((f"chat:{n}", PER_SECOND), ("bot", Rate(2, 1.0))))
        for n in range(4)
    ]

    async def all_renders() -> None:
        await asyncio.gather(*(render(paced(clock, words(200)), s, clock=clock) for s in sinks))

    await clock.run(all_renders())
    times = sorted(c.t for s in sinks for c in s.writes())
    # At most 2 writes in any 1 s window across all chats (bucket of 2/s, burst 1).
    for i in range(len(times) - 2):
        assert times[i + 2] - times[i] >= 0.5 - 1e-9
    for s in sinks:
        assert s.visible() == ["".join(words(200)).strip()]


async def test_keepalive_refreshes_a_quiet_message() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    sink.keepalive = 20.0

    async def events() -> AsyncIterator[ReplyEvent]:
        yield Text("thinking hard")
        await clock.sleep(50.0)
        yield Done(text="thinking hard")

    await clock.run(render(events(), sink, clock=clock))
    edits = [c.t for c in sink.calls if c.kind == "edit"]
    assert edits == [20.25, 40.25]  # first write held 0.25 s, then every 20 s


async def test_a_scoped_pause_in_one_chat_slows_its_siblings() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    workspace = Limit("ws:T1", Rate(20, 1.0, burst=19), scope="workspace")
    a, b = (RecordingSink(budget=pools.budget((f"c:{n}", PER_SECOND), workspace)) for n in "ab")
    c = RecordingSink(budget=pools.budget(("c:other", PER_SECOND)))
    a.fail("edit", None, None, SinkRateLimited(3.0, scope="workspace"))

    async def all_renders() -> None:
        await asyncio.gather(*(render(paced(clock, words(300)), s, clock=clock) for s in (a, b, c)))

    await clock.run(all_renders())
    limited = [call.t for call in a.calls if call.kind == "edit"][2]
    held = [call.t for call in b.writes() if limited < call.t < limited + 3.0]
    assert held == []  # the sibling in the same workspace waited out the same pause
    assert [t for t in (call.t for call in c.writes()) if limited < t < limited + 3.0] != []
    for sink in (a, b, c):
        assert sink.visible() == ["".join(words(300)).strip()]
