"""The Slack connector end to end, continued: what people do in a thread the bot answers in
(stop it by typing /stop, share an image) and `/ask` as a plain question, against the fake
Slack and the fake Ollama (see test_slack_connector.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.connectors.test_slack_connector import PICTURE, words
from tests.fakes.slack import GENERAL
from tests.support.slack_hub import MODEL, expected, slack_hub
from tests.support.wait import until


@pytest.mark.parametrize("streams", [True, False])
async def test_stop_typed_in_the_thread_stops_the_reply(tmp_path: Path, streams: bool) -> None:
    async with slack_hub(tmp_path, streams=streams) as hub:
        hub.ollama.script(MODEL, tokens=words(2000), tokens_per_second=30)
        thread = await hub.mention("go on and on")
        await until(lambda: bool(hub.replies(GENERAL, thread)))
        # Slack's composer sends a line starting with "/" as a message only after a space.
        stop = hub.fake.user_message(GENERAL, " /stop", thread_ts=thread)
        assert (await hub.deliver(stop)).acked
        await hub.idle()
        await hub.ollama.wait_for(lambda: hub.ollama.connections_closed == 1)  # upstream closed
        assert len(hub.ollama.chat_requests) == 1  # /stop is the hub's own, not a question
        shown = hub.shown(GENERAL, thread)
        assert any(s.endswith("⚠ reply interrupted: reply stopped.") for s in shown)
        assert not any(m.buttons for m in hub.replies(GENERAL, thread))
        assert hub.fake.enforced_429 == 0


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_an_image_shared_later_in_the_thread_reaches_a_vision_model(
    tmp_path: Path, mode: str
) -> None:
    async with slack_hub(tmp_path, mode=mode) as hub:
        hub.ollama.script(MODEL, tokens=["Hello."], extra_show={"capabilities": ["vision"]})
        thread = await hub.mention("I will show you something")
        await hub.idle()
        hub.ollama.script(MODEL, tokens=["A", " cat."], extra_show={"capabilities": ["vision"]})
        picture = hub.fake.add_file("cat.png", PICTURE)
        shared = hub.fake.user_message(GENERAL, "this one", thread_ts=thread, files=[picture])
        assert shared["event"]["subtype"] == "file_share"
        assert (await hub.deliver(shared)).acked  # no mention: the bot answers in the thread
        await until(lambda: len(hub.ollama.chat_requests) == 2)
        await hub.idle()
        last = hub.ollama.chat_requests[1].json["messages"][-1]
        assert last["content"] == "this one"
        assert last["images"] == [base64.b64encode(PICTURE).decode()]
        assert hub.shown(GENERAL, thread) == [*expected("Hello."), *expected("A cat.")]


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_ask_with_a_question_chats_in_a_thread(tmp_path: Path, mode: str) -> None:
    async with slack_hub(tmp_path, mode=mode) as hub:
        hub.ollama.script(MODEL, tokens=["Blue", ", mostly."])
        command = hub.fake.slash_command("what colour is the sky?", channel=GENERAL)
        assert (await hub.deliver(command, "slash_commands")).acked
        await until(lambda: len(hub.ollama.chat_requests) == 1)
        await hub.idle()
        said = hub.ollama.chat_requests[0].json["messages"][-1]["content"]
        assert said == "what colour is the sky?"
        anchor, *_ = hub.fake.bot_messages(GENERAL)
        assert anchor.text == "<@U0ADA> asked: what colour is the sky?"
        assert hub.shown(GENERAL, anchor.ts) == expected("Blue, mostly.")
        assert hub.fake.enforced_429 == 0
