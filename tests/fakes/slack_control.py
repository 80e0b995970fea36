"""Control routes of the fake Slack run as its own process (`python -m tests.fakes.slack`).

`POST /_fake/configure` sets `events_url`, stream expiry and refusal, and turns limits on or
off; `POST /_fake/event` delivers a user action (`"deliver": false`: only records a person's
message, to thread under); `GET /_fake/state` returns the calls, messages
and notifications (a mixin of `FakeSlack`, which holds the state).
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from tests.fakes.slack_state import GENERAL


class Control:
    async def _control_event(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind = body.get("kind", "mention")
        channel = body.get("channel") or (self.dm(body.get("user")) if kind == "dm" else GENERAL)
        args = {"user": body.get("user"), "thread_ts": body.get("thread_ts")}
        deliver = body.get("deliver", True)  # false: only record that the person said it
        if kind == "command":
            payload = self.slash_command(body.get("text", ""), channel=channel, user=args["user"])
            delivery = await self.send("slash_commands", payload, via=body.get("via"))
        else:
            build = self.app_mention if kind == "mention" else self.user_message
            payload = build(channel, body.get("text", ""), **args)
            delivery = None
            if deliver:
                delivery = await self.send("events_api", payload, via=body.get("via"))
        event = payload.get("event", {})
        status = delivery.status if delivery is not None else None
        return web.json_response({"ts": event.get("ts", ""), "channel": channel, "status": status})

    async def _control_configure(self, request: web.Request) -> web.Response:
        body = await request.json()
        for key in ("events_url", "stream_ttl", "stream_append_limit", "stream_refusal"):
            if key in body:
                setattr(self, key, body[key])
        for channel in body.get("channels", []):  # channels the bot is a member of
            if channel not in self.channels:
                self.add_channel(channel, channel.lower())
        if "limits_enabled" in body:
            self.limits.enabled = bool(body["limits_enabled"])
        return web.json_response({"ok": True})

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "enforced_429": self.enforced_429,
                "calls": [asdict(c) for c in self.calls],
                "messages": [{**asdict(m), "content": m.content} for m in self.messages.values()],
                "pings": [asdict(p) for p in self.pings],
                "socket_connected": self.socket.connected,
            }
        )
