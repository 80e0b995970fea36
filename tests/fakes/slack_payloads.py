"""What users do in the fake Slack, as the payloads Slack would send (a mixin of `FakeSlack`).

Each user action is first recorded as a message (so `conversations.replies` sees it), then
returned as the payload to deliver: an `event_callback` body for events, the form fields of a
slash command, a `block_actions` body for a button click. Shapes follow the Events API
(docs.slack.dev/reference/events/app_mention, …/message.im), slash commands
(docs.slack.dev/interactivity/implementing-slash-commands) and block actions
(docs.slack.dev/reference/interaction-payloads/block_actions-payload).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from tests.fakes.slack_state import Channel, File, Message


class Payloads:
    """Builders of user actions; state lives on the `FakeSlack` that mixes this in."""

    def event_body(self, event: dict[str, Any]) -> dict[str, Any]:
        """An Events API `event_callback` envelope around `event`."""
        self._event_seq += 1
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{self._event_seq:08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }

    def says(
        self,
        channel: str,
        text: str,
        *,
        user: str | None = None,
        thread_ts: str | None = None,
        files: Sequence[File] = (),
    ) -> Message:
        """Record that a person (or another bot, by its user id) posted `text`.

        `text` is as Slack stores it: `&lt;` `&gt;` `&amp;` for what people typed, `<@U…>` for
        mentions, `<url|label>` for links.
        """
        sender = self.users[user or self.default_user]
        where = self.channel(channel)
        message = Message(
            channel=where.id,
            ts=self._new_ts(),
            user=sender.id,
            text=text,
            thread_ts=self._thread_root(where.id, thread_ts),
            files=[f.id for f in files],
            bot_id=f"B{sender.id[1:]}" if sender.is_bot else None,
            subtype="bot_message" if sender.is_bot else ("file_share" if files else None),
        )
        self.messages[(message.channel, message.ts)] = message
        return message

    def _event_of(self, message: Message, kind: str) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": kind,
            "user": message.user,
            "text": message.text,
            "ts": message.ts,
            "channel": message.channel,
            "event_ts": message.ts,
            "team": self.team_id,
        }
        if message.bot_id is None:
            event["client_msg_id"] = str(uuid.uuid4())
        else:
            event["bot_id"] = message.bot_id
        if message.subtype:
            event["subtype"] = message.subtype
        if message.thread_ts:
            event["thread_ts"] = message.thread_ts
            root = self.messages.get((message.channel, message.thread_ts))
            if root is not None:
                event["parent_user_id"] = root.user
        if message.files:
            event["files"] = [
                self.files[f].json(self.root_url, self.team_id) for f in message.files
            ]
            event["upload"] = False
        if kind == "message":
            event["channel_type"] = self.channel(message.channel).channel_type
        return event

    def app_mention(self, channel: str, text: str, **kwargs: Any) -> dict[str, Any]:
        """A person mentions the bot: `<@BOT>` is put in front of `text` unless it is there."""
        if f"<@{self.bot_user_id}" not in text:
            text = f"<@{self.bot_user_id}> {text}"
        return self.event_body(self._event_of(self.says(channel, text, **kwargs), "app_mention"))

    def user_message(self, channel: str, text: str, **kwargs: Any) -> dict[str, Any]:
        """A `message` event (message.im, message.channels…) for a new post."""
        return self.message_event(self.says(channel, text, **kwargs))

    def message_event(self, message: Message) -> dict[str, Any]:
        """The `message` event of an existing message (the bot's own ones included)."""
        return self.event_body(self._event_of(message, "message"))

    def slash_command(
        self, text: str, *, channel: str, user: str | None = None, command: str = "/ask"
    ) -> dict[str, Any]:
        """The form fields Slack posts for `/command text`."""
        sender = self.users[user or self.default_user]
        where: Channel = self.channel(channel)
        token = uuid.uuid4().hex
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": where.id,
            "channel_name": "directmessage" if where.is_im else where.name,
            "user_id": sender.id,
            "user_name": sender.name,
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": f"{self.root_url}/response/{token}",
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}",
        }

    def button_click(
        self, channel: str, ts: str, *, user: str | None = None, action_id: str | None = None
    ) -> dict[str, Any]:
        """A person clicks a button the bot posted (the first, or the one with `action_id`)."""
        message = self.messages[(self.channel(channel).id, ts)]
        buttons = [b for b in message.buttons if action_id in (None, b.get("action_id"))]
        if not buttons:
            raise LookupError(f"message {ts} has no button {action_id or ''}".strip())
        button = buttons[0]
        sender = self.users[user or self.default_user]
        where = self.channel(channel)
        return {
            "type": "block_actions",
            "user": {
                "id": sender.id,
                "username": sender.name,
                "name": sender.name,
                "team_id": self.team_id,
            },
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": where.id,
                "is_ephemeral": False,
                **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
            },
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": where.id, "name": where.name},
            "message": self._message_json(message),
            "state": {"values": {}},
            "response_url": f"{self.root_url}/response/{uuid.uuid4().hex}",
            "actions": [
                {
                    "type": "button",
                    "action_id": button.get("action_id", ""),
                    "block_id": _block_id_of(message, button),
                    "text": button.get("text"),
                    "value": button.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }


def _block_id_of(message: Message, button: dict[str, Any]) -> str:
    for block in message.blocks or []:
        if block.get("type") == "actions" and button in block.get("elements", []):
            return str(block.get("block_id", ""))
    return ""
