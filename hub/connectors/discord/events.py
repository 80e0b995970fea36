"""Discord messages and interactions → `IncomingMessage`: when the bot answers, and to what.

The bot answers:
- in DMs, every message;
- in guild channels, a message that mentions it (`<@bot>`, or its managed role `<@&role>` that
  Discord's client sometimes picks for "@Bot"), or that replies to one of its messages; it
  replies to that message;
- in a thread it started, every message (the thread is its conversation); in other threads, as
  in channels.
It ignores bots (itself included), webhooks and system messages, and `@everyone`/`@here` alone.

Conversations: a channel or DM is `chat_id`; a thread is its own conversation (`chat_id` its
parent channel, `thread_id` the thread), as Telegram forum topics are. A reply to one of the
bot's messages continues that branch instead: `Trigger.continues_chain`, with the history from
`chain.reply_chain`. Text is cleaned for the model: the bot's mention removed, other mentions
written as `@name` / `#channel`. Image attachments become the message's `attachments` (sizes
reported, downloaded only if a model will see them); the guild is its `workspace_id` and the
author's roles its `roles`, for the allow and deny lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord

from hub.core.models import Attachment, IncomingMessage, PlatformUser

PLATFORM = "discord"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image attached to a message: where to download it and how big it is."""

    url: str
    filename: str
    content_type: str
    size: int  # bytes
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    """One Discord message the bot answers: the core's message and where to answer it.

    `images` describes the image attachments `incoming.attachments` carries; `skipped` names
    the other files.
    """

    incoming: IncomingMessage
    channel_id: int  # where the answer goes (the thread itself for threads)
    guild_id: str  # "" in DMs
    reply_to: int | None  # the message the answer replies to; None in DMs and the bot's threads
    continues_chain: bool  # a reply to one of the bot's messages: history follows the chain
    images: tuple[ImageRef, ...] = ()
    skipped: tuple[str, ...] = ()  # attachments that are not images (file names)


def bot_role_ids(message: discord.Message, bot_id: int) -> set[int]:
    """The bot's own managed role(s) mentioned in `message`."""
    return {
        role.id
        for role in message.role_mentions
        if role.tags is not None and role.tags.bot_id == bot_id
    }


def replied_message(message: discord.Message) -> discord.Message | None:
    """The message `message` replies to, when Discord sent it along or it is cached."""
    ref = message.reference
    if ref is None:
        return None
    if isinstance(ref.resolved, discord.Message):
        return ref.resolved
    return ref.cached_message


def replies_to_bot(message: discord.Message, bot_id: int) -> bool:
    parent = replied_message(message)
    return parent is not None and parent.author.id == bot_id


def _bot_thread(channel: object, bot_id: int) -> bool:
    return isinstance(channel, discord.Thread) and channel.owner_id == bot_id


def addressed_to_bot(message: discord.Message, bot_id: int) -> bool:
    """Whether the bot should answer `message` (always in DMs)."""
    if message.guild is None:
        return True
    if _bot_thread(message.channel, bot_id) or replies_to_bot(message, bot_id):
        return True
    return any(u.id == bot_id for u in message.mentions) or bool(bot_role_ids(message, bot_id))


def clean_text(message: discord.Message, bot_id: int) -> str:
    """The text for the model: the bot's mentions removed, others as `@name` and `#channel`."""
    text = re.sub(rf"<@!?{bot_id}>", "", message.content)
    for role_id in bot_role_ids(message, bot_id):
        text = text.replace(f"<@&{role_id}>", "")
    for user in message.mentions:
        if user.id != bot_id:
            text = re.sub(rf"<@!?{user.id}>", "@" + user.display_name, text)
    for role in message.role_mentions:
        text = text.replace(f"<@&{role.id}>", "@" + role.name)
    for channel in message.channel_mentions:
        text = text.replace(f"<#{channel.id}>", "#" + channel.name)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _is_image(attachment: discord.Attachment) -> bool:
    kind = attachment.content_type or ""
    return kind.startswith("image/") or attachment.filename.lower().endswith(_IMAGE_SUFFIXES)


