"""The Telegram connector with the real python-telegram-bot against the fake Bot API server."""

from __future__ import annotations

import asyncio

from hub.connectors.telegram.bot import TelegramConnector
from hub.core.markup import telegram as tg
from hub.core.markup.fences import fence_state_after
from hub.core.markup.split import split_markdown
from tests.connectors.conftest import Start
from tests.fakes.telegram import FakeTelegram
from tests.support.chat import ScriptedChat
from tests.support.wait import until

DM = 4242
GROUP = -100777
BOT = "@hub_test_bot"


def long_reply(tokens: int) -> str:
    words = [f"token{i % 97}" for i in range(tokens)]
    lines = [" ".join(words[i : i + 12]) + "." for i in range(0, tokens, 12)]
    return "\n\n".join(" ".join(lines[i : i + 4]) for i in range(0, len(lines), 4))


def expected_messages(text: str) -> list[str]:
    return [tg.visible(tg.to_html(p.text)) for p in split_markdown(text, 4096, tg.measure)]


async def answered(chat: ScriptedChat, connector: TelegramConnector, count: int = 1) -> None:
    await until(lambda: chat.finished >= count and not connector.busy)


async def test_dm_streaming_of_a_long_reply_is_exact_without_429(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    text = long_reply(1500)
    chat = ScriptedChat(lambda m: text, tokens_per_second=400.0)
    connector = await start_connector(chat)
    fake_telegram.push_message(DM, "Tell me a long story")
    await answered(chat, connector)

    shown = [m.text for m in fake_telegram.chat_messages(DM)]
    assert shown == expected_messages(text)
    assert len(shown) >= 2
    assert fake_telegram.enforced_429 == 0
    assert fake_telegram.calls_of("sendMessageDraft")  # streamed natively
    assert fake_telegram.drafts == {}  # every draft became a real message
    assert all(m.reply_markup is None for m in fake_telegram.chat_messages(DM))
    assert chat.received[0].text == "Tell me a long story"


async def test_dm_falls_back_to_edits_when_drafts_fail(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    fake_telegram.drafts_supported = False
    text = long_reply(300)
    chat = ScriptedChat(lambda m: text, tokens_per_second=80.0)
    connector = await start_connector(chat)
    fake_telegram.push_message(DM, "hi")
    await answered(chat, connector)

    assert [m.text for m in fake_telegram.chat_messages(DM)] == expected_messages(text)
    assert len(fake_telegram.calls_of("sendMessageDraft")) == 1  # tried once, then edits
    edits = fake_telegram.calls_of("editMessageText")
    assert len(edits) >= 2
    assert "reply_markup" in edits[0].params  # Stop button while streaming
    assert fake_telegram.chat_messages(DM)[0].reply_markup is None  # gone at the end
    assert fake_telegram.enforced_429 == 0


async def test_long_reply_with_code_is_split_into_valid_parts(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    code = "```python\n" + "".join(
        f"total_{i} = add(total, {i}) if a < b else 0\n" for i in range(140)
    )
    text = long_reply(300) + "\n\n" + code + "```\n\n" + long_reply(200)
    assert len(text) > 9000
    chat = ScriptedChat(lambda m: text, tokens_per_second=2000.0)
    connector = await start_connector(chat, drafts=False)
    fake_telegram.push_message(DM, "code please")
    await answered(chat, connector)

    messages = fake_telegram.chat_messages(DM)
    parts = split_markdown(text, 4096, tg.measure)
    assert len(messages) == len(parts) >= 3
    assert [m.text for m in messages] == expected_messages(text)
    for part, message in zip(parts, messages, strict=True):
        assert fence_state_after(part.text) is None
        assert tg.len16(message.text) <= 4096
        if "total_" in message.text:
            assert '<pre><code class="language-python">' in message.raw
    assert [m.reply_to for m in messages[1:]] == [m.message_id for m in messages[:-1]]
    assert fake_telegram.enforced_429 == 0


async def test_group_answers_only_when_mentioned_and_replies_to_the_trigger(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: f"You said: {m.text}")
    connector = await start_connector(chat)
    fake_telegram.push_message(GROUP, "just chatting", kind="supergroup")
    mention = [{"type": "mention", "offset": 0, "length": len(BOT)}]
    trigger = fake_telegram.push_message(
        GROUP, f"{BOT} what is up", kind="supergroup", entities=mention
    )
    await answered(chat, connector)
    await asyncio.sleep(0.2)  # give the ignored message every chance to be answered wrongly

    assert [m.text for m in chat.received] == ["what is up"]
    assert chat.received[0].is_group
    messages = fake_telegram.chat_messages(GROUP)
    assert [m.text for m in messages] == ["You said: what is up"]
    assert messages[0].reply_to == trigger["message_id"]
    assert not fake_telegram.calls_of("sendMessageDraft")  # drafts are for private chats only


async def test_forum_topics_are_separate_conversations(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: "ok")
    connector = await start_connector(chat)
    for thread in (7, 8):
        fake_telegram.push_message(
            GROUP,
            "/ask hello",
            kind="supergroup",
            thread_id=thread,
            entities=[{"type": "bot_command", "offset": 0, "length": 4}],
        )
    await answered(chat, connector, count=2)

    keys = {m.key for m in chat.received}
    assert {k.thread_id for k in keys} == {"7", "8"}
    assert {m.thread_id for m in fake_telegram.chat_messages(GROUP)} == {7, 8}


async def test_retry_after_is_honoured_and_nothing_is_lost(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    text = long_reply(400)
    chat = ScriptedChat(lambda m: text, tokens_per_second=100.0)
    connector = await start_connector(chat, drafts=False)
    fake_telegram.fail_next("editMessageText", retry_after=2)
    fake_telegram.push_message(DM, "go")
    await answered(chat, connector)

    writes = [c for c in fake_telegram.calls if c.method in ("sendMessage", "editMessageText")]
    limited = next(i for i, c in enumerate(writes) if c.status == 429)
    assert writes[limited + 1].t - writes[limited].t >= 2.0 - 0.05  # waited the full 2 s
    assert len(writes[limited + 1].params["text"]) > len(writes[limited].params["text"])
    assert [m.text for m in fake_telegram.chat_messages(DM)] == expected_messages(text)
    assert fake_telegram.enforced_429 == 0


async def test_rejected_markup_falls_back_to_plain_text(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    text = "Some **bold** and `code` here."
    chat = ScriptedChat(lambda m: text)
    connector = await start_connector(chat, drafts=False)
    fake_telegram.fail_next(
        "sendMessage", description="Bad Request: can't parse entities: unsupported start tag"
    )
    fake_telegram.push_message(DM, "go")
    await answered(chat, connector)

    [message] = fake_telegram.chat_messages(DM)
    assert message.parse_mode is None
    assert message.text == text  # the same text, as typed


async def test_stop_button_cancels_the_reply(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: long_reply(2000), tokens_per_second=50.0)
    connector = await start_connector(chat, drafts=False)
    fake_telegram.push_message(DM, "go on forever")
    await until(lambda: any(m.reply_markup for m in fake_telegram.chat_messages(DM)))
    [message] = fake_telegram.chat_messages(DM)
    assert message.reply_markup is not None
    data = message.reply_markup["inline_keyboard"][0][0]["callback_data"]

    fake_telegram.push_callback(message.message_id, data, user_id=999)  # someone else
    await until(lambda: len(fake_telegram.callback_answers) == 1)
    assert chat.cancelled == 0
    fake_telegram.push_callback(message.message_id, data)
    await answered(chat, connector)

    assert chat.cancelled == 1
    answers = [a.get("text") for a in fake_telegram.callback_answers]
    assert answers == ["Only the person who asked can stop this reply.", "Stopping…"]
    final = fake_telegram.chat_messages(DM)
    assert final[-1].text.endswith("⚠ reply interrupted: stopped.")
    assert all(m.reply_markup is None for m in final)


async def test_commands_are_published_within_telegram_limits(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: "")
    connector = await start_connector(chat)
    assert [c["command"] for c in fake_telegram.commands][:2] == ["help", "new"]

    async def provider() -> list[tuple[str, str]]:
        bad = [("/Bad-Name", "x"), ("x" * 33, "too long"), ("/summarize", "S" * 300)]
        many = [(f"/p{i}", f"Prompt {i}") for i in range(150)]
        return [("help", "Help"), *bad, *many]

    connector.commands = provider
    await connector.refresh_commands()
    names = [c["command"] for c in fake_telegram.commands]
    assert len(names) == 100
    assert names[:2] == ["help", "summarize"]
    assert len(fake_telegram.commands[1]["description"]) == 256
