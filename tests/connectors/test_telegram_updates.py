"""to_incoming(): who is answered, and what the hub is asked (real PTB Message objects)."""

from __future__ import annotations

from typing import Any

from telegram import Message

from hub.connectors.telegram.updates import BotIdentity, to_incoming

BOT = BotIdentity(id=123456, username="hub_test_bot")


def message(text: str, *, chat_id: int = -100, kind: str = "supergroup", **extra: Any) -> Message:
    data: dict[str, Any] = {
        "message_id": 10,
        "date": 0,
        "chat": {"id": chat_id, "type": kind, "title": "G"},
        "from": {"id": 7, "is_bot": False, "first_name": "Ada", "last_name": "L"},
        "text": text,
        **extra,
    }
    return Message.de_json(data, None)


def entity(kind: str, offset: int, length: int, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "offset": offset, "length": length, **extra}


def test_private_chats_answer_everything() -> None:
    msg = to_incoming(message("hello", chat_id=7, kind="private"), BOT)
    assert msg is not None
    assert (msg.text, msg.is_group, msg.chat_id, msg.user.platform_user_id) == (
        "hello",
        False,
        "7",
        "7",
    )
    assert msg.user.display_name == "Ada L"


def test_group_plain_message_is_ignored() -> None:
    assert to_incoming(message("hello all"), BOT) is None


def test_group_mention_is_answered_without_the_mention() -> None:
    text = "hey @Hub_Test_Bot what is 2+2?"
    msg = to_incoming(message(text, entities=[entity("mention", 4, 13)]), BOT)
    assert msg is not None and msg.is_group
    assert msg.text == "hey  what is 2+2?"


def test_mention_of_another_bot_is_ignored() -> None:
    assert to_incoming(message("@other_bot hi", entities=[entity("mention", 0, 10)]), BOT) is None


def test_text_mention_of_the_bot() -> None:
    user = {"id": BOT.id, "is_bot": True, "first_name": "Hub"}
    msg = to_incoming(message("Hub help", entities=[entity("text_mention", 0, 3, user=user)]), BOT)
    assert msg is not None


def test_commands_for_us_or_everyone_but_not_for_other_bots() -> None:
    ours = to_incoming(
        message("/new@hub_test_bot now", entities=[entity("bot_command", 0, 17)]), BOT
    )
    assert ours is not None and ours.text == "/new now"
    everyone = to_incoming(message("/help", entities=[entity("bot_command", 0, 5)]), BOT)
    assert everyone is not None and everyone.text == "/help"
    other = message("/help@other_bot", entities=[entity("bot_command", 0, 15)])
    assert to_incoming(other, BOT) is None


def test_reply_to_the_bot_is_answered_with_the_replied_text() -> None:
    replied = {
        "message_id": 9,
        "date": 0,
        "chat": {"id": -100, "type": "supergroup"},
        "from": {"id": BOT.id, "is_bot": True, "first_name": "Hub"},
        "text": "Earlier answer",
    }
    msg = to_incoming(message("why?", reply_to_message=replied), BOT)
    assert msg is not None and msg.reply_to_text == "Earlier answer"


def test_reply_to_someone_else_is_ignored_in_groups() -> None:
    replied = {"message_id": 9, "date": 0, "chat": {"id": -100, "type": "supergroup"},
               "from": {"id": 8, "is_bot": False, "first_name": "Bo"}, "text": "x"}  # fmt: skip
    assert to_incoming(message("why?", reply_to_message=replied), BOT) is None


def test_forum_topic_is_its_own_conversation_and_not_a_reply() -> None:
    topic_start = {
        "message_id": 3,
        "date": 0,
        "chat": {"id": -100, "type": "supergroup", "is_forum": True},
        "from": {"id": BOT.id, "is_bot": True, "first_name": "Hub"},
        "forum_topic_created": {"name": "Ideas", "icon_color": 0},
    }
    plain = message("no mention", message_thread_id=3, is_topic_message=True,
                    reply_to_message=topic_start)  # fmt: skip
    assert to_incoming(plain, BOT) is None  # the topic's creation message is not a reply
    asked = message("@hub_test_bot hi", message_thread_id=3, is_topic_message=True,
                    reply_to_message=topic_start, entities=[entity("mention", 0, 13)])  # fmt: skip
    msg = to_incoming(asked, BOT)
    assert msg is not None and msg.thread_id == "3" and msg.reply_to_text is None
    assert msg.key.thread_id == "3"


def test_bots_and_empty_messages_are_ignored() -> None:
    data = message("hi", chat_id=7, kind="private").to_dict()
    data["from"]["is_bot"] = True
    assert to_incoming(Message.de_json(data, None), BOT) is None
    assert to_incoming(message("   ", chat_id=7, kind="private"), BOT) is None


PHOTO = [
    {"file_id": "s", "file_unique_id": "us", "width": 90, "height": 60, "file_size": 900},
    {"file_id": "l", "file_unique_id": "ul", "width": 1280, "height": 853, "file_size": 90_000},
]


def test_a_photo_without_caption_in_private_is_an_image_message() -> None:
    msg = to_incoming(message("", chat_id=7, kind="private", photo=PHOTO), BOT)
    assert msg is not None and msg.text == ""
    [image] = msg.attachments
    assert (image.kind, image.mime, image.size) == ("image", "image/jpeg", 90_000)


def test_a_photo_in_a_group_needs_a_caption_mention() -> None:
    assert to_incoming(message("", photo=PHOTO), BOT) is None
    caption = "@hub_test_bot what is this"
    mentioned = message(
        "", photo=PHOTO, caption=caption, caption_entities=[entity("mention", 0, 13)]
    )
    msg = to_incoming(mentioned, BOT)
    assert msg is not None and msg.text == "what is this" and len(msg.attachments) == 1


def test_only_image_documents_are_attachments() -> None:
    pdf = {"file_id": "d", "file_unique_id": "ud", "mime_type": "application/pdf"}
    assert to_incoming(message("", chat_id=7, kind="private", document=pdf), BOT) is None
    png = {**pdf, "mime_type": "image/png", "file_size": 5}
    msg = to_incoming(message("", chat_id=7, kind="private", document=png), BOT)
    assert msg is not None and msg.attachments[0].mime == "image/png"
