"""How the fake Slack reaches an app: Socket Mode envelopes, or signed HTTP requests.

Socket Mode (docs.slack.dev/apis/events-api/using-socket-mode): `apps.connections.open` hands
out a single-use `ws://` URL; on connect the server sends `{"type": "hello", …}`, then envelopes
`{"envelope_id", "type": "events_api" | "slash_commands" | "interactive", "payload",
"accepts_response_payload"}` (events carry `retry_attempt` / `retry_reason`); the client acks with
`{"envelope_id"[, "payload"]}`; `{"type": "disconnect"}` asks it to reconnect.

HTTP (docs.slack.dev/authentication/verifying-requests-from-slack): events as JSON, slash commands
form-encoded, interactions as a form field `payload=<json>`, each signed with
`X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")` and
`X-Slack-Request-Timestamp`; retries add `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`.
Slack waits 3 s for the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import WSMsgType, web

KINDS = ("events_api", "slash_commands", "interactive")
ACK_TIMEOUT = 3.0


@dataclass
class Delivery:
    """One attempt at delivering a payload, and how the app answered it."""

    kind: str
    via: str  # socket | http
    payload: dict[str, Any]
    retry: int = 0
    envelope_id: str = ""
    status: int | None = None  # HTTP status; None until answered (or on a timeout)
    response: Any = None  # HTTP body (JSON if it parses) or the socket ack's payload
    answered: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def acked(self) -> bool:
        if not self.answered.done():
            return False
        return self.via == "socket" or (self.status is not None and 200 <= self.status < 300)

    async def wait(self, within: float = 10.0) -> Delivery:
        """Until the app answered (or `within` seconds passed); returns self."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.answered), within)
        return self

    def answer(self, status: int | None, response: Any) -> None:
        self.status, self.response = status, response
        if not self.answered.done():
            self.answered.set_result(None)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def encode_body(kind: str, payload: dict[str, Any]) -> tuple[bytes, str]:
    """The request body Slack sends for `kind`, and its content type."""
    if kind == "events_api":
        return json.dumps(payload).encode(), "application/json"
    if kind == "slash_commands":
        return urlencode(payload).encode(), "application/x-www-form-urlencoded"
    return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"


class SocketServer:
    """The Socket Mode side of the fake: connections, envelopes and acks."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.port = 0
        self.connections: list[web.WebSocketResponse] = []
        self.opened = 0  # connections ever accepted
        self.acks: dict[str, Any] = {}  # envelope_id → ack payload (None when bare)
        self._tickets: set[str] = set()
        self._pending: dict[str, Delivery] = {}

    @property
    def connected(self) -> bool:
        return any(not ws.closed for ws in self.connections)

    def new_url(self) -> str:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or used ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections.append(ws)
        self.opened += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": sum(1 for c in self.connections if not c.closed),
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_text(frame.data)
        finally:
            with contextlib.suppress(ValueError):
                self.connections.remove(ws)
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not envelope_id:
            return
        self.acks[envelope_id] = message.get("payload")
        delivery = self._pending.pop(envelope_id, None)
        if delivery is not None:
            delivery.answer(None, message.get("payload"))

    @property
    def live(self) -> list[web.WebSocketResponse]:
        """The open connections, oldest first (an app may hold several: Slack gives each
        envelope to one of them)."""
        return [ws for ws in self.connections if not ws.closed]

    async def send(self, delivery: Delivery, retry_reason: str = "", connection: int = -1) -> None:
        """Send on the open connection `connection` (an index into `live`; the newest by
        default)."""
        live = self.live
        if not live:
            raise RuntimeError("no Socket Mode connection is open")
        delivery.envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": delivery.envelope_id,
            "type": delivery.kind,
            "payload": delivery.payload,
            "accepts_response_payload": delivery.kind != "events_api",
        }
        if delivery.kind == "events_api":
            envelope["retry_attempt"] = delivery.retry
            envelope["retry_reason"] = retry_reason
        self._pending[delivery.envelope_id] = delivery
        await live[connection].send_json(envelope)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect (as Slack does every few hours)."""
        for ws in [ws for ws in self.connections if not ws.closed]:
            await ws.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
            )

    async def close(self) -> None:
        for ws in list(self.connections):
            await ws.close()


async def post_http(
    session: aiohttp.ClientSession,
    url: str,
    delivery: Delivery,
    secret: str,
    *,
    retry_reason: str = "",
    timestamp: int | None = None,
    bad_signature: bool = False,
    within: float = ACK_TIMEOUT,
) -> None:
    """POST `delivery` to the app, signed; records the answer on the delivery."""
    body, content_type = encode_body(delivery.kind, delivery.payload)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signed = signature("not-the-secret" if bad_signature else secret, stamp, body)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signed,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    if delivery.retry:
        headers["X-Slack-Retry-Num"] = str(delivery.retry)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=within)
        ) as resp:
            text = await resp.text()
            try:
                answer: Any = json.loads(text) if text else None
            except ValueError:
                answer = text
            delivery.answer(resp.status, answer)
    except (TimeoutError, aiohttp.ClientError) as exc:
        delivery.answer(None, f"no answer: {type(exc).__name__}")
