"""Slack on several replicas (real `chathub serve` processes, one Redis, one MongoDB-wire
server): in HTTP mode every replica takes deliveries; in Socket Mode every replica holds a
connection and Slack gives each envelope to one of them. Either way a delivery Slack repeats
on another replica is answered once, and a Stop pressed there stops the reply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.replicas import Replica, replica_set, routing, shared_env
from tests.fakes.ollama import FakeOllama
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, GENERAL, SIGNING_SECRET, FakeSlack
from tests.fakes.slack_delivery import Delivery
from tests.support.wait import until

MODEL = "alpha:latest"
REDELIVERY = "a Slack message another replica took on"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeOllama]]:
    slack = FakeSlack()
    await slack.start()
    async with FakeOllama([MODEL]) as ollama:
        yield slack, ollama
    await slack.stop()


def slack_env(slack: FakeSlack, redis_url: str, mongo_url: str, mode: str) -> dict[str, str]:
    receive = {"HUB_SLACK__APP_TOKEN": APP_TOKEN} if mode == "socket" else {}
    return shared_env(
        redis_url,
        mongo_url,
        HUB_SLACK__BOT_TOKEN=BOT_TOKEN,
        HUB_SLACK__SIGNING_SECRET=SIGNING_SECRET,
        HUB_SLACK__BASE_URL=slack.api_url,
        HUB_SLACK__STREAMS="false",  # edits, with the Stop button on the message
        **receive,
    )


class Deliverer:
    """Hands payloads to one replica: over its Socket Mode connection, or to its webhook (as
    the load balancer in front of HTTP mode would)."""

    def __init__(self, slack: FakeSlack, mode: str, replicas: list[Replica]) -> None:
        self.slack, self.mode, self.replicas = slack, mode, replicas

    async def to(self, index: int, kind: str, payload: dict[str, Any], retry: int = 0) -> Delivery:
        reason = "http_timeout" if retry else ""
        if self.mode == "socket":
            sent = await self.slack.send(
                kind, payload, via="socket", retry=retry, retry_reason=reason, connection=index
            )
        else:
            self.slack.events_url = f"{self.replicas[index].base}/webhooks/slack"
            sent = await self.slack.send(
                kind, payload, via="http", retry=retry, retry_reason=reason
            )
        return await sent.wait()


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_repeated_delivery_is_answered_once_and_stop_works_from_any_replica(
    tmp_path: Path,
    redis_url: str,
    mongo_url: str,
    fakes: tuple[FakeSlack, FakeOllama],
    mode: str,
) -> None:
    slack, ollama = fakes
    ollama.script(MODEL, token_count=400, tokens_per_second=20)  # 20 s unless stopped
    env = slack_env(slack, redis_url, mongo_url, mode)
    with replica_set(tmp_path, env, routing(ollama.url, max_concurrency=4)) as hub:
        pair = await hub.start(2)
        if mode == "socket":  # each replica holds a connection of its own
            await until(lambda: len(slack.socket.live) == 2, within=30)
        deliver = Deliverer(slack, mode, pair)
        mention = slack.app_mention(GENERAL, "tell me a long story")
        thread = mention["event"]["ts"]
        assert (await deliver.to(0, "events_api", mention)).acked
        await until(lambda: ollama.active == 1, within=30)
        # Slack thought the first delivery was lost and sends it again, reaching the other.
        assert (await deliver.to(1, "events_api", mention, retry=1)).acked
        await until(lambda: any(REDELIVERY in r.log() for r in pair), within=30)

        await until(lambda: any(m.buttons for m in slack.bot_messages(GENERAL, thread)), 30)
        button = next(m for m in slack.bot_messages(GENERAL, thread) if m.buttons)
        click = slack.button_click(GENERAL, button.ts)
        assert (await deliver.to(1, "interactive", click)).acked  # pressed on the other one
        await until(lambda: ollama.connections_closed == 1, within=30)
        await until(lambda: not any(m.buttons for m in slack.bot_messages(GENERAL, thread)), 30)
    assert len(ollama.chat_requests) == 1
    assert [body["text"] for _, body in slack.responses] == ["Stopping…"]
    shown = slack.bot_messages(GENERAL, thread)
    assert shown[-1].content.endswith("⚠ reply interrupted: reply stopped.")
