"""The fake Slack's deliveries, received by a real slack_bolt AsyncApp.

Socket Mode through bolt's AsyncSocketModeHandler; HTTP through bolt's own request dispatch
(its aiohttp adapter: `to_bolt_request` → `AsyncApp.async_dispatch`), so bolt's request
verification decides about signatures and timestamps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import GENERAL, FakeSlack
from tests.support.wait import until

STOP_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "working…"}},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "hub_stop",
                "text": {"type": "plain_text", "text": "Stop"},
                "value": "stop-token-1",
                "style": "danger",
            }
        ],
    },
]


@dataclass
class Seen:
    mentions: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    retries: list[str | None] = field(default_factory=list)


def bolt_app(fake: FakeSlack, session: aiohttp.ClientSession, seen: Seen) -> AsyncApp:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, session=session)
    app = AsyncApp(client=client, signing_secret=fake.signing_secret)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Any, request: AsyncBoltRequest) -> None:
        seen.mentions.append(event)
        seen.retries.append(request.headers.get("x-slack-retry-num", [None])[0])
        await say(text="on it", thread_ts=event.get("thread_ts") or event["ts"])

    @app.command("/ask")
    async def on_ask(ack: Any, command: dict[str, Any]) -> None:
        await ack("Thinking about it…")
        seen.commands.append(command)

    @app.action("hub_stop")
    async def on_stop(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.actions.append(body)

    return app


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def socket_app(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> AsyncIterator[tuple[AsyncApp, Seen]]:
    fake_slack.limits.enabled = False
    seen = Seen()
    app = bolt_app(fake_slack, session, seen)
    handler = AsyncSocketModeHandler(app, fake_slack.app_token)
    await handler.connect_async()
    await until(lambda: fake_slack.socket.connected)
    yield app, seen
    await handler.close_async()


@pytest.fixture
async def http_app(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> AsyncIterator[tuple[AsyncApp, Seen]]:
    """A bolt app behind a minimal HTTP server; the fake posts to it."""
    fake_slack.limits.enabled = False
    seen = Seen()
    app = bolt_app(fake_slack, session, seen)

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake_slack.events_url = f"http://127.0.0.1:{port}/slack/events"
    yield app, seen
    await runner.cleanup()


async def test_socket_mode_mention_command_and_button(
    fake_slack: FakeSlack, socket_app: tuple[AsyncApp, Seen]
) -> None:
    _, seen = socket_app
    mention = await fake_slack.send("events_api", fake_slack.app_mention(GENERAL, "hello there"))
    assert (await mention.wait()).acked
    await until(lambda: len(fake_slack.bot_messages(GENERAL)) == 1)
    event = seen.mentions[0]
    assert event["text"] == "<@U0FAKEBOT> hello there"
    reply = fake_slack.bot_messages(GENERAL)[0]
    assert (reply.text, reply.thread_ts) == ("on it", event["ts"])

    command = fake_slack.slash_command("summarize this", channel=GENERAL)
    delivery = await fake_slack.send("slash_commands", command)
    assert (await delivery.wait()).response == {"text": "Thinking about it…"}
    assert seen.commands[0]["text"] == "summarize this"

    posted = await socket_app[0].client.chat_postMessage(
        channel=GENERAL, thread_ts=event["ts"], text="working…", blocks=STOP_BLOCKS
    )
    click = await fake_slack.send("interactive", fake_slack.button_click(GENERAL, posted["ts"]))
    assert (await click.wait()).acked
    await until(lambda: len(seen.actions) == 1)
    action = seen.actions[0]["actions"][0]
    assert (action["action_id"], action["value"]) == ("hub_stop", "stop-token-1")
    assert seen.actions[0]["user"]["id"] == "U0ADA"
    assert set(fake_slack.socket.acks) == {
        mention.envelope_id,
        delivery.envelope_id,
        click.envelope_id,
    }


async def test_socket_mode_reconnects_on_disconnect(
    fake_slack: FakeSlack, socket_app: tuple[AsyncApp, Seen]
) -> None:
    _, seen = socket_app
    await fake_slack.socket.disconnect()
    await until(lambda: fake_slack.socket.opened == 2 and fake_slack.socket.connected)
    assert len(fake_slack.calls_of("apps.connections.open")) == 2
    delivery = await fake_slack.send("events_api", fake_slack.app_mention(GENERAL, "still there?"))
    assert (await delivery.wait()).acked
    await until(lambda: len(seen.mentions) == 1)


async def test_socket_mode_retry_attempt_reaches_the_app(
    fake_slack: FakeSlack, socket_app: tuple[AsyncApp, Seen]
) -> None:
    _, seen = socket_app
    body = fake_slack.app_mention(GENERAL, "once")
    await (await fake_slack.send("events_api", body)).wait()
    await (await fake_slack.send("events_api", body, retry=1, retry_reason="timeout")).wait()
    await until(lambda: len(seen.mentions) == 2)
    # Slack's first envelope says retry_attempt 0, which bolt turns into x-slack-retry-num "0"
    assert seen.retries == ["0", "1"]
    assert seen.mentions[0]["ts"] == seen.mentions[1]["ts"]  # the same event, twice


async def test_http_event_command_and_interaction(
    fake_slack: FakeSlack, http_app: tuple[AsyncApp, Seen]
) -> None:
    app, seen = http_app
    mention = await fake_slack.send("events_api", fake_slack.app_mention(GENERAL, "over http"))
    assert (mention.via, mention.status) == ("http", 200)
    await until(lambda: len(fake_slack.bot_messages(GENERAL)) == 1)

    command = await fake_slack.send(
        "slash_commands", fake_slack.slash_command("x", channel=GENERAL)
    )
    assert (command.status, command.response) == (200, "Thinking about it…")
    posted = await app.client.chat_postMessage(channel=GENERAL, text="working…", blocks=STOP_BLOCKS)
    click = await fake_slack.send("interactive", fake_slack.button_click(GENERAL, posted["ts"]))
    assert click.status == 200
    await until(lambda: len(seen.actions) == 1)


async def test_http_bad_signature_and_stale_timestamp_are_refused(
    fake_slack: FakeSlack, http_app: tuple[AsyncApp, Seen]
) -> None:
    _, seen = http_app
    body = fake_slack.app_mention(GENERAL, "forged")
    forged = await fake_slack.send("events_api", body, bad_signature=True)
    assert (forged.status, forged.response) == (401, {"error": "invalid request"})
    stale = await fake_slack.send("events_api", body, timestamp=int(time.time()) - 6 * 60)
    assert stale.status == 401
    fresh = await fake_slack.send("events_api", body, timestamp=int(time.time()) - 4 * 60)
    assert fresh.status == 200
    await until(lambda: len(seen.mentions) == 1)


async def test_http_retries_carry_their_number_until_acked(
    fake_slack: FakeSlack, http_app: tuple[AsyncApp, Seen], session: aiohttp.ClientSession
) -> None:
    app, seen = http_app
    release = asyncio.Event()

    @app.middleware
    async def slow_first_time(req: AsyncBoltRequest, resp: Any, next: Any) -> Any:
        if not req.headers.get("x-slack-retry-num") and not release.is_set():
            await release.wait()  # hold the ack past the deadline, as a busy app would
        return await next()

    body = fake_slack.app_mention(GENERAL, "are you there")
    attempts = await fake_slack.send_until_acked(body, delays=(0.0, 0.0), ack_timeout=0.5)
    release.set()
    assert [a.retry for a in attempts] == [0, 1]
    assert attempts[0].status is None and attempts[1].status == 200
    await until(lambda: len(seen.retries) == 2)
    assert sorted(seen.retries, key=str) == ["1", None]  # HTTP: no header on the first try


async def test_control_routes_deliver_for_a_benchmark(
    fake_slack: FakeSlack, http_app: tuple[AsyncApp, Seen], session: aiohttp.ClientSession
) -> None:
    _, seen = http_app
    root = fake_slack.root_url
    async with session.post(f"{root}/_fake/configure", json={"stream_ttl": 30}) as resp:
        assert resp.status == 200
    async with session.post(f"{root}/_fake/event", json={"kind": "mention", "text": "hi"}) as resp:
        sent = await resp.json()
    assert (sent["channel"], sent["status"]) == (GENERAL, 200)
    await until(lambda: len(fake_slack.bot_messages(GENERAL)) == 1)
    async with session.get(f"{root}/_fake/state") as resp:
        state = await resp.json()
    assert [m["content"] for m in state["messages"] if m["bot_id"]] == ["on it"]
    assert fake_slack.stream_ttl == 30 and seen.mentions[0]["ts"] == sent["ts"]
