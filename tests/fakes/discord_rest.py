"""The fake Discord REST API v10: the envelope, rate limits, errors, who the bot is, the CDN.

Each route has a bucket kind and a major parameter (`discord_limits.py`). Answers are JSON with
`Content-Type` exactly `application/json` (discord.py parses nothing else) and Discord's error
shape `{"message", "code"}` (`errors` for 50035 Invalid Form Body). What a route does to the
world (a message posted, edited, deleted) is dispatched on the gateway too, as Discord does.
Every call is recorded with its loop time.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord_limits import VIA, RateLimits

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord


@dataclass
class Call:
    t: float
    method: str
    path: str
    kind: str
    major: str
    body: Any = None
    status: int = 200
    query: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """An error answer in Discord's shape."""

    def __init__(self, status: int, code: int, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def form_error(path: str, code: str, message: str) -> ApiError:
    """400 50035 Invalid Form Body with one error at `path` ("content", "components.0")."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path.split(".")):
        errors = {key: errors}
    return ApiError(400, 50035, "Invalid Form Body", errors)


def reply(
    status: int, body: Any = None, headers: dict[str, str] | None = None, *, via: bool = True
) -> web.Response:
    all_headers = {"Via": VIA} if via else {}
    all_headers |= headers or {}
    if body is None:
        return web.Response(status=status, headers=all_headers)
    all_headers["Content-Type"] = "application/json"
    return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)


@dataclass
class Req:
    """A parsed request handed to a route."""

    match: dict[str, str]
    body: Any
    query: dict[str, str]
    now: float

    def id(self, name: str) -> int:
        try:
            return int(self.match[name])
        except ValueError:
            raise ApiError(404, 0, "404: Not Found") from None


Handler = Callable[[Req], Awaitable[tuple[int, Any]]]


class Rest:
    """The envelope every route goes through, and the routes about the bot itself.

    `discord_messages.py` and `discord_interactions.py` add their routes with `add`.
    """

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.world = fake.world
        self.calls: list[Call] = []
        self.limits = RateLimits()
        self.failures: dict[str, deque[ApiError]] = {}
        self.enforced_429 = 0

    def add(
        self,
        app: web.Application,
        method: str,
        path: str,
        kind: str,
        handler: Handler,
        major: str = "",
        *,
        auth: bool = True,
    ) -> None:
        async def serve(request: web.Request) -> web.Response:
            return await self._serve(request, kind, major, handler, auth)

        app.router.add_route(method, "/api/v10" + path, serve)

    def routes(self, app: web.Application) -> None:
        self.add(app, "GET", "/users/@me", "users.me", self._me)
        self.add(app, "GET", "/oauth2/applications/@me", "app.me", self._app_info)
        self.add(app, "GET", "/gateway/bot", "gateway.bot", self._gateway_bot)
        self.add(app, "GET", "/gateway", "gateway", self._gateway, auth=False)
        app.router.add_get("/cdn/{path:.*}", self._cdn)

    # --- the envelope ---------------------------------------------------------------------------

    def fail_next(self, kind: str, status: int, code: int, message: str) -> None:
        self.failures.setdefault(kind, deque()).append(ApiError(status, code, message))

    async def _body(self, request: web.Request) -> Any:
        if request.content_type == "application/json":
            return await request.json()
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            raw = form.get("payload_json")
            return json.loads(str(raw)) if raw is not None else {}
        text = await request.text()
        return json.loads(text) if text.strip() else None

    async def _serve(
        self, request: web.Request, kind: str, major_key: str, handler: Handler, auth: bool
    ) -> web.Response:
        now = asyncio.get_running_loop().time()
        match = dict(request.match_info)
        major = match.get(major_key, "") if major_key else ""
        try:
            body = await self._body(request)
        except ValueError:
            return reply(400, {"message": "400: Bad Request", "code": 0})
        call = Call(now, request.method, request.path, kind, major, body, query=dict(request.query))
        self.calls.append(call)
        if auth and request.headers.get("Authorization") != f"Bot {self.fake.token}":
            call.status = 401
            return reply(401, {"message": "401: Unauthorized", "code": 0})
        verdict = self.limits.check(kind, major, now)
        if verdict.limited:
            call.status = 429
            self.enforced_429 += verdict.enforced
            return reply(429, verdict.body(), verdict.headers, via="Via" in verdict.headers)
        failures = self.failures.get(kind)
        try:
            if failures:
                raise failures.popleft()
            status, out = await handler(Req(match, body, dict(request.query), now))
        except ApiError as exc:
            call.status = exc.status
            return reply(exc.status, exc.body(), verdict.headers)
        call.status = status
        return reply(status, out, verdict.headers)

    # --- who we are -----------------------------------------------------------------------------

    async def _me(self, req: Req) -> tuple[int, Any]:
        return 200, {**self.world.bot.json(), "verified": True, "mfa_enabled": False}

    async def _app_info(self, req: Req) -> tuple[int, Any]:
        bot = self.world.bot
        return 200, {
            "id": str(self.world.application_id),
            "name": bot.global_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot": bot.json(),
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.world.owner.json(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": self.fake.app_flags,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "approximate_guild_count": len(self.world.guilds),
            "integration_types_config": {"0": {}},
        }

    async def _gateway_bot(self, req: Req) -> tuple[int, Any]:
        return 200, {
            "url": self.fake.gateway_url.rstrip("/"),
            "shards": self.fake.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    async def _gateway(self, req: Req) -> tuple[int, Any]:
        return 200, {"url": self.fake.gateway_url.rstrip("/")}

    async def _cdn(self, request: web.Request) -> web.Response:
        data = self.world.files.get(request.path)
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type="application/octet-stream")
