"""Slack payloads → IncomingMessage (hub/connectors/slack/events.py), with the fake's payloads."""

from __future__ import annotations

from typing import Any

import pytest

from hub.connectors.slack.events import (
    BotIdentity,
    SlashCommands,
    anchor_text,
    command_text,
    from_command,
    from_event,
    plain_text,
    stop_click,
    thread_to_check,
)
from tests.fakes.slack import GENERAL, FakeSlack

BOT = BotIdentity(user_id="U0FAKEBOT", bot_id="B0FAKEBOT", team_id="T0FAKE")


@pytest.fixture
def fake() -> FakeSlack:
    return FakeSlack()  # only its payload builders: no server needed


def event_of(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body["event"])


def test_mention_in_a_channel_starts_a_thread(fake: FakeSlack) -> None:
    event = event_of(fake.app_mention(GENERAL, "what is &lt;b&gt;2 &amp; 2&lt;/b&gt;?"))
    request = from_event(event, BOT)
    assert request is not None
    msg = request.message
    assert (msg.platform, msg.chat_id, msg.thread_id) == ("slack", GENERAL, event["ts"])
    assert (msg.text, msg.message_id, msg.is_group) == ("what is <b>2 & 2</b>?", event["ts"], True)
    assert msg.user.platform_user_id == "U0ADA"
    assert (request.channel, request.thread_ts, request.team_id) == (GENERAL, event["ts"], "T0FAKE")
    assert request.key == f"{GENERAL}:{event['ts']}"


def test_mention_inside_a_thread_answers_in_that_thread(fake: FakeSlack) -> None:
    root = fake.says(GENERAL, "we were talking", user="U0BOB")
    request = from_event(event_of(fake.app_mention(GENERAL, "hi", thread_ts=root.ts)), BOT)
    assert request is not None
    assert request.thread_ts == request.message.thread_id == root.ts


def test_every_dm_message_is_answered_in_its_thread(fake: FakeSlack) -> None:
    dm = fake.dm()
    first = from_event(event_of(fake.user_message(dm, "hello")), BOT)
    assert first is not None and first.thread_ts == first.message.message_id
    assert first.message.is_group is False
    follow = from_event(event_of(fake.user_message(dm, "and?", thread_ts=first.thread_ts)), BOT)
    assert follow is not None and follow.message.thread_id == first.thread_ts
    assert from_event(event_of(fake.app_mention(dm, "hi")), BOT) is None  # message.im answers


def test_channel_threads_only_when_the_bot_answers_in_them(fake: FakeSlack) -> None:
    root = fake.says(GENERAL, "a thread")
    event = event_of(fake.user_message(GENERAL, "a reply", thread_ts=root.ts))
    assert from_event(event, BOT) is None
    answered = from_event(event, BOT, answering=lambda ch, ts: (ch, ts) == (GENERAL, root.ts))
    assert answered is not None and answered.thread_ts == root.ts
    assert from_event(event_of(fake.user_message(GENERAL, "chatter")), BOT) is None


def test_a_thread_the_bot_started_is_followed(fake: FakeSlack) -> None:
    anchor = fake.says(GENERAL, "<@U0ADA> asked: x", user="U0FAKEBOT")
    event = event_of(fake.user_message(GENERAL, "more please", thread_ts=anchor.ts))
    assert event["parent_user_id"] == "U0FAKEBOT"
    request = from_event(event, BOT)
    assert request is not None and request.thread_ts == anchor.ts


def test_a_mention_in_an_answered_thread_is_taken_once(fake: FakeSlack) -> None:
    root = fake.says(GENERAL, "q")
    mention = event_of(fake.app_mention(GENERAL, "again", thread_ts=root.ts))
    as_message = {**mention, "type": "message", "channel_type": "channel"}
    answering = lambda ch, ts: True  # noqa: E731
    taken = from_event(mention, BOT, answering=answering)
    assert taken is not None
    assert from_event(as_message, BOT, answering=answering) is None


def test_own_and_other_bots_messages_are_ignored(fake: FakeSlack) -> None:
    dm = fake.dm()
    ours = fake.says(dm, "my own reply", user="U0FAKEBOT")
    assert from_event(event_of(fake.message_event(ours)), BOT) is None
    theirs = fake.says(dm, "beep", user="U0OTHERBOT")
    event = event_of(fake.message_event(theirs))
    assert event["bot_id"] == "B0OTHERBOT"
    assert from_event(event, BOT) is None
    mention_by_bot = event_of(fake.app_mention(GENERAL, "hi", user="U0OTHERBOT"))
    assert from_event(mention_by_bot, BOT) is None


@pytest.mark.parametrize("subtype", ["message_changed", "message_deleted", "channel_join"])
def test_edits_and_notices_are_ignored(fake: FakeSlack, subtype: str) -> None:
    event = {**event_of(fake.user_message(fake.dm(), "x")), "subtype": subtype}
    assert from_event(event, BOT) is None


def test_a_bare_mention_is_not_a_question(fake: FakeSlack) -> None:
    assert from_event(event_of(fake.app_mention(GENERAL, "<@U0FAKEBOT>")), BOT) is None


