"""The reply chain behind a Discord message: the history of one branch, as llmcord keeps it.

Replying to one of the bot's messages continues that branch of the conversation. Its history is
the chain of `message_reference`s from the replied message back to the first one: each parent
is taken from what Discord sent along (`referenced_message`) or discord.py's cache, and fetched
(`GET /channels/{id}/messages/{id}`) only when neither has it. The chain stops at a message that
replies to nothing, one that cannot be fetched (deleted, no access), or after `limit` messages.

The bot's messages are assistant turns (the parts of one long reply, each replying to the one
before, are joined back into one turn) and everyone else's are user turns, with the author's
name in front when more than one person takes part. Images in earlier messages are not carried.
"""

from __future__ import annotations

import logging

import aiohttp
import discord

from hub.connectors.discord.events import clean_text, replied_message
from hub.core.models import ChatMessage

log = logging.getLogger(__name__)
DEFAULT_LIMIT = 25


async def _parent(message: discord.Message) -> discord.Message | None:
    ref = message.reference
    if ref is None or ref.message_id is None or ref.type is not discord.MessageReferenceType.reply:
        return None  # a forward quotes a message; it does not continue a branch
    known = replied_message(message)
    if known is not None:
        return known
    if ref.channel_id != message.channel.id:
        return None  # e.g. a thread's starter message in the parent channel
    try:
        return await message.channel.fetch_message(ref.message_id)
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
        log.info("reply chain ends early", extra={"message_id": ref.message_id, "error": str(exc)})
        return None


async def ancestors(message: discord.Message, limit: int = DEFAULT_LIMIT) -> list[discord.Message]:
    """The messages `message` replies to, nearest first, at most `limit`."""
    found: list[discord.Message] = []
    seen = {message.id}
    current = await _parent(message)
    while current is not None and len(found) < limit and current.id not in seen:
        found.append(current)
        seen.add(current.id)
        current = await _parent(current)
    return found


def as_history(
    messages: list[discord.Message], bot_id: int, asker_id: int
) -> tuple[ChatMessage, ...]:
    """Oldest-first chat messages of a chain given nearest-first; `asker_id` asks next."""
    ordered = list(reversed(messages))
    people = {m.author.id for m in ordered if m.author.id != bot_id} | {asker_id}
    turns: list[ChatMessage] = []
    for m in ordered:
        if m.author.id == bot_id:
            text = m.content
            if turns and turns[-1].role == "assistant":
                turns[-1] = ChatMessage("assistant", turns[-1].content + "\n" + text)
                continue
            turns.append(ChatMessage("assistant", text))
            continue
        text = clean_text(m, bot_id)
        if len(people) > 1:
            text = f"{m.author.display_name}: {text}"
        turns.append(ChatMessage("user", text))
    return tuple(t for t in turns if t.content.strip())


async def reply_chain(
    message: discord.Message, bot_id: int, limit: int = DEFAULT_LIMIT
) -> tuple[ChatMessage, ...]:
    """The history of the branch `message` continues (without `message` itself)."""
    return as_history(await ancestors(message, limit), bot_id, message.author.id)