def images_of(message: discord.Message) -> tuple[tuple[ImageRef, ...], tuple[str, ...]]:
    """(image attachments, names of the other attachments)."""
    images: list[ImageRef] = []
    skipped: list[str] = []
    for a in message.attachments:
        if not _is_image(a):
            skipped.append(a.filename)
            continue
        images.extend(images_of_one(a))
    return tuple(images), tuple(skipped)


def attachments_of(message: discord.Message) -> tuple[Attachment, ...]:
    """The message's images as the core's attachments, each downloaded only when used."""
    return tuple(
        Attachment("image", ref.content_type, ref.size, ref.filename, fetch=a.read)
        for a in message.attachments
        if _is_image(a)
        for ref in images_of_one(a)
    )


def images_of_one(a: discord.Attachment) -> tuple[ImageRef, ...]:
    kind = a.content_type or "image/" + a.filename.rsplit(".", 1)[-1].lower()
    return (ImageRef(a.url, a.filename, kind, a.size, a.width, a.height),)


def role_ids(author: object) -> tuple[str, ...]:
    """The author's role ids in the guild (a `Member`); none in DMs."""
    roles = getattr(author, "roles", None) or ()
    return tuple(str(role.id) for role in roles if not role.is_default())


def _place(channel: object) -> tuple[str, str, str]:
    """(chat_id, thread_id, chat_name) of a channel."""
    if isinstance(channel, discord.Thread):
        return str(channel.parent_id), str(channel.id), channel.name
    if isinstance(channel, discord.DMChannel):
        # Discord sends bots no CHANNEL_CREATE for DMs: the recipient is often unknown.
        recipient = channel.recipient
        return str(channel.id), "", recipient.display_name if recipient else ""
    return str(getattr(channel, "id", "")), "", str(getattr(channel, "name", "") or "")


def platform_user(user: discord.abc.User, language: str = "") -> PlatformUser:
    return PlatformUser(PLATFORM, str(user.id), user.display_name, language)


def to_trigger(message: discord.Message, bot_id: int) -> Trigger | None:
    """The hub's view of `message`, or None when the bot should stay silent."""
    author = message.author
    if author.bot or author.id == bot_id or message.webhook_id is not None:
        return None
    if message.is_system() or not addressed_to_bot(message, bot_id):
        return None
    text = clean_text(message, bot_id)
    images, skipped = images_of(message)
    if not text and not images:
        return None
    chat_id, thread_id, chat_name = _place(message.channel)
    parent = replied_message(message)
    in_dm = message.guild is None
    guild_id = "" if message.guild is None else str(message.guild.id)
    incoming = IncomingMessage(
        platform=PLATFORM,
        chat_id=chat_id,
        user=platform_user(author),
        text=text,
        thread_id=thread_id,
        message_id=str(message.id),
        reply_to_text=clean_text(parent, bot_id) if parent is not None else None,
        chat_name=chat_name or (author.display_name if in_dm else ""),
        is_group=not in_dm,
        workspace_id=guild_id,
        attachments=attachments_of(message),
        roles=role_ids(author),
    )
    quiet = in_dm or _bot_thread(message.channel, bot_id)
    return Trigger(
        incoming=incoming,
        channel_id=message.channel.id,
        guild_id=guild_id,
        reply_to=None if quiet else message.id,
        continues_chain=parent is not None and parent.author.id == bot_id,
        images=images,
        skipped=skipped,
    )


def from_interaction(interaction: discord.Interaction, text: str) -> IncomingMessage:
    """An application command as an `IncomingMessage` with `text` (the command as typed).

    The connector builds `text` from the command and its options ("/ask …", "/model x").
    """
    chat_id, thread_id, chat_name = _place(interaction.channel)
    if not chat_id:
        chat_id = str(interaction.channel_id or "")
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=chat_id,
        user=platform_user(interaction.user, interaction.locale.value),
        text=text,
        thread_id=thread_id,
        message_id=str(interaction.id),
        chat_name=chat_name,
        is_group=interaction.guild_id is not None,
        workspace_id=str(interaction.guild_id or ""),
        roles=role_ids(interaction.user),
    )