def test_files_become_attachment_references(fake: FakeSlack) -> None:
    image = fake.add_file("plot.png", b"png", "image/png")
    event = event_of(fake.app_mention(GENERAL, "what is in this?", files=[image]))
    assert event["subtype"] == "file_share"
    request = from_event(event, BOT)
    assert request is not None
    (found,) = request.files
    assert (found.id, found.name, found.mimetype, found.size) == (
        image.id,
        "plot.png",
        "image/png",
        3,
    )
    assert found.is_image and found.url.endswith("/download/plot.png")
    only_file = event_of(fake.user_message(fake.dm(), "", files=[image]))
    assert from_event(only_file, BOT) is not None  # an image alone is a question too
    restricted = {**event, "files": [{**event["files"][0], "file_access": "check_file_info"}]}
    request = from_event(restricted, BOT)
    assert request is not None and request.files[0].url == ""


def test_slack_markup_becomes_readable_text() -> None:
    text = (
        "<@U0FAKEBOT> ask <@U0BOB> and <@U0ADA|ada> in <#C1|general> about "
        "<https://example.com|the site> &lt;tag&gt; &amp; <!here> <mailto:a@b.c> <!subteam^S1>"
    )
    assert plain_text(text, names={"U0BOB": "bob"}, bot_user_id="U0FAKEBOT") == (
        "ask @bob and @ada in #general about the site (https://example.com) <tag> & @here a@b.c @S1"
    )
    assert plain_text("see <http://example.com|example.com>") == "see http://example.com"
    assert plain_text("<@U0FAKEBOT>   hi <@U0FAKEBOT> there", bot_user_id="U0FAKEBOT") == "hi there"
    code = "<@U0FAKEBOT> fix this:\n```\ndef f():\n    return a &lt; b\n```"
    assert plain_text(code, bot_user_id="U0FAKEBOT") == (
        "fix this:\n```\ndef f():\n    return a < b\n```"
    )


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("", "/help"),
        ("help", "/help"),
        ("help me write a poem", "help me write a poem"),
        ("what is love?", "what is love?"),
        ("new", "/new"),
        ("new ideas for a party", "new ideas for a party"),
        ("model", "/model"),
        ("model llama3", "/model llama3"),
        ("summarize this long text", "/summarize this long text"),
        ("Summarize it", "/summarize it"),
        ("/model llama3", "/model llama3"),
    ],
)
def test_slash_command_text(typed: str, meant: str) -> None:
    assert command_text(typed, SlashCommands().adding(["/summarize"])) == meant


def test_slash_command_request(fake: FakeSlack) -> None:
    payload = fake.slash_command("summarize <https://x.io|x>", channel=GENERAL)
    request = from_command(payload, BOT, commands=SlashCommands().adding(["summarize"]))
    assert request.message.text == "/summarize x (https://x.io)"
    assert (request.channel, request.thread_ts, request.message.thread_id) == (GENERAL, None, "")
    assert request.message.user.display_name == "ada"
    assert anchor_text(request) == "<@U0ADA> asked: summarize x (https://x.io)"  # as typed
    threaded = request.in_thread("123.456")
    assert threaded.thread_ts == threaded.message.thread_id == "123.456"
    tricky = from_command(fake.slash_command("<!channel> & you", channel=GENERAL), BOT)
    assert anchor_text(tricky) == "<@U0ADA> asked: @channel &amp; you"


def test_stop_click(fake: FakeSlack) -> None:
    dm = fake.dm()
    fake.says(dm, "q")
    posted = fake.says(dm, "working…", user="U0FAKEBOT")
    posted.blocks = [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "hub_stop",
                    "text": {"type": "plain_text", "text": "Stop"},
                    "value": "tok",
                }
            ],
        }
    ]
    click = stop_click(fake.button_click(dm, posted.ts, user="U0BOB"))
    assert click is not None
    assert (click.value, click.user_id, click.channel, click.message_ts) == (
        "tok",
        "U0BOB",
        dm,
        posted.ts,
    )
    assert stop_click({"type": "block_actions", "actions": [{"action_id": "other"}]}) is None
    assert stop_click({"type": "view_submission"}) is None


def test_only_a_follow_up_without_a_mention_needs_the_thread_check(fake: FakeSlack) -> None:
    root = fake.says(GENERAL, "a question", user="U0BOB")
    follow = event_of(fake.user_message(GENERAL, "more", thread_ts=root.ts))
    assert thread_to_check(follow, BOT) == (GENERAL, root.ts)
    request = from_event(
        follow, BOT, answering=lambda channel, ts: (channel, ts) == (GENERAL, root.ts)
    )
    assert request is not None and request.message.workspace_id == "T0FAKE"
    mention = event_of(fake.user_message(GENERAL, "<@U0FAKEBOT> more", thread_ts=root.ts))
    top_level = event_of(fake.user_message(GENERAL, "hello all"))
    in_dm = event_of(fake.user_message(fake.dm(), "more", thread_ts=root.ts))
    from_bot = event_of(fake.user_message(GENERAL, "beep", thread_ts=root.ts, user="U0OTHERBOT"))
    bot_root = fake.says(GENERAL, "posted by the bot", user="U0FAKEBOT")
    under_ours = event_of(fake.user_message(GENERAL, "thanks", thread_ts=bot_root.ts))
    for event in (mention, top_level, in_dm, from_bot, under_ours):
        assert thread_to_check(event, BOT) is None
    assert from_event(under_ours, BOT) is not None  # a thread under the bot's own message
