"""The Slack connector end to end: the whole hub (create_app: SQLite, limiter, router, prompts,
ChatService) behind the real slack-bolt and slack_sdk, against the fake Slack (which enforces
Slack's limits) and the fake Ollama, in Socket Mode and in HTTP mode."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.connectors.slack.threads import Taken, Threads
from hub.core.chat_config import ChatConfig
from hub.core.models import Prompt
from tests.fakes.slack import GENERAL
from tests.fakes.slack_delivery import ACK_TIMEOUT
from tests.support.slack_hub import MODEL, SlackHub, expected, slack_hub
from tests.support.wait import until

MODES = ["socket", "http"]


def words(n: int) -> list[str]:
    """`n` tokens of a reply a few paragraphs long (with Markdown worth converting)."""
    out = []
    for i in range(n):
        token = f"**word{i}** " if i % 17 == 0 else f"word{i} "
        out.append(token + ("\n\n" if i % 40 == 39 else ""))
    return out


@pytest.fixture(params=MODES)
async def hub(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SlackHub]:
    async with slack_hub(tmp_path, mode=request.param) as running:
        yield running


@pytest.fixture
async def socket_hub(tmp_path: Path) -> AsyncIterator[SlackHub]:
    async with slack_hub(tmp_path, mode="socket") as running:
        yield running


@pytest.fixture
async def http_hub(tmp_path: Path) -> AsyncIterator[SlackHub]:
    async with slack_hub(tmp_path, mode="http") as running:
        yield running


async def test_a_mention_is_answered_in_its_thread_streamed_exactly(hub: SlackHub) -> None:
    tokens = words(700)
    hub.ollama.script(MODEL, tokens=tokens, tokens_per_second=400)
    thread = await hub.mention("tell me a story")
    await until(lambda: len(hub.ollama.chat_requests) == 1)
    await hub.idle()

    text = "".join(tokens)
    assert hub.shown(GENERAL, thread) == expected(text)
    assert len(hub.shown(GENERAL, thread)) >= 2  # long: it continues in further messages
    assert hub.fake.enforced_429 == 0
    assert hub.fake.calls_of("chat.startStream"), "streamed natively"
    assert hub.ollama.chat_requests[0].json["messages"][-1]["content"] == "tell me a story"
    status = hub.fake.calls_of("assistant.threads.setStatus")
    assert status and status[0].params["status"] == "is thinking…"
    assert (GENERAL, thread) not in hub.fake.statuses  # cleared by the reply


async def test_a_direct_message_is_answered_in_its_own_thread(socket_hub: SlackHub) -> None:
    hub = socket_hub
    hub.ollama.script(MODEL, tokens=["Hi", " there", ", Ada."])
    dm = hub.fake.dm()
    body = hub.fake.user_message(dm, "hello bot")
    assert (await hub.deliver(body)).acked
    await hub.idle()
    thread = body["event"]["ts"]
    assert hub.shown(dm, thread) == expected("Hi there, Ada.")
    assert hub.fake.enforced_429 == 0


async def test_a_follow_up_in_the_thread_keeps_the_context(hub: SlackHub) -> None:
    hub.ollama.script(MODEL, tokens=["Paris", " is", " the", " capital."])
    thread = await hub.mention("What is the capital of France?")
    await hub.idle()
    hub.ollama.script(MODEL, tokens=["About", " two", " million."])
    follow = hub.fake.user_message(GENERAL, "And its population?", thread_ts=thread)
    assert (await hub.deliver(follow)).acked  # no mention: the bot answers in its thread
    await until(lambda: len(hub.ollama.chat_requests) == 2)
    await hub.idle()

    messages = hub.ollama.chat_requests[1].json["messages"]
    said = [(m["role"], m["content"]) for m in messages if m["role"] != "system"]
    assert said == [
        ("user", "What is the capital of France?"),
        ("assistant", "Paris is the capital."),
        ("user", "And its population?"),
    ]
    assert hub.shown(GENERAL, thread) == [
        *expected("Paris is the capital."),
        *expected("About two million."),
    ]
    chatter = hub.fake.user_message(GENERAL, "unrelated", thread_ts=hub.fake.says(GENERAL, "x").ts)
    await hub.deliver(chatter)
    await hub.idle()
    assert len(hub.ollama.chat_requests) == 2  # a thread the bot is not in: silence


async def test_a_slash_command_runs_a_prompt_command_in_a_thread(hub: SlackHub) -> None:
    prompts = hub.services.stores.prompts
    await prompts.create(Prompt("/summarize", "Summarize", "Sum up: {{INPUT}}", "cli", "global"))
    hub.ollama.script(MODEL, tokens=["Short", " version."])
    command = hub.fake.slash_command("summarize the meeting notes", channel=GENERAL)
    delivery = await hub.deliver(command, "slash_commands")
    assert delivery.acked
    await until(lambda: len(hub.ollama.chat_requests) == 1)
    await hub.idle()

    assert (
        hub.ollama.chat_requests[0].json["messages"][-1]["content"] == "Sum up: the meeting notes"
    )
    anchor, *_ = hub.fake.bot_messages(GENERAL)
    assert anchor.text == "<@U0ADA> asked: summarize the meeting notes"
    assert hub.shown(GENERAL, anchor.ts) == expected("Short version.")


async def test_ask_help_lists_the_registry_and_prompt_changes_at_once(
    socket_hub: SlackHub,
) -> None:
    hub = socket_hub

    async def help_text() -> str:
        before = len(hub.fake.bot_messages(GENERAL))
        await hub.deliver(hub.fake.slash_command("help", channel=GENERAL), "slash_commands")
        await until(lambda: len(hub.fake.bot_messages(GENERAL)) == before + 2)
        await hub.idle()
        return hub.fake.bot_messages(GENERAL)[-1].content

    first = await help_text()
    for name in ("/help", "/new", "/model", "/models", "/prompts", "/usage", "/stop"):
        assert name in first
    assert "/exit" not in first and "/digest" not in first
    prompt = Prompt("/digest", "Daily digest", "Digest: {{INPUT}}", "cli", "global")
    await hub.services.stores.prompts.create(prompt)
    assert "/digest – Daily digest" in await help_text()  # no restart, no wait
    assert hub.ollama.chat_requests == []  # help is the hub's own answer


async def test_a_retried_delivery_is_answered_once(hub: SlackHub) -> None:
    hub.ollama.script(MODEL, tokens=["Only", " once."], first_token_delay=0.3)
    body = hub.fake.app_mention(GENERAL, "are you there?")
    thread = body["event"]["ts"]
    first = await hub.deliver(body)
    again = await hub.deliver(body, retry=1, retry_reason="http_timeout")
    assert first.acked and again.acked
    # The same message also comes as a `message` event (channels:history).
    mentioned = hub.fake.messages[(GENERAL, thread)]
    await hub.deliver(hub.fake.message_event(mentioned))
    await hub.idle()
    later = await hub.deliver(body, retry=2, retry_reason="http_timeout")
    assert later.acked
    await hub.idle()
    assert len(hub.ollama.chat_requests) == 1
    assert hub.shown(GENERAL, thread) == expected("Only once.")


async def test_events_are_acknowledged_before_the_reply_is_written(hub: SlackHub) -> None:
    hub.ollama.script(MODEL, tokens=["slow"] * 5, tokens_per_second=10, first_token_delay=1.0)
    sent = await hub.fake.send("events_api", hub.fake.app_mention(GENERAL, "take your time"))
    delivery = await sent.wait(within=ACK_TIMEOUT)  # Slack waits 3 s, then retries
    assert delivery.acked  # answered while the reply has not even started
    assert delivery.status == (200 if hub.mode == "http" else None)
    assert hub.connector.busy
    await hub.idle()


async def test_bad_signatures_and_stale_requests_are_refused(http_hub: SlackHub) -> None:
    hub = http_hub
    body = hub.fake.app_mention(GENERAL, "forged")
    forged = await hub.fake.send("events_api", body, bad_signature=True)
    assert (forged.status, forged.response) == (401, {"error": "invalid request"})
    stale = await hub.fake.send("events_api", body, timestamp=int(time.time()) - 6 * 60)
    assert stale.status == 401
    command = hub.fake.slash_command("hi", channel=GENERAL)
    assert (await hub.fake.send("slash_commands", command, bad_signature=True)).status == 401
    await asyncio.sleep(0.3)
    assert hub.ollama.chat_requests == [] and hub.fake.bot_messages(GENERAL) == []


async def test_slacks_url_check_is_answered(http_hub: SlackHub) -> None:
    body = {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"}
    answer = await http_hub.fake.send("events_api", body)
    assert (answer.status, answer.response) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV"})


async def test_bots_and_the_bot_itself_are_ignored(socket_hub: SlackHub) -> None:
    hub = socket_hub
    other = hub.fake.app_mention(GENERAL, "hello from a bot", user="U0OTHERBOT")
    await hub.deliver(other)
    client = hub.connector.client
    assert client is not None
    posted = await client.chat_postMessage(channel=GENERAL, text="<@U0FAKEBOT> me")
    own = hub.fake.messages[(GENERAL, posted["ts"])]
    await hub.deliver(hub.fake.message_event(own))
    await hub.idle()
    assert hub.ollama.chat_requests == []


async def test_a_stream_that_expires_mid_reply_is_finished_by_chat_update(
    socket_hub: SlackHub,
) -> None:
    hub = socket_hub
    hub.fake.stream_append_limit = 2  # Slack closes the stream after its second append
    tokens = words(300)
    hub.ollama.script(MODEL, tokens=tokens, tokens_per_second=80)
    thread = await hub.mention("a long answer please")
    await hub.idle()

    text = "".join(tokens)
    assert hub.shown(GENERAL, thread) == expected(text)
    [message] = hub.replies(GENERAL, thread)
    assert message.stream == "expired" and message.markdown == ""  # replaced by chat.update
    assert hub.fake.calls_of("chat.update") and message.buttons == []
    assert hub.fake.enforced_429 == 0


async def test_stop_button_on_the_edit_path(tmp_path: Path) -> None:
    async with slack_hub(tmp_path, streams=False) as hub:
        hub.ollama.script(MODEL, tokens=words(2000), tokens_per_second=30)
        thread = await hub.mention("go on and on")
        await until(lambda: any(m.buttons for m in hub.replies(GENERAL, thread)))
        message = next(m for m in hub.replies(GENERAL, thread) if m.buttons)

        stranger = hub.fake.button_click(GENERAL, message.ts, user="U0BOB")
        assert (await hub.deliver(stranger, "interactive")).acked
        await until(lambda: len(hub.fake.responses) == 1)
        assert hub.fake.responses[0][1]["text"] == "Only the person who asked can stop this reply."

        click = hub.fake.button_click(GENERAL, message.ts)
        assert (await hub.deliver(click, "interactive")).acked
        await hub.idle()
        assert hub.fake.responses[1][1] == {
            "text": "Stopping…",
            "response_type": "ephemeral",
            "replace_original": False,
        }
        await hub.ollama.wait_for(lambda: hub.ollama.connections_closed == 1)  # upstream closed
        shown = hub.replies(GENERAL, thread)
        assert shown[-1].content.endswith("⚠ reply interrupted: reply stopped.")
        assert not any(m.buttons for m in shown)  # the button is gone with the reply


async def test_stopping_a_stream_in_slack_stops_the_reply(socket_hub: SlackHub) -> None:
    hub = socket_hub
    hub.ollama.script(MODEL, tokens=words(2000), tokens_per_second=30)
    thread = await hub.mention("go on and on")
    await until(lambda: any(m.stream == "streaming" for m in hub.replies(GENERAL, thread)))
    streaming = next(m for m in hub.replies(GENERAL, thread) if m.stream == "streaming")
    hub.fake.stop_stream_by_user(streaming.ts)
    await hub.idle()
    await hub.ollama.wait_for(lambda: hub.ollama.connections_closed == 1)
    assert hub.shown(GENERAL, thread)[-1].endswith("⚠ reply interrupted: reply stopped.")


@pytest.mark.parametrize("streams", [True, False])
async def test_mentions_in_model_output_ping_nobody(tmp_path: Path, streams: bool) -> None:
    async with slack_hub(tmp_path, streams=streams) as hub:
        tokens = ["Hey ", "<!channel> ", "and ", "<", "!here>", ", @", "everyone ", "and ", "@here"]
        tokens += [", <@U0BOB> ", "<!subteam^S1|@devs> ", "see ", "<#C0GENERAL>."]
        hub.ollama.script(MODEL, tokens=tokens, tokens_per_second=20)
        thread = await hub.mention("ping everyone")
        await hub.idle()
        assert hub.fake.pings == []
        assert hub.shown(GENERAL, thread) == expected("".join(tokens))
        assert bool(hub.fake.calls_of("chat.startStream")) is streams


PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


async def test_an_image_shared_with_the_question_reaches_a_vision_model(
    socket_hub: SlackHub,
) -> None:
    hub = socket_hub
    hub.ollama.script(MODEL, tokens=["A", " cat."], extra_show={"capabilities": ["vision"]})
    picture = hub.fake.add_file("cat.png", PICTURE)
    await hub.mention("What is this?", files=[picture])
    await hub.idle()
    [request] = hub.ollama.chat_requests
    last = request.json["messages"][-1]
    assert last["content"] == "What is this?"
    assert last["images"] == [base64.b64encode(PICTURE).decode()]


async def test_threads_are_followed_after_a_restart(tmp_path: Path) -> None:
    async with slack_hub(tmp_path) as hub:
        hub.ollama.script(MODEL, tokens=["First."])
        thread = await hub.mention("hello")
        await hub.idle()
        connector = hub.connector
        await connector.stop()  # a restart: a new process remembers nothing
        connector.threads, connector.taken = Threads(), Taken()
        await connector.start()
        await until(lambda: hub.fake.socket.connected)
        hub.ollama.script(MODEL, tokens=["Second."])
        follow = hub.fake.user_message(GENERAL, "and more?", thread_ts=thread)
        await hub.deliver(follow)
        await until(lambda: len(hub.ollama.chat_requests) == 2)
        await hub.idle()
        assert hub.shown(GENERAL, thread) == [*expected("First."), *expected("Second.")]
        assert len(hub.fake.calls_of("conversations.replies")) == 1


@pytest.mark.parametrize("streams", [True, False])
async def test_twenty_concurrent_threads_stay_inside_the_pooled_budget(
    tmp_path: Path, streams: bool
) -> None:
    async with slack_hub(tmp_path, concurrency=20, streams=streams) as hub:
        tokens = words(300 if streams else 80)
        hub.ollama.script(MODEL, tokens=tokens, tokens_per_second=100)
        channels = [GENERAL]  # streams: one busy channel; edits: spread over four
        if not streams:
            channels = [hub.fake.add_channel(f"C0TEAM{i}", f"team{i}").id for i in range(4)]
        bodies = [hub.fake.app_mention(channels[i % len(channels)], f"q{i}") for i in range(20)]
        deliveries = await asyncio.gather(*(hub.fake.send("events_api", b) for b in bodies))
        answered = await asyncio.gather(*(d.wait() for d in deliveries))
        assert all(d.acked for d in answered)
        await until(lambda: len(hub.ollama.chat_requests) == 20)
        await hub.idle(within=120)

        assert hub.fake.enforced_429 == 0  # the fake enforces Slack's tiers and channel paces
        text = "".join(tokens)
        for body in bodies:
            event = body["event"]
            assert hub.shown(event["channel"], event["ts"]) == expected(text)
        starts = len(hub.fake.calls_of("chat.startStream"))
        assert starts == (20 if streams else 0)  # a whole tier of starts went at once


async def test_the_queue_position_shows_in_the_thread_status(tmp_path: Path) -> None:
    async with slack_hub(tmp_path, concurrency=1) as hub:
        hub.ollama.script(MODEL, tokens=words(60), tokens_per_second=30)
        first = await hub.mention("first")
        second = await hub.mention("second")
        await until(lambda: any("Queued" in str(c.params.get("status")) for c in status_calls(hub)))
        await hub.idle()
        queued = [c for c in status_calls(hub) if "Queued" in str(c.params.get("status"))]
        assert queued[0].params["thread_ts"] == second
        assert (
            hub.shown(GENERAL, first) == hub.shown(GENERAL, second) == expected("".join(words(60)))
        )


def status_calls(hub: SlackHub) -> list[object]:
    return hub.fake.calls_of("assistant.threads.setStatus")


async def test_refused_streams_fall_back_to_edits_and_are_not_asked_again(
    socket_hub: SlackHub,
) -> None:
    hub = socket_hub
    hub.fake.stream_refusal = "not_allowed_token_type"  # an app without the assistant feature
    hub.ollama.script(MODEL, tokens=words(200), tokens_per_second=100)
    first = await hub.mention("one")
    await hub.idle()
    second = await hub.mention("two")
    await hub.idle()
    text = "".join(words(200))
    assert hub.shown(GENERAL, first) == hub.shown(GENERAL, second) == expected(text)
    assert len(hub.fake.calls_of("chat.startStream")) == 1


async def test_a_refused_person_gets_a_private_answer_to_a_slash_command(tmp_path: Path) -> None:
    async with slack_hub(tmp_path, allow_users="U0BOB") as hub:
        command = hub.fake.slash_command("hello", channel=GENERAL)  # from U0ADA
        assert (await hub.deliver(command, "slash_commands")).acked
        await until(lambda: len(hub.fake.responses) == 1)
        await hub.idle()
        assert hub.fake.responses[0][1]["response_type"] == "ephemeral"
        assert hub.fake.bot_messages(GENERAL) == [] and hub.ollama.chat_requests == []
        await hub.mention("hello")  # in a channel, a refused person gets silence
        await hub.idle()
        assert hub.fake.bot_messages(GENERAL) == [] and hub.ollama.chat_requests == []


async def test_a_slash_command_where_the_bot_is_not_a_member(socket_hub: SlackHub) -> None:
    hub = socket_hub
    command = hub.fake.slash_command("hello", channel="C0OUTSIDE")
    assert (await hub.deliver(command, "slash_commands")).acked
    await until(lambda: len(hub.fake.responses) == 1)
    assert (
        hub.fake.responses[0][1]["text"] == "Invite me to this channel first: /invite <@U0FAKEBOT>"
    )


async def test_without_the_assistant_status_the_queue_shows_in_the_message(
    tmp_path: Path,
) -> None:
    async with slack_hub(tmp_path, concurrency=1) as hub:
        hub.fake.status_refusal = "not_allowed_token_type"
        hub.ollama.script(MODEL, tokens=words(60), tokens_per_second=30)
        await hub.mention("first")
        second = await hub.mention("second")
        await until(lambda: any("Queued" in m.content for m in hub.replies(GENERAL, second)))
        await hub.idle()
        assert hub.shown(GENERAL, second) == expected("".join(words(60)))


async def test_stopping_the_hub_lets_a_reply_finish_or_marks_it_interrupted(
    tmp_path: Path,
) -> None:
    async with slack_hub(tmp_path, chat=ChatConfig(shutdown_grace=0.5)) as hub:
        hub.ollama.script(MODEL, tokens=words(2000), tokens_per_second=30)
        thread = await hub.mention("a very long answer")
        await until(lambda: bool(hub.replies(GENERAL, thread)))
        await hub.connector.stop()  # as the registry does when the hub stops
        await hub.ollama.wait_for(lambda: hub.ollama.connections_closed == 1)
        assert not hub.connector.busy
        assert hub.shown(GENERAL, thread)[-1].endswith("⚠ reply interrupted: reply stopped.")
        assert hub.fake.enforced_429 == 0
