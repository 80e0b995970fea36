"""Telegram messages → `IncomingMessage`: when the bot answers, and what it is asked.

Private chats: every text message. Groups and supergroups: only when the bot is addressed, by
an @mention of its username (a `mention` entity, or a `text_mention` of the bot), a reply to one
of its messages, or a command (`/cmd`, or `/cmd@this_bot`; `/cmd@other_bot` is not ours).

Privacy mode (BotFather `/setprivacy`, on by default) decides what reaches the bot at all:
with it ON, groups deliver only commands and replies to the bot's messages, so a plain
"@bot what is…" never arrives. To be answered on plain @mentions, turn privacy mode OFF in
BotFather (`/setprivacy` → Disable) or make the bot a group admin; then remove and re-add the
bot to existing groups so the change takes effect. Either way the bot answers only messages
addressed to it.

Forum topics are separate conversations (`thread_id` = the topic's `message_thread_id`).

Photos (the largest size Telegram offers) and documents of an image type come as attachments,
their caption as the text; they are downloaded (getFile) only if a model will see them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Document, Message, MessageEntity, PhotoSize
from telegram import User as TelegramUser

from hub.core.models import Attachment, IncomingMessage, PlatformUser

PLATFORM = "telegram"


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from getMe): to recognise mentions, replies and commands for it."""

    id: int
    username: str


def _replied_to(message: Message) -> Message | None:
    reply = message.reply_to_message
    # In forum topics every message "replies" to the topic's creation message: not a reply.
    if reply is None or reply.forum_topic_created is not None:
        return None
    return reply


def _mentions_bot(message: Message, bot: BotIdentity) -> bool:
    wanted = "@" + bot.username.lower()
    kinds: list[str | None] = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    entities = {**message.parse_entities(kinds), **message.parse_caption_entities(kinds)}
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.lower() == wanted:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            return True
    return False


def _command_target(message: Message, bot: BotIdentity) -> bool | None:
    """True: a command for this bot; False: for another bot; None: not a command."""
    commands = message.parse_entities([MessageEntity.BOT_COMMAND])
    for entity, text in commands.items():
        if entity.offset != 0:
            continue
        _, _, target = text.partition("@")
        return not target or target.lower() == bot.username.lower()
    return None


def addressed_to_bot(message: Message, bot: BotIdentity) -> bool:
    """Whether the bot should answer `message` (always in private chats)."""
    if message.chat.type == "private":
        return True
    if message.chat.type not in ("group", "supergroup"):
        return False
    command = _command_target(message, bot)
    if command is not None:
        return command
    reply = _replied_to(message)
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot.id:
        return True
    return _mentions_bot(message, bot)


def strip_bot_name(text: str, bot: BotIdentity) -> str:
    """`text` without "@bot_username" (mentions and `/cmd@bot_username`)."""
    cleaned = re.sub(rf"@{re.escape(bot.username)}\b", "", text, flags=re.IGNORECASE)
    return cleaned.strip()


def platform_user(sender: TelegramUser) -> PlatformUser:
    """The hub's view of a Telegram user."""
    return PlatformUser(
        platform=PLATFORM,
        platform_user_id=str(sender.id),
        display_name=sender.full_name,
        language=sender.language_code or "",
    )


def _attachment(file: PhotoSize | Document, mime: str, name: str) -> Attachment:
    async def fetch() -> bytes:
        found = await file.get_file()
        return bytes(await found.download_as_bytearray())

    return Attachment("image", mime, file.file_size or 0, name, fetch)


def attachments_of(message: Message) -> tuple[Attachment, ...]:
    """The images of `message`: its photo (largest size) or an image document."""
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return (_attachment(largest, "image/jpeg", "photo.jpg"),)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return (_attachment(document, document.mime_type or "", document.file_name or ""),)
    return ()


def to_incoming(message: Message | None, bot: BotIdentity) -> IncomingMessage | None:
    """The hub's view of `message`, or None when the bot should stay silent."""
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    text = message.text or message.caption or ""
    attachments = attachments_of(message)
    if not (text.strip() or attachments) or not addressed_to_bot(message, bot):
        return None
    text = strip_bot_name(text, bot)
    if not text and not attachments:
        return None
    thread = message.message_thread_id if message.is_topic_message else None
    reply = _replied_to(message)
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=str(message.chat.id),
        user=platform_user(message.from_user),
        text=text,
        thread_id=str(thread) if thread else "",
        message_id=str(message.message_id),
        reply_to_text=(reply.text or reply.caption) if reply is not None else None,
        chat_name=message.chat.effective_name or "",
        is_group=message.chat.type != "private",
        attachments=attachments,
    )
