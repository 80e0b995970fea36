"""Slack payloads → `IncomingMessage`: when the bot answers, and what it is asked. No I/O here.

When: an `app_mention` in a channel (the reply goes in the mention's thread, which the mention
starts if it was not in one); every message in a DM (each top-level DM message starts a thread,
the reply goes there); any message in a thread the bot is already answering in; the slash
command. Never the bot's own messages or other bots', edits, joins and other subtypes. In a
thread the bot answers, a message that also mentions the bot arrives twice (`app_mention` and
`message`): only the `app_mention` is taken.

What: the Slack thread is the conversation (`thread_id` = the thread's root ts). The bot's
mention is removed and Slack's markup turned into the text a person reads (`<@U1|ada>` → @ada,
`&lt;` → <). Files are passed on as references the connector can fetch with the bot token.
`/ask text` chats, `/ask NAME text` runs a command, `/ask` or `/ask help` lists commands.

`SlackRequest.key` is the same for every delivery of one Slack message (retries, and the two
events of a mention in an answered thread), so the connector can answer each message once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from hub.core.markup.slack import escape
from hub.core.models import IncomingMessage, PlatformUser

PLATFORM = "slack"
STOP_ACTION = "hub_stop"  # action_id of the Stop button
_ANSWERED_SUBTYPES = {None, "file_share", "thread_broadcast"}
_CONTROL = re.compile(r"<([^<>\n]+)>")
_DROPPED = "\x00"
_AROUND_DROPPED = re.compile(r"[ \t]*\x00[ \t]*")
ThreadCheck = Callable[[str, str], bool]  # (channel, thread_ts) → the bot answers in it


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is, from `auth.test`: to skip its own messages and find its mentions."""

    user_id: str
    bot_id: str
    team_id: str


@dataclass(frozen=True, slots=True)
class SlackFile:
    """A file shared with a message. `url` needs the bot token; "" means ask `files.info`."""

    id: str
    name: str
    mimetype: str
    size: int
    url: str

    @property
    def is_image(self) -> bool:
        return self.mimetype.startswith("image/")


@dataclass(frozen=True, slots=True)
class SlackRequest:
    """Something to answer: the message for the core, and where in Slack the reply goes.

    `thread_ts` is None for a slash command: the connector posts an anchor message first
    (`anchor_text`) and continues with `in_thread(its ts)`.
    """

    message: IncomingMessage
    channel: str
    thread_ts: str | None
    team_id: str
    files: tuple[SlackFile, ...] = ()
    key: str = ""  # one per Slack message, for answering it once
    typed: str = ""  # a slash command's text as the person typed it (for the anchor)

    def in_thread(self, thread_ts: str) -> SlackRequest:
        """The same request, answered in the thread of `thread_ts` (its conversation)."""
        return replace(
            self, thread_ts=thread_ts, message=replace(self.message, thread_id=thread_ts)
        )


@dataclass(frozen=True, slots=True)
class StopClick:
    """A click on a reply's Stop button; `value` is the token the sink put on the button."""

    value: str
    user_id: str
    channel: str
    message_ts: str
    team_id: str


@dataclass(frozen=True, slots=True)
class SlashCommands:
    """Command names `/ask NAME …` may run: `alone` only without text, `with_text` either way.

    The defaults are the hub's built-ins; the connector adds the prompt commands to
    `with_text`. A built-in that takes no arguments runs only when it is the whole text, so
    "/ask new ideas for a party" is a question, not /new.
    """

    alone: frozenset[str] = frozenset({"help", "new", "models", "prompts", "stop"})
    with_text: frozenset[str] = frozenset({"model", "prompt"})

    def adding(self, names: Collection[str]) -> SlashCommands:
        extra = {n.lower().lstrip("/") for n in names}
        return replace(self, with_text=self.with_text | extra)


# --- text ---------------------------------------------------------------------------------------


