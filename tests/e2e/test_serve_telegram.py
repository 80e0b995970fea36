"""`chathub serve` with Telegram on: the deployed process answers a DM and shuts down cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import free_port
from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_wire import numbered_tokens
from tests.fakes.telegram import FakeTelegram
from tests.support.wait import until

ROOT = Path(__file__).resolve().parents[2]
MODEL = "alpha:latest"
DM = 4242


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeOllama]]:
    telegram = FakeTelegram()
    await telegram.start()
    async with FakeOllama([MODEL]) as ollama:
        yield telegram, ollama
    await telegram.stop()


async def test_serve_answers_a_telegram_dm_and_stops_cleanly(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeOllama]
) -> None:
    telegram, ollama = fakes
    ollama.script(MODEL, token_count=60, tokens_per_second=120)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_PORT=str(port),
        HUB_DATA_DIR=str(tmp_path / "data"),
        HUB_OLLAMA_URL=ollama.url,
        HUB_TELEGRAM__TOKEN=telegram.token,
        HUB_TELEGRAM__BASE_URL=telegram.base_url,
        HUB_TELEGRAM__POLL_TIMEOUT="1",
        PYTHONPATH=str(ROOT),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "serve",
        cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient() as client:

            async def healthy() -> bool:
                try:
                    return (await client.get(f"http://127.0.0.1:{port}/health")).is_success
                except httpx.HTTPError:
                    return False

            for _ in range(600):
                if proc.returncode is None and await healthy():
                    break
                await asyncio.sleep(0.05)
        await until(lambda: bool(telegram.calls_of("getUpdates")), within=30)
        telegram.push_message(DM, "count for me")
        expected = "".join(numbered_tokens(60))
        await until(lambda: any(m.text == expected for m in telegram.chat_messages(DM)), within=60)
        assert telegram.enforced_429 == 0
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    log = out.decode()
    assert proc.returncode == 0, log
    assert "connector started" in log and "connector=telegram" in log
    assert telegram.token.split(":")[1] not in log  # the bot token never reaches the logs
