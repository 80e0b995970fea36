"""Telegram on several replicas (real `chathub serve` processes, one Redis, one MongoDB-wire
server): one poller at a time and a takeover when it dies; in webhook mode, a conversation's
messages answered in order wherever they land, and a Stop reaching the replica that streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.replicas import Replica, replica_set, routing, shared_env
from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_wire import numbered_tokens
from tests.fakes.telegram import FakeTelegram
from tests.support.wait import until

MODEL = "alpha:latest"
DM = 4242
SECRET = "webhook-secret-0123456789"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeOllama]]:
    telegram = FakeTelegram()
    await telegram.start()
    async with FakeOllama([MODEL]) as ollama:
        yield telegram, ollama
    await telegram.stop()


def telegram_env(
    telegram: FakeTelegram, redis_url: str, mongo_url: str, mode: str
) -> dict[str, str]:
    env = shared_env(
        redis_url,
        mongo_url,
        HUB_TELEGRAM__TOKEN=telegram.token,
        HUB_TELEGRAM__BASE_URL=telegram.base_url,
        HUB_TELEGRAM__POLL_TIMEOUT="1",
        HUB_TELEGRAM__MODE=mode,
        HUB_TELEGRAM__DRAFTS="false",  # edits, with the Stop button on the message
    )
    if mode == "webhook":
        env["HUB_TELEGRAM__WEBHOOK_SECRET"] = SECRET
    return env


async def telegram_detail(client: httpx.AsyncClient, replica: Replica) -> str:
    ready = (await client.get(f"{replica.base}/ready")).json()
    return str(ready["checks"]["connector telegram"]["detail"])


async def deliver(
    client: httpx.AsyncClient, replica: Replica, updates: list[dict[str, Any]]
) -> None:
    """Hand updates to `replica`'s webhook, as the load balancer in front would."""
    for update in updates:
        answer = await client.post(
            f"{replica.base}/webhooks/telegram",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        assert answer.status_code == 200, answer.text


def final_texts(telegram: FakeTelegram) -> list[str]:
    return [m.text for m in telegram.chat_messages(DM)]


async def test_one_replica_polls_and_another_takes_over_when_it_dies(
    tmp_path: Path, redis_url: str, mongo_url: str, fakes: tuple[FakeTelegram, FakeOllama]
) -> None:
    telegram, ollama = fakes
    ollama.script(MODEL, token_count=5)
    env = telegram_env(telegram, redis_url, mongo_url, "polling")
    with replica_set(tmp_path, env, routing(ollama.url, max_concurrency=4)) as hub:
        pair = await hub.start(2)
        async with httpx.AsyncClient() as client:
            details = await settled(client, pair)
            poller = pair[details.index("polling")]
            standby = pair[1 - details.index("polling")]
            assert "standby: replica" in details[pair.index(standby)]
            polls = len(telegram.calls_of("getUpdates"))
            await until(lambda: len(telegram.calls_of("getUpdates")) >= polls + 3, within=30)
            telegram.push_message(DM, "first")
            await until(lambda: "".join(numbered_tokens(5)) in final_texts(telegram), within=30)

            poller.kill()  # dies holding the duty: no release
            for _ in range(600):
                if (await telegram_detail(client, standby)).endswith("polling"):
                    break
                await asyncio.sleep(0.05)
            assert (await telegram_detail(client, standby)).endswith("polling")
            telegram.push_message(DM, "second")
            await until(lambda: len(final_texts(telegram)) == 2, within=30)
            assert final_texts(telegram)[-1] == "".join(numbered_tokens(5))
    assert telegram.conflicts == 0  # never two pollers at once
    assert "lease taken" in standby.log()


async def settled(client: httpx.AsyncClient, pair: list[Replica]) -> list[str]:
    """Each replica's Telegram status once one polls and the other stands by."""
    for _ in range(600):
        details = [(await telegram_detail(client, r)).rpartition("; ")[2] for r in pair]
        if sorted(d.split(":")[0] for d in details) == ["polling", "standby"]:
            return details
        await asyncio.sleep(0.05)
    raise AssertionError(f"no single poller: {details}")


async def test_a_conversations_messages_are_answered_in_order_on_two_replicas(
    tmp_path: Path, redis_url: str, mongo_url: str, fakes: tuple[FakeTelegram, FakeOllama]
) -> None:
    telegram, ollama = fakes
    ollama.script(MODEL, token_count=30, tokens_per_second=30)
    env = telegram_env(telegram, redis_url, mongo_url, "webhook")
    with replica_set(tmp_path, env, routing(ollama.url, max_concurrency=4)) as hub:
        one, two = await hub.start(2)
        async with httpx.AsyncClient() as client:
            telegram.push_message(DM, "first")
            await deliver(client, one, telegram.take_updates())
            await until(lambda: ollama.active == 1, within=30)
            telegram.push_message(DM, "second")
            await deliver(client, two, telegram.take_updates())
            reply = "".join(numbered_tokens(30))
            await until(lambda: final_texts(telegram).count(reply) == 2, within=60)
    first, second = ollama.chat_requests
    assert [m["content"] for m in first.json["messages"]][-1] == "first"
    # The second waited for the first reply, and saw it in its history.
    assert [m["content"] for m in second.json["messages"]][-3:] == ["first", reply, "second"]


async def test_a_stop_pressed_on_another_replica_stops_the_reply(
    tmp_path: Path, redis_url: str, mongo_url: str, fakes: tuple[FakeTelegram, FakeOllama]
) -> None:
    telegram, ollama = fakes
    ollama.script(MODEL, token_count=400, tokens_per_second=20)  # 20 s unless stopped
    env = telegram_env(telegram, redis_url, mongo_url, "webhook")
    with replica_set(tmp_path, env, routing(ollama.url, max_concurrency=4)) as hub:
        streaming, other = await hub.start(2)
        async with httpx.AsyncClient() as client:
            telegram.push_message(DM, "tell me a long story")
            await deliver(client, streaming, telegram.take_updates())
            await until(lambda: stop_button(telegram) is not None, within=30)
            message_id, token = stop_button(telegram) or (0, "")
            telegram.push_callback(message_id, token)
            await deliver(client, other, telegram.take_updates())  # pressed on the other one
            await until(lambda: ollama.connections_closed == 1, within=30)
            await until(lambda: stop_button(telegram) is None, within=30)
    assert [a.get("text") for a in telegram.callback_answers] == ["Stopping…"]
    final = telegram.messages[message_id].text
    assert final.startswith("t0 t1") and len(final) < len("".join(numbered_tokens(400)))


def stop_button(telegram: FakeTelegram) -> tuple[int, str] | None:
    """The message showing a Stop button, and the button's callback data."""
    for sent in telegram.chat_messages(DM):
        rows = (sent.reply_markup or {}).get("inline_keyboard") or []
        for row in rows:
            for button in row:
                if str(button.get("callback_data", "")).startswith("stop:"):
                    return sent.message_id, str(button["callback_data"])
    return None
