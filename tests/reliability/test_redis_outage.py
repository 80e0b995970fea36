"""`limits.on_redis_error` with the real Redis killed mid-traffic and started again.

One in-process hub serves HTTP (Ollama route, API key) and Telegram (the fake Bot API) with a
per-user limit, so every message asks Redis. Traffic runs throughout; the test kills the real
redis-server (SIGKILL), lets traffic continue, starts it again and waits for the hub to use
it again.
`fail_open` must answer everything; `fail_closed` must refuse only while Redis is down, with a
503, `Retry-After` and a sentence (HTTP) or that sentence in the chat (Telegram).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hub.connectors.plugin import discover_plugins
from hub.core.limits.messages import LimitMessages
from hub.settings import settings_class
from tests.api.conftest import API_KEY, Hub, fake_ollama, hub_settings, running_hub
from tests.fakes.ollama_wire import numbered_tokens
from tests.fakes.telegram import FakeTelegram
from tests.services.redis_server import RedisServer
from tests.support.wait import until

MODEL = "alpha:latest"
REFUSAL = LimitMessages().unavailable
REPLY = "".join(numbered_tokens(5))  # the fake's default reply to MODEL


@dataclass
class Traffic:
    """HTTP answers per phase: (status, body) pairs, and who answered what in Telegram."""

    phase: str = "up"
    http: dict[str, list[tuple[int, str, str | None]]] = field(default_factory=dict)
    chats: dict[str, list[int]] = field(default_factory=dict)

    def statuses(self, phase: str) -> Counter[int]:
        return Counter(status for status, _, _ in self.http.get(phase, []))


async def _http_loop(hub: Hub, traffic: Traffic, stop: asyncio.Event) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False}
    async with hub.client(API_KEY) as http:
        while not stop.is_set():
            phase = traffic.phase
            response = await http.post("/ollama/api/chat", json=body)
            message = response.json().get("error") or response.json()["message"]["content"]
            retry = response.headers.get("retry-after")
            traffic.http.setdefault(phase, []).append((response.status_code, message, retry))
            await asyncio.sleep(0.01)


def _telegram_round(telegram: FakeTelegram, traffic: Traffic, chat_ids: Any, n: int) -> None:
    for _ in range(n):
        chat_id = next(chat_ids)
        traffic.chats.setdefault(traffic.phase, []).append(chat_id)
        telegram.push_message(chat_id, "hi", user_id=chat_id)


def _answer(telegram: FakeTelegram, chat_id: int) -> str | None:
    """The finished answer in a chat: the model's reply, or the refusal (after its ⚠ mark)."""
    for message in telegram.chat_messages(chat_id):
        if message.text == REPLY:
            return REPLY
        if message.text.endswith(REFUSAL):
            return REFUSAL
    return None


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


async def _run_outage(
    policy: str, tmp_path: Path, redis_server: RedisServer, redis_url: str, telegram: FakeTelegram
) -> tuple[Traffic, dict[str, list[str | None]]]:
    limits = {"per_user": "10000/minute", "on_redis_error": policy}
    tg = {"token": telegram.token, "base_url": telegram.base_url, "poll_timeout": 1}
    chat_ids = itertools.count(5001)
    traffic = Traffic()
    async with fake_ollama() as ollama:
        base = hub_settings(tmp_path, ollama, redis_url=redis_url, default_model=MODEL)
        with_plugins = settings_class(discover_plugins())  # the Telegram section is a plugin's
        settings = with_plugins(
            **base.model_dump(exclude_defaults=True), _env_file=None, limits=limits, telegram=tg
        )
        async with running_hub(settings, ollama) as hub:
            await until(lambda: bool(telegram.calls_of("getUpdates")), within=30)
            stop = asyncio.Event()
            loop = asyncio.create_task(_http_loop(hub, traffic, stop))
            try:
                _telegram_round(telegram, traffic, chat_ids, 3)
                await until(lambda: len(traffic.http.get("up", [])) >= 5)
                await until(lambda: all(_answer(telegram, c) for c in traffic.chats["up"]))

                traffic.phase = "stopping"
                await asyncio.to_thread(redis_server.kill)
                traffic.phase = "down"
                _telegram_round(telegram, traffic, chat_ids, 3)
                await until(lambda: len(traffic.http.get("down", [])) >= 5)
                await until(lambda: all(_answer(telegram, c) for c in traffic.chats["down"]))

                traffic.phase = "recovering"
                await asyncio.to_thread(redis_server.start)
                await until(lambda: traffic.statuses("recovering")[200] > 0, within=30)

                traffic.phase = "back"
                _telegram_round(telegram, traffic, chat_ids, 3)
                await until(lambda: len(traffic.http.get("back", [])) >= 5)
                await until(lambda: all(_answer(telegram, c) for c in traffic.chats["back"]))
            finally:
                stop.set()
                await loop
                if not redis_server.running:
                    await asyncio.to_thread(redis_server.start)
    answers = {p: [_answer(telegram, c) for c in ids] for p, ids in traffic.chats.items()}
    return traffic, answers


async def test_fail_open_answers_everything_while_redis_is_down(
    tmp_path: Path, redis_server: RedisServer, redis_url: str, telegram: FakeTelegram
) -> None:
    traffic, answers = await _run_outage("fail_open", tmp_path, redis_server, redis_url, telegram)
    for phase in ("up", "down", "back"):
        statuses = traffic.statuses(phase)
        assert set(statuses) == {200}, (phase, statuses)
        assert answers[phase] == [REPLY] * 3, (phase, answers[phase])
    assert set(traffic.statuses("stopping")) | set(traffic.statuses("recovering")) <= {200}


async def test_fail_closed_refuses_with_503_only_while_redis_is_down(
    tmp_path: Path, redis_server: RedisServer, redis_url: str, telegram: FakeTelegram
) -> None:
    traffic, answers = await _run_outage("fail_closed", tmp_path, redis_server, redis_url, telegram)
    assert set(traffic.statuses("up")) == {200}
    assert set(traffic.statuses("back")) == {200}
    assert set(traffic.statuses("stopping")) <= {200, 503}
    # Every request that started once Redis was gone is refused, with a sentence and a time
    # to come back (the one admitted just before may still finish).
    down = traffic.http["down"]
    refused = [entry for entry in down if entry[0] == 503]
    assert len(refused) >= len(down) - 1 >= 4, Counter(s for s, _, _ in down)
    assert {message for _, message, _ in refused} == {REFUSAL}
    assert all(retry is not None and int(retry) >= 1 for _, _, retry in refused)
    assert set(traffic.statuses("recovering")) <= {200, 503}
    assert answers["up"] == [REPLY] * 3
    assert answers["down"] == [REFUSAL] * 3
    assert answers["back"] == [REPLY] * 3