def plain_text(text: str, *, names: Mapping[str, str] | None = None, bot_user_id: str = "") -> str:
    """Slack's markup as a person reads it; mentions of the bot are removed."""
    known = names or {}

    def readable(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            user = target[1:]
            return _DROPPED if user == bot_user_id else "@" + (label or known.get(user) or user)
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!subteam^"):
            return label or "@" + target.removeprefix("!subteam^")
        if target.startswith("!"):
            special = target[1:].split("^", 1)[0]
            return label or (f"@{special}" if special in ("here", "channel", "everyone") else "")
        if label and _bare(label) != _bare(target):
            return f"{label} ({target})"
        return target.removeprefix("mailto:")

    cleaned = html.unescape(_CONTROL.sub(readable, text)) if "<" in text or "&" in text else text
    # Only the space the bot's mention leaves goes; indentation (pasted code) stays.
    return _AROUND_DROPPED.sub(" ", cleaned).strip()


def _bare(url: str) -> str:
    """A link target as people write it: no scheme, no trailing slash."""
    for prefix in ("mailto:", "https://", "http://"):
        url = url.removeprefix(prefix)
    return url.rstrip("/")


def anchor_text(request: SlackRequest) -> str:
    """mrkdwn of the message a slash command's reply is threaded under."""
    asked = escape(request.typed or request.message.text)
    return f"<@{request.message.user.platform_user_id}> asked: {asked}"


def _files(event: Mapping[str, Any]) -> tuple[SlackFile, ...]:
    found = []
    for item in event.get("files") or []:
        if not isinstance(item, Mapping) or item.get("mode") in ("tombstone", "hidden_by_limit"):
            continue
        url = item.get("url_private_download") or item.get("url_private") or ""
        if item.get("file_access") == "check_file_info":
            url = ""
        found.append(
            SlackFile(
                id=str(item.get("id", "")),
                name=str(item.get("name") or item.get("title") or ""),
                mimetype=str(item.get("mimetype", "")),
                size=int(item.get("size") or 0),
                url=str(url),
            )
        )
    return tuple(found)


# --- events -------------------------------------------------------------------------------------


def message_key(event: Mapping[str, Any]) -> str:
    """The same for every delivery of one Slack message (retries; a mention's two events)."""
    return f"{event.get('channel', '')}:{event.get('ts', '')}"


def _from_a_bot(event: Mapping[str, Any], bot: BotIdentity) -> bool:
    user = event.get("user")
    return (
        not user
        or user == bot.user_id
        or bool(event.get("bot_id"))
        or event.get("subtype") == "bot_message"
        or "bot_profile" in event
    )


def thread_to_check(event: Mapping[str, Any], bot: BotIdentity) -> tuple[str, str] | None:
    """(channel, thread_ts) when answering `event` depends on whether the bot already answers
    in that thread (a person's message in a channel thread, not mentioning the bot)."""
    if event.get("type") != "message" or event.get("hidden") or _from_a_bot(event, bot):
        return None
    channel, thread_ts = str(event.get("channel", "")), event.get("thread_ts")
    if event.get("subtype") not in _ANSWERED_SUBTYPES or not thread_ts:
        return None
    if event.get("channel_type") == "im" or channel.startswith("D"):
        return None
    if (
        f"<@{bot.user_id}" in str(event.get("text", ""))
        or event.get("parent_user_id") == bot.user_id
    ):
        return None
    return channel, str(thread_ts)


def _reply_thread(event: Mapping[str, Any], bot: BotIdentity, answering: ThreadCheck) -> str | None:
    """The root ts of the thread to answer in, or None when the bot stays silent."""
    channel, ts = str(event.get("channel", "")), str(event.get("ts", ""))
    thread_ts = event.get("thread_ts")
    is_dm = event.get("channel_type") == "im" or channel.startswith("D")
    if event.get("type") == "app_mention":
        return None if is_dm else str(thread_ts or ts)  # in DMs the message event answers
    if is_dm:
        return str(thread_ts or ts)
    if not thread_ts or f"<@{bot.user_id}" in str(event.get("text", "")):
        return None  # channel chatter, or a mention (its app_mention event answers it)
    ours = event.get("parent_user_id") == bot.user_id or answering(channel, str(thread_ts))
    return str(thread_ts) if ours else None


def from_event(
    event: Mapping[str, Any],
    bot: BotIdentity,
    *,
    answering: ThreadCheck = lambda channel, thread_ts: False,
    names: Mapping[str, str] | None = None,
    team_id: str = "",
) -> SlackRequest | None:
    """The request in an `app_mention` or `message` event, or None when the bot stays silent.

    `answering(channel, thread_ts)` tells whether the bot already answers in that thread;
    `names` maps user ids to display names (for the sender and for `<@U…>` in the text).
    """
    if event.get("type") not in ("app_mention", "message") or event.get("hidden"):
        return None
    if event.get("subtype") not in _ANSWERED_SUBTYPES or _from_a_bot(event, bot):
        return None
    thread = _reply_thread(event, bot, answering)
    if thread is None:
        return None
    known = names or {}
    text = plain_text(str(event.get("text") or ""), names=known, bot_user_id=bot.user_id)
    files = _files(event)
    if not text and not files:
        return None
    channel, user, ts = str(event["channel"]), str(event["user"]), str(event["ts"])
    is_dm = event.get("channel_type") == "im" or channel.startswith("D")
    team = team_id or str(event.get("team") or "") or bot.team_id
    message = IncomingMessage(
        platform=PLATFORM,
        chat_id=channel,
        user=PlatformUser(PLATFORM, user, display_name=known.get(user, "")),
        text=text,
        thread_id=thread,
        message_id=ts,
        is_group=not is_dm,
        workspace_id=team,
    )
    return SlackRequest(message, channel, thread, team, files, key=message_key(event))


# --- slash commands and buttons -----------------------------------------------------------------


def command_text(text: str, commands: SlashCommands) -> str:
    """What `/ask text` means for the hub: plain text, or a `/command …` line."""
    text = text.strip()
    first, _, rest = text.partition(" ")
    name, rest = first.lower(), rest.strip()
    if not text:
        return "/help"
    if name.startswith("/"):
        return text  # "/ask /model llama3": the user typed the command
    if name in commands.with_text or (name in commands.alone and not rest):
        return f"/{name} {rest}".strip()
    return text


def from_command(
    command: Mapping[str, Any],
    bot: BotIdentity,
    *,
    commands: SlashCommands | None = None,
    names: Mapping[str, str] | None = None,
) -> SlackRequest:
    """The request in a slash command's payload (its reply needs an anchor message first)."""
    channel, user = str(command.get("channel_id", "")), str(command.get("user_id", ""))
    known = {**(names or {}), user: str(command.get("user_name") or "")}
    typed = plain_text(str(command.get("text") or ""), names=known, bot_user_id=bot.user_id)
    team = str(command.get("team_id") or "") or bot.team_id
    message = IncomingMessage(
        platform=PLATFORM,
        chat_id=channel,
        user=PlatformUser(PLATFORM, user, display_name=known[user]),
        text=command_text(typed, commands or SlashCommands()),
        chat_name=str(command.get("channel_name") or ""),
        is_group=not channel.startswith("D"),
        workspace_id=team,
    )
    key = f"command:{command.get('trigger_id', '')}"
    return SlackRequest(message, channel, None, team, key=key, typed=typed)


def stop_click(body: Mapping[str, Any]) -> StopClick | None:
    """The Stop button click in a `block_actions` payload, if that is what it is."""
    if body.get("type") != "block_actions":
        return None
    action = next((a for a in body.get("actions") or [] if a.get("action_id") == STOP_ACTION), None)
    if action is None:
        return None
    container: Mapping[str, Any] = body.get("container") or {}
    channel: Mapping[str, Any] = body.get("channel") or {}
    team: Mapping[str, Any] = body.get("team") or {}
    user: Mapping[str, Any] = body.get("user") or {}
    return StopClick(
        value=str(action.get("value", "")),
        user_id=str(user.get("id", "")),
        channel=str(container.get("channel_id") or channel.get("id") or ""),
        message_ts=str(container.get("message_ts", "")),
        team_id=str(team.get("id") or user.get("team_id") or ""),
    )
