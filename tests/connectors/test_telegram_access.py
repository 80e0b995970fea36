"""Who may use the Telegram bot: allow lists, refusals in private and in groups, and Stop."""

from __future__ import annotations

import asyncio

from tests.connectors.conftest import Start
from tests.fakes.telegram import FakeTelegram
from tests.support.chat import ScriptedChat
from tests.support.wait import until

OWNER, STRANGER, FRIEND = 1001, 2002, 3003
GROUP = -100555
BOT = "@hub_test_bot"
MENTION = [{"type": "mention", "offset": 0, "length": len(BOT)}]


def mention(fake: FakeTelegram, text: str, user: int) -> None:
    fake.push_message(GROUP, f"{BOT} {text}", kind="supergroup", user_id=user, entities=MENTION)


def texts(fake: FakeTelegram, chat: int) -> list[str]:
    return [m.text for m in fake.chat_messages(chat)]


async def test_allowed_user_is_answered(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: "hello owner")
    connector = await start_connector(chat, allow_users=[str(OWNER)])
    fake_telegram.push_message(OWNER, "hi", user_id=OWNER)
    await until(lambda: chat.finished == 1 and not connector.busy)
    assert texts(fake_telegram, OWNER) == ["hello owner"]


async def test_refused_user_gets_one_short_refusal_in_private(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: "secret answer")
    connector = await start_connector(chat, allow_users=[str(OWNER)], drafts=False)
    fake_telegram.push_message(STRANGER, "hi", user_id=STRANGER)
    await until(lambda: len(texts(fake_telegram, STRANGER)) == 1 and not connector.busy)
    fake_telegram.push_message(STRANGER, "hello??", user_id=STRANGER)
    fake_telegram.push_message(OWNER, "hi", user_id=OWNER)  # answered after the stranger's
    await until(lambda: chat.finished == 1 and not connector.busy)
    await asyncio.sleep(0.2)

    assert chat.received and all(m.user.platform_user_id == str(OWNER) for m in chat.received)
    assert texts(fake_telegram, STRANGER) == [
        "Sorry, this bot only answers the people it was set up for."
    ]  # once: the second message got silence


async def test_refused_user_in_a_group_gets_silence_unless_configured(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: "answer")
    connector = await start_connector(chat, allow_users=[str(OWNER)])
    mention(fake_telegram, "hi", STRANGER)
    mention(fake_telegram, "hi", OWNER)
    await until(lambda: chat.finished == 1 and not connector.busy)
    await asyncio.sleep(0.2)
    assert [m.user.platform_user_id for m in chat.received] == [str(OWNER)]
    assert texts(fake_telegram, GROUP) == ["answer"]
    await connector.stop()

    loud = await start_connector(
        chat, allow_users=[str(OWNER)], refusal="Ask the owner.", refusal_in_groups=True
    )
    mention(fake_telegram, "again", STRANGER)
    await until(lambda: texts(fake_telegram, GROUP)[-1:] == ["Ask the owner."])
    assert not loud.busy and chat.finished == 1


async def test_allowed_chats_let_everyone_in_them_talk(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: "ok")
    connector = await start_connector(chat, allow_chats=[str(GROUP)])
    mention(fake_telegram, "hi", STRANGER)
    await until(lambda: chat.finished == 1 and not connector.busy)
    fake_telegram.push_message(STRANGER, "and privately?", user_id=STRANGER)
    await until(lambda: len(texts(fake_telegram, STRANGER)) == 1)
    assert chat.finished == 1  # the private chat is not on the list


async def test_stop_from_a_refused_user_is_ignored(
    fake_telegram: FakeTelegram, start_connector: Start
) -> None:
    chat = ScriptedChat(lambda m: "word " * 2000, tokens_per_second=50)
    connector = await start_connector(
        chat, allow_users=[str(OWNER), str(FRIEND)], admins=["4004"], drafts=False
    )
    mention(fake_telegram, "go", OWNER)
    await until(lambda: any(m.reply_markup for m in fake_telegram.chat_messages(GROUP)))
    [message] = fake_telegram.chat_messages(GROUP)
    assert message.reply_markup is not None
    data = message.reply_markup["inline_keyboard"][0][0]["callback_data"]
    assert len(data.encode()) <= 64

    fake_telegram.push_callback(message.message_id, data, user_id=STRANGER)
    fake_telegram.push_callback(message.message_id, data, user_id=FRIEND)
    await until(lambda: len(fake_telegram.callback_answers) == 2)
    assert chat.cancelled == 0 and connector.busy
    answers = [a.get("text", "") for a in fake_telegram.callback_answers]
    assert sorted(answers) == ["", "Only the person who asked can stop this reply."]

    fake_telegram.push_callback(message.message_id, data, user_id=4004)  # a bot admin
    await until(lambda: chat.cancelled == 1 and not connector.busy)
    assert fake_telegram.callback_answers[-1].get("text") == "Stopping…"
