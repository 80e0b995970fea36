"""render() through native streams (Slack-like append-only ones, and previews), on virtual time."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from hub.core.budget import BudgetPools, Limit
from hub.core.markup import telegram as tg
from hub.core.markup.fences import fence_state_after
from hub.core.markup.split import split_markdown
from hub.core.models import Done, Queued, ReplyEvent, Started, Text
from hub.core.ports import Rate, SinkRateLimited, SinkRejectedMarkup, SinkStreamUnavailable
from hub.core.render import render
from tests.fakes.clock import FakeClock
from tests.support.sinks import RecordingSink
from tests.unit.test_render import paced, words


def stream_sink(
    clock: FakeClock, *, append_only: bool = True, max_len: int = 4096
) -> RecordingSink:
    budget = BudgetPools(clock).budget(("chat", Rate(1, 1.0)))
    return RecordingSink(budget=budget, streams=True, append_only=append_only, max_len=max_len)


def code_heavy_reply() -> str:
    prose = "".join(f"Sentence {i} says something useful. " for i in range(40)) + "\n\n"
    code = "```python\n" + "".join(f"value_{i} = compute({i})\n" for i in range(120)) + "```\n\n"
    return prose + code + prose + code + prose


async def test_append_only_stream_shows_the_whole_reply_in_valid_parts() -> None:
    clock = FakeClock()
    sink = stream_sink(clock, max_len=1500)
    text = code_heavy_reply()
    tokens = [text[i : i + 9] for i in range(0, len(text), 9)]
    result = await clock.run(render(paced(clock, tokens, rate=300.0), sink, clock=clock))

    assert result.delivered and result.appends > 0
    assert sink.rewrites == 0  # every final part continued what its stream had shown
    assert len(result.parts) >= 4
    for part in result.parts:
        assert fence_state_after(part) is None  # fences closed in every message
        assert tg.measure(part) <= 1500
    shown = [w for p in result.parts for w in p.split() if not w.startswith("```")]
    assert shown == [w for w in text.split() if not w.startswith("```")]
    assert sink.visible() == [tg.visible(tg.to_html(p)) for p in result.parts]
    # Parts complete before their first write go out whole; nothing is ever edited.
    assert all(c.final for c in sink.calls if c.kind == "send")
    assert [c for c in sink.calls if c.kind in ("edit", "finish")] == []


async def test_preview_streams_split_exactly_like_edits() -> None:
    clock = FakeClock()
    sink = stream_sink(clock, append_only=False)
    text = "".join(f"Paragraph {i}. " + "word " * 60 + "\n\n" for i in range(30))
    tokens = [text[i : i + 7] for i in range(0, len(text), 7)]
    result = await clock.run(render(paced(clock, tokens, rate=400.0), sink, clock=clock))

    expected = split_markdown(text, 4096, tg.measure)
    assert result.parts == [p.text for p in expected]
    assert sink.visible() == [tg.visible(tg.to_html(p.text)) for p in expected]


async def test_a_failed_stream_goes_on_with_edits_of_its_message() -> None:
    clock = FakeClock()
    sink = stream_sink(clock)
    sink.fail("append", None, None, SinkStreamUnavailable("stream expired", handle=1))
    tokens = words(200)
    result = await clock.run(render(paced(clock, tokens, rate=20.0), sink, clock=clock))

    assert result.stream_fallbacks == 1
    kinds = [c.kind for c in sink.writes()]
    assert kinds[:3] == ["append", "append", "append"]
    assert "send" not in kinds and kinds[-1] == "finish"  # the stream's own message, edited
    assert sink.visible() == ["".join(tokens).strip()]


async def test_a_stream_that_never_started_falls_back_to_a_new_message() -> None:
    clock = FakeClock()
    sink = stream_sink(clock, append_only=False)
    sink.fail("append", SinkStreamUnavailable("no drafts here"))
    tokens = words(100)
    result = await clock.run(render(paced(clock, tokens, rate=20.0), sink, clock=clock))
    kinds = [c.kind for c in sink.writes()]
    assert kinds[0] == "append" and kinds[1] == "send"
    assert result.stream_fallbacks == 1
    assert sink.visible()[-1] == "".join(tokens).strip()


async def test_queue_positions_go_to_the_stream_status_then_text() -> None:
    clock = FakeClock()
    sink = stream_sink(clock)

    async def events() -> AsyncIterator[ReplyEvent]:
        yield Queued(1)
        await clock.sleep(3.0)
        yield Started(model="m", backend="b")
        yield Text("Hello")
        await clock.sleep(2.0)
        yield Done(text="Hello")

    await clock.run(render(events(), sink, clock=clock))
    calls = [(c.kind, c.text.text if c.text else None) for c in sink.writes()]
    assert calls[0] == ("status", "⏳ Queued: 1 ahead of you")
    assert ("append", "Hello") in calls and calls[-1][0] == "stream_finish"
    assert sink.visible() == ["Hello"]


async def test_stream_appends_honour_retry_after_and_plain_fallback() -> None:
    clock = FakeClock()
    sink = stream_sink(clock)
    sink.fail("append", None, SinkRateLimited(2.0), SinkRejectedMarkup("bad"))
    tokens = words(120)
    result = await clock.run(render(paced(clock, tokens, rate=20.0), sink, clock=clock))
    appends = [c for c in sink.calls if c.kind == "append"]
    assert appends[2].t - appends[1].t >= 2.0 - 1e-9
    assert result.plain_fallbacks == 1 and result.rate_limited == 1
    assert "".join(c.text.text for c in appends[3:] if c.text) != ""
    assert not appends[-1].text or not appends[-1].text.markup
    assert sink.visible() == ["".join(tokens).strip()]


async def test_quiet_stream_is_refreshed() -> None:
    clock = FakeClock()
    sink = stream_sink(clock, append_only=False)
    sink.stream_keepalive = 20.0

    async def events() -> AsyncIterator[ReplyEvent]:
        yield Text("thinking hard")
        await clock.sleep(50.0)
        yield Done(text="thinking hard")

    await clock.run(render(events(), sink, clock=clock))
    appends = [(c.t, c.text.text if c.text else "") for c in sink.calls if c.kind == "append"]
    assert appends == [(0.25, "thinking hard"), (20.25, ""), (40.25, "")]


async def test_stream_kind_has_its_own_budget() -> None:
    clock = FakeClock()
    pools = BudgetPools(clock)
    budget = pools.budget(
        Limit("c:edit", Rate(1, 1.0), methods=frozenset({"send", "edit"})),
        Limit("c:stream", Rate(4, 1.0), methods=frozenset({"stream"})),
    )
    sink = RecordingSink(budget=budget, streams=True)
    await clock.run(render(paced(clock, words(200), rate=40.0), sink, clock=clock))
    times = [c.t for c in sink.calls if c.kind == "append"]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.25 - 1e-9
    assert len(times) >= 4 * 4  # ~5 s of streaming at 4 appends a second, not 1


async def test_the_end_of_a_stream_does_not_wait_behind_appends() -> None:
    """A stream's last write is a kind of its own (Slack's chat.stopStream has its own tier):
    when the reply ends while an append waits for the shared append pool, the finish goes at
    the chat's own pace instead of after that wait."""
    clock = FakeClock()
    pools = BudgetPools(clock)
    budget = pools.budget(
        Limit("thread", Rate(1, 1.0)),
        Limit("ws:append", Rate(1, 30.0), "workspace", frozenset({"stream"})),  # a busy pool
    )
    sink = RecordingSink(budget=budget, streams=True)
    tokens = words(40)
    result = await clock.run(render(paced(clock, tokens, rate=20.0), sink, clock=clock))

    finish = next(c for c in sink.calls if c.kind == "stream_finish")
    assert [c.kind for c in sink.writes()] == ["append", "stream_finish"]
    assert finish.t == pytest.approx(2.0, abs=0.05)  # when the reply ends, not at t = 30
    assert result.delivered and sink.visible() == [tg.visible(tg.to_html("".join(tokens)))]


async def test_the_final_edit_does_not_wait_for_an_edit_it_no_longer_needs() -> None:
    """The edit setting a message's final text is a kind of its own ("finish"): when the reply
    ends while an in-progress edit waits for its unit, that wait is dropped, not served first."""
    clock = FakeClock()
    budget = BudgetPools(clock).budget(("chat", Rate(1, 30.0)))  # one write every 30 s
    sink = RecordingSink(budget=budget)
    tokens = words(40)
    await clock.run(render(paced(clock, tokens, rate=20.0), sink, clock=clock))

    writes = sink.writes()
    assert [c.kind for c in writes] == ["send", "finish"]
    assert [c.t for c in writes] == pytest.approx([0.3, 30.3])  # not 60.3: one wait, not two
