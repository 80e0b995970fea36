"""The fake Slack's Web API, driven by the real slack_sdk AsyncWebClient."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.process import fake_process
from tests.fakes.slack import BOT_TOKEN, GENERAL, FakeSlack
from tests.fakes.slack_state import Rate, SlackLimits


@pytest.fixture
async def client(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    """A client of the fake with its limits off; the tests of limits set their own."""
    fake_slack.limits.enabled = False
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(
            token=fake_slack.bot_token, base_url=fake_slack.api_url, session=session
        )


def section(text: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"type": "section", "text": {"type": kind, "text": text}}


async def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return str(info.value.response["error"])


async def test_auth_test_and_token_kinds(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    me = await client.auth_test()
    assert (me["user_id"], me["bot_id"], me["team_id"]) == ("U0FAKEBOT", "B0FAKEBOT", "T0FAKE")
    assert "chat:write" in me.headers["x-oauth-scopes"]
    assert await error_of(client.auth_test(token=fake_slack.app_token)) == "not_allowed_token_type"
    assert await error_of(client.auth_test(token="xoxb-wrong")) == "invalid_auth"
    opened = await client.apps_connections_open(app_token=fake_slack.app_token)
    assert opened["url"].startswith("ws://127.0.0.1:")
    wrong = client.apps_connections_open(app_token=fake_slack.bot_token)
    assert await error_of(wrong) == "not_allowed_token_type"


async def test_post_and_update_in_a_thread(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    root = fake_slack.says(GENERAL, "question")
    button = {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "stop",
                "text": {"type": "plain_text", "text": "Stop"},
                "value": "k",
            }
        ],
    }
    posted = await client.chat_postMessage(
        channel=GENERAL, thread_ts=root.ts, text="*wor", blocks=[section("*wor"), button]
    )
    ts = posted["ts"]
    assert posted["message"]["thread_ts"] == root.ts
    await client.chat_update(channel=GENERAL, ts=ts, text="*word*", blocks=[section("*word*")])
    message = fake_slack.messages[(GENERAL, ts)]
    assert (message.content, message.thread_ts, message.edits) == ("*word*", root.ts, 1)
    assert message.buttons == []
    await client.chat_update(channel=GENERAL, ts=ts, text="plain", blocks=[])
    assert (message.blocks, message.content) == (None, "plain")
    # form-encoded bodies work too (blocks as a JSON string, as Slack accepts them)
    form = {
        "channel": GENERAL,
        "ts": ts,
        "blocks": '[{"type":"section","text":{"type":"mrkdwn","text":"f"}}]',
    }
    await client.api_call("chat.update", data=form)
    assert message.content == "f"
    await client.chat_delete(channel=GENERAL, ts=ts)
    assert (GENERAL, ts) not in fake_slack.messages
    replies = await client.conversations_replies(channel=GENERAL, ts=root.ts)
    assert [m["text"] for m in replies["messages"]] == ["question"]


async def test_update_errors_are_slacks(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    theirs = fake_slack.says(GENERAL, "a person's message")
    ours = (await client.chat_postMessage(channel=GENERAL, text="ours"))["ts"]
    update = client.chat_update
    assert await error_of(update(channel=GENERAL, ts="1.000001", text="x")) == "message_not_found"
    assert await error_of(update(channel=GENERAL, ts=theirs.ts, text="x")) == "cant_update_message"
    assert await error_of(update(channel=GENERAL, ts=ours, text="x" * 4001)) == "msg_too_long"
    long_section = [section("y" * 3001)]
    assert (
        await error_of(update(channel=GENERAL, ts=ours, text="y", blocks=long_section))
        == "invalid_blocks"
    )
    assert await error_of(update(channel="C0NOPE", ts=ours, text="x")) == "channel_not_found"
    fake_slack.close_edit_window(ours)
    assert await error_of(update(channel=GENERAL, ts=ours, text="x")) == "edit_window_closed"
    outside = client.chat_postMessage(channel="C0OUTSIDE", text="x")
    assert await error_of(outside) == "not_in_channel"
    with pytest.warns(UserWarning):  # slack_sdk warns too
        assert await error_of(client.chat_postMessage(channel=GENERAL)) == "no_text"


async def test_native_stream_start_append_stop(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = fake_slack.says(GENERAL, "stream please")
    stream = await client.chat_stream(
        channel=GENERAL,
        thread_ts=root.ts,
        recipient_team_id=fake_slack.team_id,
        recipient_user_id="U0ADA",
        buffer_size=8,
    )
    for piece in ["Hello ", "**wor", "ld**, ", "this is ", "streamed."]:
        await stream.append(markdown_text=piece)
    assert stream.ts is not None
    message = fake_slack.messages[(GENERAL, stream.ts)]
    assert message.stream == "streaming"
    conflict = client.chat_update(channel=GENERAL, ts=stream.ts, text="x")
    assert await error_of(conflict) == "streaming_state_conflict"
    await stream.stop()
    assert (message.stream, message.content) == ("stopped", "Hello **world**, this is streamed.")
    assert message.thread_ts == root.ts
    methods = [c.method for c in fake_slack.calls if c.method.endswith("Stream")]
    assert methods[0] == "chat.startStream" and methods[-1] == "chat.stopStream"
    assert "chat.appendStream" in methods


async def test_stream_rules(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    root = fake_slack.says(GENERAL, "q")
    start = client.chat_startStream(channel=GENERAL, thread_ts=root.ts, markdown_text="x")
    assert await error_of(start) == "missing_recipient_team_id"
    dm = fake_slack.dm()
    dm_root = fake_slack.says(dm, "q")
    started = await client.chat_startStream(channel=dm, thread_ts=dm_root.ts, markdown_text="a")
    ts = started["ts"]
    assert (
        await error_of(client.chat_appendStream(channel=dm, ts=ts, markdown_text="")) == "no_text"
    )
    fake_slack.stop_stream_by_user(ts)
    stopped = client.chat_appendStream(channel=dm, ts=ts, markdown_text="b")
    assert await error_of(stopped) == "stopped_by_user"
    fake_slack.stream_refusal = "channel_type_not_supported"
    refused = client.chat_startStream(channel=dm, thread_ts=dm_root.ts)
    assert await error_of(refused) == "channel_type_not_supported"


async def test_expired_stream_then_update_finishes_it(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    dm = fake_slack.dm()
    root = fake_slack.says(dm, "long one")
    ts = (await client.chat_startStream(channel=dm, thread_ts=root.ts, markdown_text="part 1"))[
        "ts"
    ]
    await client.chat_appendStream(channel=dm, ts=ts, markdown_text=", part 2")
    fake_slack.expire_stream(ts)
    late = client.chat_appendStream(channel=dm, ts=ts, markdown_text=", part 3")
    assert await error_of(late) == "message_not_in_streaming_state"
    assert (
        await error_of(client.chat_stopStream(channel=dm, ts=ts))
        == "message_not_in_streaming_state"
    )
    await client.chat_update(channel=dm, ts=ts, text="part 1, part 2, part 3")
    assert fake_slack.messages[(dm, ts)].content == "part 1, part 2, part 3"
    # streams also expire after a number of appends, or an age
    fake_slack.stream_append_limit = 1
    ts2 = (await client.chat_startStream(channel=dm, thread_ts=root.ts, markdown_text="a"))["ts"]
    await client.chat_appendStream(channel=dm, ts=ts2, markdown_text="b")
    after = client.chat_appendStream(channel=dm, ts=ts2, markdown_text="c")
    assert await error_of(after) == "message_not_in_streaming_state"


async def test_429_is_retried_by_the_sdk_handler(fake_slack: FakeSlack) -> None:
    fake_slack.limits = SlackLimits(workspace={}, channel={"chat.postMessage": Rate(1, 1.0)})
    async with aiohttp.ClientSession() as session:
        retrying = AsyncWebClient(
            token=fake_slack.bot_token,
            base_url=fake_slack.api_url,
            session=session,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
        )
        await retrying.chat_postMessage(channel=GENERAL, text="one")
        await retrying.chat_postMessage(channel=GENERAL, text="two")  # 429, then retried
    posts = fake_slack.calls_of("chat.postMessage")
    assert [c.status for c in posts] == [200, 429, 200]
    assert fake_slack.enforced_429 == 1
    assert [m.text for m in fake_slack.bot_messages(GENERAL)] == ["one", "two"]


async def test_429_carries_an_integer_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.limits = SlackLimits()  # Slack's own
    async with aiohttp.ClientSession() as session:
        url = fake_slack.api_url + "chat.postMessage"
        headers = {"Authorization": f"Bearer {fake_slack.bot_token}"}
        answers = []
        for _ in range(3):  # about 1 per second per channel, a burst of 2 tolerated
            async with session.post(
                url, json={"channel": GENERAL, "text": "x"}, headers=headers
            ) as r:
                answers.append((r.status, r.headers.get("Retry-After"), await r.json()))
    assert [a[0] for a in answers] == [200, 200, 429]
    assert answers[2][1] == "1"
    assert answers[2][2] == {"ok": False, "error": "ratelimited"}


async def test_update_pool_is_shared_by_the_workspace(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    channels = [f"C0POOL{i}" for i in range(4)]
    posted = []
    for channel in channels:
        fake_slack.add_channel(channel, channel.lower())
        posted.append((await client.chat_postMessage(channel=channel, text="v0"))["ts"])
    fake_slack.limits = SlackLimits(
        workspace={"chat.update": Rate(3, 60.0, window=True)}, channel={}
    )
    outcomes = []
    for channel, ts in zip(channels, posted, strict=True):
        try:
            await client.chat_update(channel=channel, ts=ts, text="v1")
            outcomes.append("ok")
        except SlackApiError as exc:
            outcomes.append(f"{exc.response.status_code} {exc.response.headers['Retry-After']}")
    assert outcomes == ["ok", "ok", "ok", "429 60"]  # one pool for every channel


async def test_twenty_streams_may_start_at_once(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    """Tier 2 is 20 a minute for the workspace, all at once if need be; then 429."""
    fake_slack.limits = SlackLimits()
    dm = fake_slack.dm()
    roots = [fake_slack.says(dm, f"q{i}") for i in range(21)]
    for root in roots[:20]:
        await client.chat_startStream(channel=dm, thread_ts=root.ts, markdown_text="…")
    with pytest.raises(SlackApiError) as info:
        await client.chat_startStream(channel=dm, thread_ts=roots[20].ts, markdown_text="…")
    assert info.value.response.status_code == 429
    assert 40 <= int(info.value.response.headers["Retry-After"]) <= 60  # the window's rest


async def test_scripted_failures(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    fake_slack.fail_next("chat.postMessage", "is_archived")
    assert await error_of(client.chat_postMessage(channel=GENERAL, text="x")) == "is_archived"
    fake_slack.fail_next("chat.update", retry_after=7)
    ts = (await client.chat_postMessage(channel=GENERAL, text="x"))["ts"]
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel=GENERAL, ts=ts, text="y")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert fake_slack.scripted_429 == 1 and fake_slack.enforced_429 == 0


async def test_status_is_set_and_cleared_by_a_reply(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = fake_slack.says(GENERAL, "q")
    await client.assistant_threads_setStatus(
        channel_id=GENERAL, thread_ts=root.ts, status="is thinking…"
    )
    assert fake_slack.statuses[(GENERAL, root.ts)] == "is thinking…"
    await client.chat_postMessage(channel=GENERAL, thread_ts=root.ts, text="answer")
    assert (GENERAL, root.ts) not in fake_slack.statuses
    bad = client.assistant_threads_setStatus(channel_id=GENERAL, thread_ts="9.9", status="x")
    assert await error_of(bad) == "invalid_thread_ts"


async def test_thread_history_is_paginated(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    root = fake_slack.says(GENERAL, "root")
    for i in range(5):
        fake_slack.says(GENERAL, f"reply {i}", thread_ts=root.ts, user="U0BOB")
    texts, cursor = [], None
    while True:
        page = await client.conversations_replies(
            channel=GENERAL, ts=root.ts, limit=2, cursor=cursor
        )
        texts += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert texts == ["root"] + [f"reply {i}" for i in range(5)]
    first = (await client.conversations_replies(channel=GENERAL, ts=root.ts))["messages"][0]
    assert first["reply_count"] == 5 and first["reply_users"] == ["U0BOB"]
    missing = client.conversations_replies(channel=GENERAL, ts="1.5")
    assert await error_of(missing) == "thread_not_found"


async def test_files_and_users(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    image = fake_slack.add_file("cat.png", b"\x89PNG fake bytes", "image/png")
    info = (await client.files_info(file=image.id))["file"]
    assert (info["mimetype"], info["size"]) == ("image/png", len(image.content))
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {fake_slack.bot_token}"}
        async with session.get(info["url_private_download"], headers=auth) as resp:
            assert (resp.status, await resp.read()) == (200, image.content)
        async with session.get(info["url_private"]) as resp:  # no token: the sign-in page
            assert resp.content_type == "text/html"
    assert await error_of(client.files_info(file="F0NOPE")) == "file_not_found"
    ada = (await client.users_info(user="U0ADA"))["user"]
    assert (ada["name"], ada["real_name"], ada["is_bot"]) == ("ada", "Ada Lovelace", False)
    assert await error_of(client.users_info(user="U0NOPE")) == "user_not_found"


async def test_notifications_are_recorded(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    verbatim = {"type": "section", "text": {"type": "mrkdwn", "text": "@here", "verbatim": True}}
    await client.chat_postMessage(
        channel=GENERAL, text="&lt;!channel&gt; and `@here`", blocks=[verbatim]
    )
    assert fake_slack.pings == []
    await client.chat_postMessage(channel=GENERAL, text="x", blocks=[section("hi @everyone")])
    assert [p.who for p in fake_slack.pings] == ["!everyone"]  # not verbatim: parsed
    fake_slack.pings.clear()
    await client.chat_postMessage(channel=GENERAL, text="hi", blocks=[section("<!here> <@U0BOB>")])
    await client.chat_postMessage(
        channel=GENERAL, text="x", blocks=[section("<!channel>", "plain_text")]
    )
    assert [p.who for p in fake_slack.pings] == ["!here", "@U0BOB"]  # plain_text is not parsed


def test_runs_as_its_own_process() -> None:
    with fake_process("tests.fakes.slack") as url:
        request = urllib.request.Request(
            url + "/api/auth.test", headers={"Authorization": f"Bearer {BOT_TOKEN}"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert json.load(resp)["user_id"] == "U0FAKEBOT"
        with urllib.request.urlopen(url + "/_fake/state", timeout=10) as resp:
            assert [c["method"] for c in json.load(resp)["calls"]] == ["auth.test"]
