"""SlackSink and ChatStream with the real AsyncWebClient against the fake Slack.

The fake enforces Slack's limits, so "no 429" here means the sink's budget kept to them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from hub.connectors.slack.budgets import reply_budget
from hub.connectors.slack.events import BotIdentity, from_event
from hub.connectors.slack.sink import SlackHandle, SlackSink, StatusSupport, fallback_text
from hub.connectors.slack.stream import (
    ChatStream,
    StreamExpired,
    StreamStopped,
    StreamUnavailable,
    neutralize,
)
from hub.core.budget import BudgetPools
from hub.core.markup import slack as mrkdwn
from hub.core.markup.split import split_markdown
from hub.core.ports import SinkMessageGone, SinkRateLimited, SinkRejectedMarkup, SinkText
from hub.core.render import render
from tests.fakes.slack import GENERAL, FakeSlack
from tests.support.chat import ScriptedChat

BOT = BotIdentity(user_id="U0FAKEBOT", bot_id="B0FAKEBOT", team_id="T0FAKE")


@pytest.fixture
async def client(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(
            token=fake_slack.bot_token, base_url=fake_slack.api_url, session=session
        )


def long_reply(words: int) -> str:
    tokens = [f"word{i % 53}" for i in range(words)]
    lines = [" ".join(tokens[i : i + 14]) + "." for i in range(0, words, 14)]
    return "\n\n".join(" ".join(lines[i : i + 3]) for i in range(0, len(lines), 3))


def expected(text: str) -> list[str]:
    return [mrkdwn.to_mrkdwn(p.text) for p in split_markdown(text, mrkdwn.MAX_LEN, mrkdwn.measure)]


async def answer(
    fake: FakeSlack,
    client: AsyncWebClient,
    text: str,
    *,
    rate: float = 400.0,
    pools: BudgetPools | None = None,
    status: StatusSupport | None = None,
) -> tuple[str, Any]:
    """A mention answered through events → render → SlackSink; (thread ts, render result)."""
    request = from_event(fake.app_mention(GENERAL, "tell me")["event"], BOT)
    assert request is not None and request.thread_ts is not None
    sink = SlackSink(
        client,
        request.channel,
        request.thread_ts,
        budget=reply_budget(
            pools or BudgetPools(), request.team_id, request.channel, request.thread_ts
        ),
        stop_value="stop-1",
        status=status,
    )
    chat = ScriptedChat(lambda m: text, tokens_per_second=rate)
    result = await render(chat.reply(request.message), sink)
    return request.thread_ts, result


def shown(fake: FakeSlack, thread_ts: str) -> list[str]:
    return [m.content for m in fake.bot_messages(GENERAL, thread_ts)]


async def test_a_long_reply_streams_in_the_thread_exactly_without_429(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    text = long_reply(1400)
    thread, result = await answer(fake_slack, client, text, rate=800.0)
    assert result.delivered
    assert shown(fake_slack, thread) == expected(text)
    assert len(shown(fake_slack, thread)) >= 2
    assert fake_slack.enforced_429 == 0
    assert fake_slack.calls_of("chat.update"), "the reply grew in place"
    writes = fake_slack.calls_of("chat.postMessage") + fake_slack.calls_of("chat.update")
    streaming = [c for c in writes if len(c.params["blocks"]) == 2]  # text and Stop button
    assert streaming and streaming[0].params["blocks"][1]["elements"][0]["value"] == "stop-1"
    for message in fake_slack.bot_messages(GENERAL, thread):
        assert message.buttons == []  # the Stop button is gone at the end
        (section,) = message.blocks or []
        assert section["text"]["verbatim"] is True


async def test_code_fences_are_balanced_in_every_message(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    code = "```python\n" + "".join(f"value_{i} = a < b & c  # {i}\n" for i in range(200)) + "```"
    text = "Here is the code:\n\n" + code + "\n\nThat's all."
    thread, _ = await answer(fake_slack, client, text, rate=1500.0)
    messages = shown(fake_slack, thread)
    assert messages == expected(text)
    assert len(messages) >= 3
    assert all(m.count("```") % 2 == 0 for m in messages)


async def test_mentions_in_model_output_ping_nobody(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    text = "Hey <!channel> and <!here>, @everyone, <@U0BOB> and <!subteam^S1|@devs> see <#C1>."
    thread, _ = await answer(fake_slack, client, text)
    assert fake_slack.pings == []
    assert shown(fake_slack, thread) == expected(text)


async def test_status_while_waiting_then_cleared_by_the_reply(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    thread, _ = await answer(fake_slack, client, "short answer", rate=2.0)
    calls = fake_slack.calls_of("assistant.threads.setStatus")
    assert calls and calls[0].params["status"] == "is thinking…"
    assert calls[0].params["thread_ts"] == thread
    assert (GENERAL, thread) not in fake_slack.statuses


async def test_a_refused_status_is_not_asked_again(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    fake_slack.status_refusal = "missing_scope"
    status = StatusSupport()
    await answer(fake_slack, client, "one", rate=2.0, status=status)
    await answer(fake_slack, client, "two", rate=2.0, status=status)
    assert status.available is False
    assert len(fake_slack.calls_of("assistant.threads.setStatus")) == 1


async def test_retry_after_is_honoured_and_the_final_is_exact(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    fake_slack.fail_next("chat.update", retry_after=1)
    text = long_reply(200)
    thread, result = await answer(fake_slack, client, text, rate=100.0)
    assert result.rate_limited == 1
    assert shown(fake_slack, thread) == expected(text)
    assert fake_slack.enforced_429 == 0


def sink_for(client: AsyncWebClient, thread_ts: str | None = None) -> SlackSink:
    budget = reply_budget(BudgetPools(), "T0FAKE", GENERAL, thread_ts or "")
    return SlackSink(client, GENERAL, thread_ts, budget=budget)


async def test_errors_map_to_the_port(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    fake_slack.limits.enabled = False
    sink = sink_for(client)
    handle = await sink.send(SinkText("*hi*"))
    fake_slack.fail_next("chat.update", retry_after=4)
    with pytest.raises(SinkRateLimited) as limited:
        await sink.edit(handle, SinkText("*hi* there"))
    assert limited.value.retry_after == 4.0
    with pytest.raises(SinkRejectedMarkup):
        await sink.edit(handle, SinkText("x" * 3001))  # over a section's 3,000
    await sink.edit(handle, SinkText("<plain> & text", markup=False))
    message = fake_slack.messages[(GENERAL, handle.ts)]
    assert message.blocks is not None
    assert message.blocks[0]["text"] == {
        "type": "plain_text",
        "text": "<plain> & text",
        "emoji": False,
    }
    assert message.text == "&lt;plain&gt; &amp; text"
    await sink.delete(handle)
    with pytest.raises(SinkMessageGone):
        await sink.finish(handle, SinkText("final"))
    fake_slack.close_edit_window((await sink.send(SinkText("x"))).ts)
    with pytest.raises(SinkMessageGone):
        await sink.edit(SlackHandle(fake_slack.bot_messages(GENERAL)[-1].ts), SinkText("y"))


def test_fallback_text_fits_chat_update() -> None:
    assert fallback_text(SinkText("a & b", markup=False)) == "a &amp; b"
    long = fallback_text(SinkText("&" * 3000, markup=False))
    assert mrkdwn.len16(long) <= 3900 and long.endswith("&amp;…")


# --- native streams ---------------------------------------------------------------------------


def stream_in(fake: FakeSlack, client: AsyncWebClient, channel: str | None = None) -> ChatStream:
    where = channel or fake.dm()
    root = fake.says(where, "question")
    return ChatStream(client, where, root.ts, team_id=fake.team_id, user_id="U0ADA")


class Growing:
    """Feeds a ChatStream deltas the way the renderer does: the whole text so far each time."""

    def __init__(self, stream: ChatStream) -> None:
        self.stream, self.total = stream, ""

    async def start(self, delta: str) -> None:
        self.total += delta
        await self.stream.start(self.total)

    async def append(self, delta: str) -> None:
        self.total += delta
        await self.stream.show(self.total)

    async def stop(self, delta: str = "") -> None:
        self.total += delta
        await self.stream.stop(self.total)


async def test_native_stream_delivers_exactly(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    chat = stream_in(fake_slack, client, GENERAL)  # in a channel: recipients are required
    stream = Growing(chat)
    text = long_reply(300)
    deltas = [text[i : i + 97] for i in range(0, len(text), 97)]
    await stream.start(deltas[0])
    for delta in deltas[1:]:
        await stream.append(delta)
    await stream.stop()
    message = fake_slack.messages[(GENERAL, chat.ts or "")]
    assert (message.stream, message.content, chat.sent) == ("stopped", text, text)
    assert fake_slack.enforced_429 == 0


async def test_native_stream_cannot_ping_even_across_deltas(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    chat = stream_in(fake_slack, client)
    stream = Growing(chat)
    deltas = ["Hi <", "!channel> and @", "here, <", "@U0BOB> <#", "C1> @every", "one. a<b @ada"]
    await stream.start("")
    for delta in deltas:
        await stream.append(delta)
    await stream.stop()
    full = "".join(deltas)
    message = fake_slack.messages[(chat.channel, chat.ts or "")]
    assert message.content == neutralize(full)
    assert message.content.replace(mrkdwn.ZWSP, "") == full
    assert fake_slack.pings == []


async def test_expired_stream_is_finished_with_an_update(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    fake_slack.stream_append_limit = 2
    chat = stream_in(fake_slack, client)
    stream = Growing(chat)
    text = long_reply(120)
    deltas = [text[i : i + 50] for i in range(0, len(text), 50)]
    await stream.start(deltas[0])
    with pytest.raises(StreamExpired):
        for delta in deltas[1:]:
            await stream.append(delta)
    message = fake_slack.messages[(chat.channel, chat.ts or "")]
    assert message.content == chat.sent and len(chat.sent) < len(text)
    budget = reply_budget(BudgetPools(), fake_slack.team_id, chat.channel, chat.thread_ts)
    sink = SlackSink(client, chat.channel, chat.thread_ts, budget=budget)
    await sink.finish(chat.handle(), SinkText(sink.format(text)))
    assert message.content == mrkdwn.to_mrkdwn(text)
    assert message.stream == "expired" and message.buttons == []


async def test_refused_and_user_stopped_streams(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    fake_slack.stream_refusal = "channel_type_not_supported"
    with pytest.raises(StreamUnavailable) as refused:
        await stream_in(fake_slack, client).start("hello")
    assert refused.value.error == "channel_type_not_supported" and not refused.value.everywhere
    fake_slack.stream_refusal = None
    stream = Growing(chat := stream_in(fake_slack, client))
    await stream.start("hello")
    fake_slack.stop_stream_by_user(chat.ts or "")
    with pytest.raises(StreamStopped):
        await stream.append(" world")


async def test_a_failed_call_is_made_again_with_the_whole_text(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    chat = stream_in(fake_slack, client)
    fake_slack.fail_next("chat.startStream", retry_after=2)
    with pytest.raises(SinkRateLimited):
        await chat.start("one")
    await chat.start("one")  # the renderer tries again with what it has
    fake_slack.fail_next("chat.appendStream", retry_after=3)
    with pytest.raises(SinkRateLimited) as limited:
        await chat.show("one two")
    assert limited.value.retry_after == 3.0 and limited.value.scope == "workspace"
    await chat.show("one two three")
    await chat.stop("one two three four")
    content = fake_slack.messages[(chat.channel, chat.ts or "")].content
    assert content == "one two three four"
    assert len(fake_slack.calls_of("chat.startStream")) == 2


async def test_appends_over_slacks_limit_are_cut(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    chat = stream_in(fake_slack, client)
    big = "é" * 25_000
    await chat.start(big)
    await chat.stop(big)
    sizes = [
        len(c.params.get("markdown_text") or "")
        for c in fake_slack.calls
        if c.method.startswith("chat.") and c.method.endswith("Stream")
    ]
    assert sizes == [12_000, 12_000, 1_000]  # start, an append, the stop with the rest
    assert fake_slack.messages[(chat.channel, chat.ts or "")].content == big
