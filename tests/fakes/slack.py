"""A fake Slack (aiohttp, port 0) that real slack_sdk and slack_bolt cannot tell from Slack.

Serves the Web API at `api_url` (`AsyncWebClient(base_url=fake.api_url)`): auth.test,
apps.connections.open, chat.postMessage / update / delete / postEphemeral, chat.startStream /
appendStream / stopStream, assistant.threads.setStatus, conversations.replies, files.info (and
an authenticated `url_private` download), users.info (`slack_api.py`). A Socket Mode websocket
and signed HTTP delivery reach the app (`slack_delivery.py`); user actions are built as Slack's
payloads (`slack_payloads.py`).

It ENFORCES Slack's limits itself (`slack_state.py`): `chat.postMessage` and `chat.update` about
once a second per channel, `chat.update` from a Tier 3 pool (50 a minute) shared by the whole
workspace, the stream methods on their own tiers; over a limit it answers HTTP 429 with an
integer `Retry-After`. It keeps what users see: each message's text (mrkdwn), blocks, thread and
stream state, the assistant status of each thread, and every notification (`pings`) a message
would send. Every call is recorded with the time (the event loop's clock).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.slack_api import WebApi
from tests.fakes.slack_control import Control
from tests.fakes.slack_delivery import ACK_TIMEOUT, KINDS, Delivery, SocketServer, post_http
from tests.fakes.slack_payloads import Payloads
from tests.fakes.slack_state import (
    GENERAL,
    Call,
    Channel,
    File,
    Limiter,
    Message,
    SlackLimits,
    User,
    pings_in,
    section_texts,
)

BOT_TOKEN = "xoxb-1-fake-bot-token"
APP_TOKEN = "xapp-1-A0FAKEAPP-1-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"


@dataclass(frozen=True)
class Ping:
    """A notification a message would send (`!channel`, `!here`, `@U…`…)."""

    channel: str
    ts: str
    who: str


class FakeSlack(WebApi, Payloads, Control):
    """Start with `await fake.start()`; point slack_sdk at `fake.api_url`."""

    def __init__(
        self,
        *,
        team_id: str = "T0FAKE",
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        limits: SlackLimits | None = None,
    ) -> None:
        self.team_id, self.team_name, self.team_domain = team_id, "Fake Workspace", "fake-ws"
        self.bot_token, self.app_token, self.signing_secret = bot_token, app_token, signing_secret
        self.verification_token = "fake-verification-token"
        self.app_id, self.bot_id, self.bot_user_id = "A0FAKEAPP", "B0FAKEBOT", "U0FAKEBOT"
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.add_user(self.bot_user_id, "hubbot", "Hub", is_bot=True)
        self.default_user = self.add_user("U0ADA", "ada", "Ada Lovelace").id
        self.add_user("U0BOB", "bob", "Bob Babbage")
        self.add_user("U0OTHERBOT", "otherbot", "Another Bot", is_bot=True)
        self.add_channel(GENERAL, "general")
        self.add_channel("C0OUTSIDE", "outside", member=False)
        self.messages: dict[tuple[str, str], Message] = {}
        self.files: dict[str, File] = {}
        self.calls: list[Call] = []
        self.statuses: dict[tuple[str, str], str] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.responses: list[tuple[str, Any]] = []  # (response_url token, body)
        self.pings: list[Ping] = []
        self.deliveries: list[Delivery] = []
        self.limits = limits or SlackLimits()
        self._limiter = Limiter()
        self.enforced_429 = 0  # limit 429s answered (not scripted ones)
        self.scripted_429 = 0
        self._scripted: dict[str, deque[tuple[str, float]]] = defaultdict(deque)
        self.stream_ttl: float | None = None  # streams expire this long after they start
        self.stream_append_limit: int | None = None  # … or after this many appends
        self.stream_refusal: str | None = None  # chat.startStream answers this error
        self.status_refusal: str | None = None  # assistant.threads.setStatus answers this
        self.events_url: str | None = None  # where HTTP deliveries go
        self.socket = SocketServer(self.app_id)
        self._event_seq = 0
        self._file_seq = 0
        self._last_ts = 0.0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.start_on(0)

    async def start_on(self, port: int) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/link/", self.socket.handle)
        app.router.add_get("/files-pri/{slug}/{name}", self._download)
        app.router.add_get("/files-pri/{slug}/download/{name}", self._download)
        app.router.add_get("/signin", self._signin)
        app.router.add_post("/response/{token}", self._response_url)
        app.router.add_post("/_fake/event", self._control_event)
        app.router.add_post("/_fake/configure", self._control_configure)
        app.router.add_get("/_fake/state", self._control_state)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self.socket.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        await self.socket.close()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """For `AsyncWebClient(base_url=…)` (with the trailing slash slack_sdk expects)."""
        return f"{self.root_url}/api/"

    # --- the world ------------------------------------------------------------------------------

    def add_user(
        self, user_id: str, name: str, real_name: str = "", *, is_bot: bool = False
    ) -> User:
        self.users[user_id] = User(user_id, name, real_name, is_bot)
        return self.users[user_id]

    def add_channel(self, channel_id: str, name: str, *, member: bool = True) -> Channel:
        self.channels[channel_id] = Channel(channel_id, name, member)
        return self.channels[channel_id]

    def dm(self, user: str | None = None) -> str:
        """The id of the bot's direct-message channel with `user` (created on first use)."""
        person = user or self.default_user
        channel_id = "D" + person[1:]
        if channel_id not in self.channels:
            self.channels[channel_id] = Channel(channel_id, person, True, person)
        return channel_id

    def channel(self, channel_id: str) -> Channel:
        return self.channels[channel_id]

    def add_file(
        self, name: str, content: bytes, mimetype: str = "image/png", *, user: str | None = None
    ) -> File:
        self._file_seq += 1
        found = File(f"F{self._file_seq:08d}", name, mimetype, content, user or self.default_user)
        self.files[found.id] = found
        return found

    # --- scripting ------------------------------------------------------------------------------

    def fail_next(self, method: str, error: str = "", *, retry_after: float = 0) -> None:
        """The next call of `method` answers `error` (or a 429 when `retry_after`)."""
        self._scripted[method].append((error or "ratelimited", retry_after))

    def expire_stream(self, ts: str, channel: str | None = None) -> None:
        """Slack's server-side stream timeout: later appends get message_not_in_streaming_state."""
        self._message_by_ts(ts, channel).stream = "expired"

    def stop_stream_by_user(self, ts: str, channel: str | None = None) -> None:
        self._message_by_ts(ts, channel).stream = "stopped_by_user"

    def close_edit_window(self, ts: str, channel: str | None = None) -> None:
        self._message_by_ts(ts, channel).edit_window_closed = True

    # --- queries for tests ----------------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The thread's root, then its replies, oldest first."""
        found = [
            m
            for m in self.messages.values()
            if m.channel == channel and (m.ts == thread_ts or m.thread_ts == thread_ts)
        ]
        return sorted(found, key=lambda m: float(m.ts))

    def bot_messages(
        self, channel: str | None = None, thread_ts: str | None = None
    ) -> list[Message]:
        found = [
            m
            for m in self.messages.values()
            if m.bot_id == self.bot_id
            and channel in (None, m.channel)
            and thread_ts in (None, m.thread_ts)
        ]
        return sorted(found, key=lambda m: float(m.ts))

    def _message_by_ts(self, ts: str, channel: str | None) -> Message:
        for (ch, mts), message in self.messages.items():
            if mts == ts and channel in (None, ch):
                return message
        raise LookupError(f"no message {ts}")

    # --- delivery -------------------------------------------------------------------------------

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        via: str | None = None,
        retry: int = 0,
        retry_reason: str = "",
        timestamp: int | None = None,
        bad_signature: bool = False,
        ack_timeout: float = ACK_TIMEOUT,
        connection: int = -1,
    ) -> Delivery:
        """Deliver once, over an open Socket Mode connection (`connection` indexes
        `socket.live`, the newest by default), else to `events_url` over HTTP.

        HTTP deliveries are awaited (up to Slack's 3 s); socket ones return once sent: use
        `await delivery.wait()` for the ack. `timestamp` forges `X-Slack-Request-Timestamp`.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        via = via or ("socket" if self.socket.connected else "http")
        delivery = Delivery(kind, via, payload, retry=retry)
        self.deliveries.append(delivery)
        if via == "socket":
            await self.socket.send(delivery, retry_reason, connection)
            return delivery
        if self.events_url is None or self._session is None:
            raise RuntimeError("set fake.events_url (and start the fake) to deliver over HTTP")
        await post_http(
            self._session,
            self.events_url,
            delivery,
            self.signing_secret,
            retry_reason=retry_reason,
            timestamp=timestamp,
            bad_signature=bad_signature,
            within=ack_timeout,
        )
        return delivery

    async def send_until_acked(
        self,
        payload: dict[str, Any],
        *,
        via: str | None = None,
        delays: tuple[float, ...] = (0.0, 60.0, 300.0),
        ack_timeout: float = ACK_TIMEOUT,
    ) -> list[Delivery]:
        """An event delivered the way Slack retries it: again after each delay while unacked."""
        attempts = [await self.send("events_api", payload, via=via, ack_timeout=ack_timeout)]
        for n, delay in enumerate(delays, start=1):
            if (await attempts[-1].wait(ack_timeout)).acked:
                break
            reason = "http_timeout" if attempts[-1].status is None else "http_error"
            await asyncio.sleep(delay)
            attempts.append(
                await self.send(
                    "events_api",
                    payload,
                    via=via,
                    retry=n,
                    retry_reason=reason,
                    ack_timeout=ack_timeout,
                )
            )
        return attempts

    # --- internals shared by the API and the payloads ---------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _new_ts(self) -> str:
        self._last_ts = max(self._last_ts + 0.000001, time.time())
        return f"{self._last_ts:.6f}"

    def _store(self, message: Message, params: dict[str, Any]) -> None:
        self.messages[(message.channel, message.ts)] = message
        if message.thread_ts:  # Slack clears a thread's status when the app replies in it
            self.statuses.pop((message.channel, message.thread_ts), None)
        self._scan_pings(message, params)

    def _scan_pings(self, message: Message, params: dict[str, Any]) -> None:
        """Record who a write would notify, as Slack parses it.

        `text` and mrkdwn sections always parse `<!here>`, `<@U…>`…; bare `@here` counts in
        `text` with `link_names`/`parse=full`, and in a mrkdwn section unless it is `verbatim`
        ("certain mentions will be automatically parsed"). Stream markdown is scanned like text.
        """
        link_names = str(params.get("link_names", "")).lower() in ("1", "true") or (
            params.get("parse") == "full"
        )
        texts = [(str(params.get("text") or ""), link_names)]
        texts += [
            (text, link_names or not verbatim)
            for kind, text, verbatim in section_texts(params.get("blocks") or [])
            if kind == "mrkdwn"
        ]
        texts.append((str(params.get("markdown_text") or ""), link_names))
        texts += [
            (str(c.get("text", "")), link_names)
            for c in params.get("chunks") or []
            if isinstance(c, dict)
        ]
        for text, bare in texts:
            for who in pings_in(text, link_names=bare):
                self.pings.append(Ping(message.channel, message.ts, who))

    def _expire_if_due(self, message: Message) -> None:
        if (
            message.stream == "streaming"
            and self.stream_ttl is not None
            and self._now() - message.stream_started > self.stream_ttl
        ):
            message.stream = "expired"

    def _message_json(self, message: Message) -> dict[str, Any]:
        files = [self.files[f].json(self.root_url, self.team_id) for f in message.files]
        out = message.json(self.app_id, self.team_id, files)
        if message.thread_ts is None:
            replies = self.thread(message.channel, message.ts)[1:]
            if replies:
                out["thread_ts"] = message.ts
                out["reply_count"] = len(replies)
                out["reply_users"] = sorted({m.user for m in replies})
                out["latest_reply"] = replies[-1].ts
        return out

    # --- file downloads and response_url --------------------------------------------------------

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["slug"].rsplit("-", 1)[-1]
        found = self.files.get(file_id)
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            raise web.HTTPFound("/signin")  # as Slack: the sign-in page, not the file
        if found is None or found.name != request.match_info["name"]:
            raise web.HTTPNotFound()
        return web.Response(body=found.content, content_type=found.mimetype)

    async def _signin(self, request: web.Request) -> web.Response:
        return web.Response(
            text="<html><body>Sign in to Slack</body></html>", content_type="text/html"
        )

    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["token"], await request.json()))
        return web.Response(text="ok")


async def _serve(port: int) -> None:
    fake = FakeSlack()
    await fake.start_on(port)
    print(fake.root_url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main() -> None:
    """`python -m tests.fakes.slack [--port N]`: serve until SIGTERM; prints the root URL.

    The Web API is at `<root>/api/` with the module's BOT_TOKEN and APP_TOKEN; `POST
    /_fake/configure` sets `events_url` (HTTP delivery), stream expiry and limits; `POST
    /_fake/event` ({"kind": "mention"|"dm"|"message"|"command", "text", "channel", "user",
    "thread_ts", "via"}) delivers a user action; `GET /_fake/state` returns calls, messages and
    pings (times on the monotonic clock).
    """
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.slack")
    parser.add_argument("--port", type=int, default=0)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
