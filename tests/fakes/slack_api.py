"""The fake Slack's Web API methods (a mixin of `FakeSlack`, which holds the state).

Answers like Slack: HTTP 200 with `{"ok": false, "error": …}` for errors, HTTP 429 with an
integer `Retry-After` and `{"ok": false, "error": "ratelimited"}` when a limit is hit. Bodies may
be JSON or form-encoded (JSON-valued fields such as `blocks` and `chunks` then arrive as strings);
parameters may also be in the query string, where slack_sdk puts them for some methods. The
token is the `Authorization: Bearer` header or a `token` parameter: app-level (`xapp-`) for
`apps.connections.open`, the bot's (`xoxb-`) for everything else.
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
from typing import Any

from aiohttp import web

from tests.fakes.slack_blocks import check_blocks, stream_text
from tests.fakes.slack_state import TEAM_SCOPES, Call, Channel, Message, len16

_JSON_FIELDS = ("blocks", "chunks", "attachments", "metadata", "loading_messages")
APP_TOKEN_METHODS = {"apps.connections.open"}
POST_TEXT_LIMIT = 40_000  # chat.postMessage truncates past this
UPDATE_TEXT_LIMIT = 4_000  # chat.update answers msg_too_long past this


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class WebApi:
    """Request handling and the methods; state lives on the `FakeSlack` that mixes this in."""

    # --- envelope -------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    raise SlackError("invalid_json")
                params.update(body)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in _JSON_FIELDS:
            if isinstance(params.get(key), str):
                # Unparseable: left as a string, and the method answers invalid_*_format.
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    def _token(self, request: web.Request, params: dict[str, Any]) -> str:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        return token or str(params.pop("token", "") or "")

    def _check_token(self, method: str, token: str) -> None:
        if not token:
            raise SlackError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise SlackError("invalid_auth")
        wanted = self.app_token if method in APP_TOKEN_METHODS else self.bot_token
        if token != wanted:
            raise SlackError("not_allowed_token_type")

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        loop_time = self._now()
        call = Call(loop_time, method, {})
        self.calls.append(call)
        headers = {"X-Slack-Req-Id": secrets.token_hex(8)}
        try:
            params = await self._params(request)
            token = self._token(request, params)
            call.params = params
            self._check_token(method, token)
            if token == self.bot_token:
                headers["X-OAuth-Scopes"] = TEAM_SCOPES
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is None:
                raise SlackError("unknown_method")
            self._scripted_failure(method)
            wait = self._rate_wait(method, params, loop_time)
            if wait > 0:
                self.enforced_429 += 1
                return self._ratelimited(call, wait, headers)
            result = await handler(params)
        except _RateLimitedScript as scripted:
            return self._ratelimited(call, scripted.retry_after, headers)
        except SlackError as exc:
            call.error = exc.error
            return web.json_response(
                {"ok": False, "error": exc.error, **exc.extra}, headers=headers
            )
        return web.json_response({"ok": True, **result}, headers=headers)

    def _ratelimited(self, call: Call, wait: float, headers: dict[str, str]) -> web.Response:
        call.status, call.error = 429, "ratelimited"
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
        body = {"ok": False, "error": "ratelimited"}
        return web.json_response(body, status=429, headers=headers)

    def _scripted_failure(self, method: str) -> None:
        queue = self._scripted.get(method)
        if not queue:
            return
        error, retry_after = queue.popleft()
        if retry_after:
            self.scripted_429 += 1
            raise _RateLimitedScript(retry_after)
        raise SlackError(error)

    def _rate_wait(self, method: str, params: dict[str, Any], now: float) -> float:
        if not self.limits.enabled:
            return 0.0
        buckets = []
        if method in self.limits.workspace:
            buckets.append(((method, self.team_id), self.limits.workspace[method]))
        channel = params.get("channel") or params.get("channel_id")
        if method in self.limits.channel and channel:
            buckets.append(((method, self.team_id, str(channel)), self.limits.channel[method]))
        return self._limiter.check(buckets, now)

    # --- lookups --------------------------------------------------------------------------------

    def _channel(self, params: dict[str, Any], key: str = "channel") -> Channel:
        channel = self.channels.get(str(params.get(key) or ""))
        if channel is None:
            raise SlackError("channel_not_found")
        if not channel.member:
            raise SlackError("not_in_channel")
        return channel

    def _target(self, params: dict[str, Any]) -> Message:
        channel = self._channel(params)
        message = self.messages.get((channel.id, str(params.get("ts") or "")))
        if message is None:
            raise SlackError("message_not_found")
        return message

    def _thread_root(self, channel: str, thread_ts: Any) -> str | None:
        if not thread_ts:
            return None
        parent = self.messages.get((channel, str(thread_ts)))
        return parent.thread_ts or parent.ts if parent is not None else str(thread_ts)

    def _content(self, params: dict[str, Any]) -> tuple[str | None, Any, str | None]:
        text, blocks, markdown = (
            params.get("text"),
            params.get("blocks"),
            params.get("markdown_text"),
        )
        if markdown and (text or blocks):
            raise SlackError("markdown_text_conflict")
        if blocks is not None:
            problem = check_blocks(blocks)
            if problem is not None:
                error, detail = problem
                raise SlackError(error, response_metadata={"messages": [f"[ERROR] {detail}"]})
        if not text and not blocks and not markdown and not params.get("attachments"):
            raise SlackError("no_text")
        return (None if text is None else str(text)), blocks, markdown

    # --- methods --------------------------------------------------------------------------------

    async def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    async def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.socket.new_url()}

    async def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        text, blocks, markdown = self._content(params)
        message = Message(
            channel=channel.id,
            ts=self._new_ts(),
            user=self.bot_user_id,
            text=(text or "")[:POST_TEXT_LIMIT],
            blocks=blocks or None,
            markdown=markdown or "",
            thread_ts=self._thread_root(channel.id, params.get("thread_ts")),
            bot_id=self.bot_id,
        )
        self._store(message, params)
        return {"channel": channel.id, "ts": message.ts, "message": self._message_json(message)}

    async def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if str(params.get("user") or "") not in self.users:
            raise SlackError("user_not_found")
        self._content(params)
        self.ephemeral.append(dict(params))
        return {"message_ts": self._new_ts(), "channel": channel.id}

    async def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._target(params)
        if message.bot_id != self.bot_id:
            raise SlackError("cant_update_message")
        self._expire_if_due(message)
        if message.stream == "streaming":
            raise SlackError("streaming_state_conflict")
        if message.edit_window_closed:
            raise SlackError("edit_window_closed")
        text, blocks, markdown = self._content(params)
        if text is not None and len16(text) > UPDATE_TEXT_LIMIT:
            raise SlackError("msg_too_long")
        if markdown:
            message.markdown, message.text, message.blocks = markdown, "", None
        else:
            message.markdown = ""  # the stream's or markdown_text content is replaced
            if text is not None:
                message.text = text
            if blocks is not None:
                message.blocks = blocks or None  # an empty list removes the blocks
        message.edits += 1
        self._scan_pings(message, params)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    async def _m_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._target(params)
        if message.bot_id != self.bot_id:
            raise SlackError("cant_delete_message")
        del self.messages[(message.channel, message.ts)]
        return {"channel": message.channel, "ts": message.ts}

    async def _m_chat_startStream(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.stream_refusal:
            raise SlackError(self.stream_refusal)
        channel = self._channel(params)
        if not params.get("thread_ts"):
            raise SlackError("invalid_arguments")
        if not channel.is_im:
            if not params.get("recipient_team_id"):
                raise SlackError("missing_recipient_team_id")
            if not params.get("recipient_user_id"):
                raise SlackError("missing_recipient_user_id")
        message = Message(
            channel=channel.id,
            ts=self._new_ts(),
            user=self.bot_user_id,
            markdown=self._stream_text(params, required=False),
            thread_ts=self._thread_root(channel.id, params.get("thread_ts")),
            bot_id=self.bot_id,
            stream="streaming",
            stream_started=self._now(),
        )
        self._store(message, params)
        return {"channel": channel.id, "ts": message.ts}

    def _stream_target(self, params: dict[str, Any]) -> Message:
        message = self._target(params)
        if message.bot_id != self.bot_id:
            raise SlackError("message_not_owned_by_app")
        self._expire_if_due(message)
        if message.stream == "stopped_by_user":
            raise SlackError("stopped_by_user")
        if message.stream != "streaming":
            raise SlackError("message_not_in_streaming_state")
        return message

    def _stream_text(self, params: dict[str, Any], *, required: bool) -> str:
        text, error = stream_text(params.get("markdown_text"), params.get("chunks"))
        if error is not None:
            raise SlackError(error)
        if required and not text:
            raise SlackError("no_text")
        return text

    async def _m_chat_appendStream(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._stream_target(params)
        message.markdown += self._stream_text(params, required=True)
        message.appends += 1
        self._scan_pings(message, params)
        if self.stream_append_limit is not None and message.appends >= self.stream_append_limit:
            message.stream = "expired"  # this append landed; the next one will not
        return {"channel": message.channel, "ts": message.ts}

    async def _m_chat_stopStream(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._stream_target(params)
        blocks = params.get("blocks")
        if blocks is not None:
            problem = check_blocks(blocks)
            if problem is not None:
                raise SlackError(problem[0])
            message.blocks = blocks or None
        message.markdown += self._stream_text(params, required=False)
        message.stream = "stopped"
        self._scan_pings(message, params)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "message": self._message_json(message),
        }

    async def _m_assistant_threads_setStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.status_refusal:
            raise SlackError(self.status_refusal)
        channel = self._channel(params, "channel_id")
        thread_ts = str(params.get("thread_ts") or "")
        if (channel.id, thread_ts) not in self.messages:
            raise SlackError("invalid_thread_ts")
        status = str(params.get("status") or "")
        if status:
            self.statuses[(channel.id, thread_ts)] = status
        else:
            self.statuses.pop((channel.id, thread_ts), None)
        return {}

    async def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        root = self.messages.get((channel.id, str(params.get("ts") or "")))
        if root is None:
            raise SlackError("thread_not_found")
        thread = self.thread(channel.id, root.thread_ts or root.ts)
        start = int(str(params.get("cursor") or "0").removeprefix("ix_") or 0)
        limit = max(1, min(int(params.get("limit") or 1000), 1000))
        page = thread[start : start + limit]
        more = start + limit < len(thread)
        return {
            "messages": [self._message_json(m) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": f"ix_{start + limit}" if more else ""},
        }

    async def _m_files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self.files.get(str(params.get("file") or ""))
        if found is None:
            raise SlackError("file_not_found")
        return {
            "file": found.json(self.root_url, self.team_id),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    async def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.json(self.team_id)}


class _RateLimitedScript(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__("scripted 429")
        self.retry_after = retry_after
