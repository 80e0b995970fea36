"""A fake Telegram Bot API server (aiohttp, port 0) for python-telegram-bot.

Implements the envelope (`/bot<TOKEN>/<method>`, form or JSON bodies, `{"ok":…}` answers) and
what chathub uses: getMe, deleteWebhook, setWebhook, long-polling getUpdates, sendMessage,
editMessageText, editMessageReplyMarkup, deleteMessage, sendMessageDraft, sendChatAction,
setMyCommands, answerCallbackQuery, getFile and file downloads (`/file/bot<TOKEN>/<path>`).
It parses HTML like Telegram (`telegram_html.py`) and
ENFORCES the flood limits itself: about one write per second per chat (a burst of 2 tolerated)
and 20 writes per minute per group, answering 429 with `parameters.retry_after` when exceeded.
Any method can be scripted to fail next (`fail_next`). Every call is recorded, with the time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.telegram_html import ParseError, len16, visible

WRITE_METHODS = {"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendMessageDraft"}
_JSON_FIELDS = {
    "reply_markup", "reply_parameters", "entities", "allowed_updates", "commands",
    "link_preview_options", "scope",
}  # fmt: skip


@dataclass
class Call:
    t: float
    method: str
    params: dict[str, Any]
    status: int = 200


@dataclass
class Sent:
    """A message the bot sent, as the user sees it now."""

    message_id: int
    chat_id: int
    text: str  # visible text
    raw: str
    parse_mode: str | None
    reply_to: int | None
    thread_id: int | None
    reply_markup: dict[str, Any] | None
    edits: int = 0


@dataclass
class _Flood:
    """Telegram's flood limits per chat (GCRA, 1/s, burst 2) and per group (20 per 60 s)."""

    chat_tat: dict[int, float] = field(default_factory=dict)
    group_log: dict[int, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def check(self, chat_id: int, now: float) -> float:
        """0 if the write may go, else the seconds to wait."""
        tat = max(self.chat_tat.get(chat_id, now), now)
        if tat - now > 1.0:  # interval 1 s, tolerance 1 s: a burst of two, then 1/s
            return tat - now - 1.0
        if chat_id < 0:
            log = self.group_log[chat_id]
            while log and log[0] <= now - 60.0:
                log.popleft()
            if len(log) >= 20:
                return log[0] + 60.0 - now
            log.append(now)
        self.chat_tat[chat_id] = tat + 1.0
        return 0.0


class FakeTelegram:
    """Start with `await fake.start()`; `fake.base_url` goes to PTB's `base_url`."""

    def __init__(self, token: str = "123456:TEST", username: str = "hub_test_bot") -> None:
        self.token = token
        self.bot = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Hub",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[Call] = []
        self.messages: dict[int, Sent] = {}
        self.drafts: dict[tuple[int, int], str] = {}
        self.commands: list[dict[str, str]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.files: dict[str, bytes] = {}  # file_id -> content, for getFile and downloads
        self.downloads: list[str] = []  # file paths downloaded
        self.drafts_supported = True
        self.enforced_429 = 0  # flood-limit 429s answered (not scripted ones)
        # Long polls cut short by another getUpdates (two bot instances polling), as
        # Telegram answers them: 409 "Conflict: terminated by other getUpdates request".
        self.conflicts = 0
        self._poll_evicted: asyncio.Event | None = None
        self._scripted: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._updates: list[dict[str, Any]] = []
        self._update_id = 0
        self._message_id = 0
        self._new_update = asyncio.Event()
        self._flood = _Flood()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.start_on(0)

    async def start_on(self, port: int) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_post("/_fake/message", self._control_message)
        app.router.add_get("/_fake/state", self._control_state)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._new_update.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # --- scripting ------------------------------------------------------------------------------

    def fail_next(
        self, method: str, *, status: int = 400, description: str = "", retry_after: float = 0
    ) -> None:
        """The next call of `method` fails like Telegram would (429 when `retry_after`)."""
        if retry_after:
            status = 429
            description = description or f"Too Many Requests: retry after {retry_after:g}"
        self._scripted[method].append(
            {"status": status, "description": description, "retry_after": retry_after}
        )

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        self._update_id += 1
        update = {"update_id": self._update_id, **update}
        self._updates.append(update)
        self._new_update.set()
        return update

    def user(self, user_id: int = 1001, name: str = "Ada") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "en"}

    def chat(self, chat_id: int, kind: str = "private", **extra: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            base["first_name"] = "Ada"
        else:
            base["title"] = "Test group"
        return {**base, **extra}

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        kind: str = "private",
        user_id: int = 1001,
        entities: list[dict[str, Any]] | None = None,
        reply_to: dict[str, Any] | None = None,
        thread_id: int | None = None,
        photo: list[dict[str, Any]] | None = None,
        document: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Queue a user's message; returns the message object (with a photo or a document,
        `text` is its caption)."""
        self._message_id += 1
        chat_extra = {"is_forum": True} if thread_id is not None else {}
        message: dict[str, Any] = {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": self.chat(chat_id, kind, **chat_extra),
            "from": self.user(user_id),
        }
        media = {"photo": photo} if photo else {"document": document} if document else {}
        if media:
            message |= media
            if text:
                message["caption"] = text
            if entities:
                message["caption_entities"] = entities
        else:
            message["text"] = text
            if entities:
                message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        self.push_update({"message": message})
        return message

    def add_file(self, data: bytes) -> dict[str, Any]:
        """Store a file the way Telegram keeps uploads; its file_id, unique id and size."""
        file_id = f"file{len(self.files) + 1}"
        self.files[file_id] = data
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data)}

    def push_photo(
        self, chat_id: int, data: bytes, caption: str = "", **kwargs: Any
    ) -> dict[str, Any]:
        """A user's photo: a thumbnail and the full size (the one a bot should take)."""
        small, full = self.add_file(data[: max(1, len(data) // 8)]), self.add_file(data)
        sizes = [small | {"width": 90, "height": 60}, full | {"width": 1280, "height": 853}]
        return self.push_message(chat_id, caption, photo=sizes, **kwargs)

    def push_document(
        self, chat_id: int, data: bytes, mime: str, caption: str = "", **kwargs: Any
    ) -> dict[str, Any]:
        document = self.add_file(data) | {"mime_type": mime, "file_name": "picture"}
        return self.push_message(chat_id, caption, document=document, **kwargs)

    def push_callback(self, message_id: int, data: str, *, user_id: int = 1001) -> None:
        sent = self.messages[message_id]
        self.push_update(
            {
                "callback_query": {
                    "id": f"cq{self._update_id + 1}",
                    "from": self.user(user_id),
                    "chat_instance": "ci",
                    "data": data,
                    "message": self._message_json(sent),
                }
            }
        )

    def take_updates(self) -> list[dict[str, Any]]:
        """Remove and return the queued updates, to deliver them to a webhook by hand (a
        test choosing which replica behind the load balancer gets each)."""
        taken, self._updates = self._updates, []
        return taken

    # --- queries for tests ----------------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def chat_messages(self, chat_id: int) -> list[Sent]:
        return [m for m in self.messages.values() if m.chat_id == chat_id]

    # --- control routes (when the fake runs as its own process) --------------------------------

    async def _control_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        message = self.push_message(
            int(body["chat_id"]),
            str(body["text"]),
            kind=body.get("kind", "private"),
            user_id=int(body.get("user_id", 1001)),
        )
        return web.json_response(message)

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "enforced_429": self.enforced_429,
                "calls": [
                    {"t": c.t, "method": c.method, "status": c.status, "params": c.params}
                    for c in self.calls
                    if c.method != "getUpdates"
                ],
                "messages": [vars(m) for m in self.messages.values()],
            }
        )

    # --- HTTP -----------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return dict(body) if isinstance(body, dict) else {}
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else str(value)
            params[key] = json.loads(text) if key in _JSON_FIELDS else text
        params.update(request.query)
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(asyncio.get_running_loop().time(), method, params)
        self.calls.append(call)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            call.status = 404
            return _error(404, "Not Found: method not found")
        scripted = self._scripted.get(method)
        if scripted:
            fail = scripted.popleft()
            call.status = fail["status"]
            return _error(fail["status"], fail["description"], fail["retry_after"])
        if method in WRITE_METHODS and "chat_id" in params:
            wait = self._flood.check(int(params["chat_id"]), call.t)
            if wait > 0:
                self.enforced_429 += 1
                call.status = 429
                retry = max(1, math.ceil(wait))
                return _error(429, f"Too Many Requests: retry after {retry}", retry)
        try:
            result = await handler(params)
        except _ApiError as exc:
            call.status = exc.status
            return _error(exc.status, exc.description)
        return web.json_response({"ok": True, "result": result})

    # --- methods --------------------------------------------------------------------------------

    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset", 0) or 0)
        timeout = float(params.get("timeout", 0) or 0)
        if self._poll_evicted is not None:  # another poller is waiting: Telegram ends its poll
            self._poll_evicted.set()
        evicted = self._poll_evicted = asyncio.Event()
        try:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not self._updates and timeout > 0:
                self._new_update.clear()
                waits = [
                    asyncio.ensure_future(self._new_update.wait()),
                    asyncio.ensure_future(evicted.wait()),
                ]
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for waiting in waits:
                    waiting.cancel()
            if evicted.is_set():
                self.conflicts += 1
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
        finally:
            if self._poll_evicted is evicted:
                self._poll_evicted = None
        limit = int(params.get("limit", 100) or 100)
        return self._updates[:limit]

    async def _m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        size = len(self.files[file_id])
        if size > 20 * 1024 * 1024:
            raise _ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": size,
            "file_path": f"photos/{file_id}.jpg",
        }

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        file_id = path.rsplit("/", 1)[-1].removesuffix(".jpg")
        if file_id not in self.files:
            return web.Response(status=404)
        self.downloads.append(path)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    async def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        self.callback_answers.append(params)
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands") or []
        if len(commands) > 100:
            raise _ApiError(400, "Bad Request: too many commands")
        for c in commands:
            name, desc = c.get("command", ""), c.get("description", "")
            if not (1 <= len(name) <= 32) or any(ch not in _COMMAND_CHARS for ch in name):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(desc) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = list(commands)
        return True

    async def _m_sendMessageDraft(self, params: dict[str, Any]) -> Any:
        if not self.drafts_supported:
            raise _ApiError(400, "Bad Request: method sendMessageDraft is unavailable")
        chat_id, draft_id = int(params["chat_id"]), int(params.get("draft_id", 0))
        if chat_id < 0:
            raise _ApiError(400, "Bad Request: drafts can be sent only to private chats")
        if draft_id == 0:
            raise _ApiError(400, "Bad Request: draft_id must be non-zero")
        shown = _visible(params.get("text", "") or "", params.get("parse_mode"), allow_empty=True)
        self.drafts[(chat_id, draft_id)] = shown
        return True

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        raw = str(params.get("text", ""))
        shown = _visible(raw, params.get("parse_mode"))
        reply = params.get("reply_parameters") or {}
        reply_to = reply.get("message_id") or params.get("reply_to_message_id")
        self._message_id += 1
        thread = params.get("message_thread_id")
        sent = Sent(
            message_id=self._message_id,
            chat_id=chat_id,
            text=shown,
            raw=raw,
            parse_mode=params.get("parse_mode"),
            reply_to=int(reply_to) if reply_to else None,
            thread_id=int(thread) if thread else None,
            reply_markup=params.get("reply_markup"),
        )
        self.messages[sent.message_id] = sent
        for key in [k for k in self.drafts if k[0] == chat_id]:
            del self.drafts[key]  # the real message replaces the draft preview
        return self._message_json(sent)

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        sent = self._target(params)
        shown = _visible(str(params.get("text", "")), params.get("parse_mode"))
        markup = params.get("reply_markup")
        if shown == sent.text and markup == sent.reply_markup:
            raise _ApiError(400, NOT_MODIFIED)
        sent.text, sent.raw, sent.parse_mode = (
            shown,
            str(params.get("text")),
            params.get("parse_mode"),
        )
        sent.reply_markup = markup
        sent.edits += 1
        return self._message_json(sent)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        sent = self._target(params)
        markup = params.get("reply_markup")
        if markup == sent.reply_markup:
            raise _ApiError(400, NOT_MODIFIED)
        sent.reply_markup = markup
        return self._message_json(sent)

    async def _m_deleteMessage(self, params: dict[str, Any]) -> Any:
        sent = self._target(params)
        del self.messages[sent.message_id]
        return True

    def _target(self, params: dict[str, Any]) -> Sent:
        sent = self.messages.get(int(params.get("message_id", 0)))
        if sent is None or sent.chat_id != int(params.get("chat_id", 0)):
            raise _ApiError(400, "Bad Request: message to edit not found")
        return sent

    def _message_json(self, sent: Sent) -> dict[str, Any]:
        kind = "private" if sent.chat_id > 0 else "supergroup"
        out: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": self.chat(sent.chat_id, kind),
            "from": self.bot,
            "text": sent.text,
        }
        if sent.reply_markup:
            out["reply_markup"] = sent.reply_markup
        if sent.thread_id:
            out["message_thread_id"] = sent.thread_id
        return out


_COMMAND_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _visible(raw: str, parse_mode: str | None, *, allow_empty: bool = False) -> str:
    try:
        shown = visible(raw, parse_mode)
    except ParseError as exc:
        raise _ApiError(400, f"Bad Request: {exc}") from None
    if not shown and not allow_empty:
        raise _ApiError(400, "Bad Request: message text is empty")
    if len16(shown) > 4096:
        raise _ApiError(400, "Bad Request: message is too long")
    return shown


def _error(status: int, description: str, retry_after: float = 0) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _serve(port: int) -> None:
    fake = FakeTelegram()
    fake_port = port
    await fake.start_on(fake_port)
    print(f"http://127.0.0.1:{fake.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main() -> None:
    """`python -m tests.fakes.telegram [--port N]`: serve until SIGTERM; prints the root URL.

    Its token is FakeTelegram's default; `POST /_fake/message` queues a user's message and
    `GET /_fake/state` returns the recorded calls and messages (times on the monotonic clock).
    """
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.telegram")
    parser.add_argument("--port", type=int, default=0)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
