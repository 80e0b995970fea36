"""No log line, at any level, carries a secret: a real `chathub serve` at DEBUG goes through
sign-up, sign-in, chat over JWT and over an API key, and a Telegram DM, and every line it
wrote is searched for the configured secrets, a known password, its hash, a JWT and the
chat text, on SQLite and on the MongoDB-wire server."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from tests.e2e.test_serve import free_port
from tests.fakes.ollama import FakeOllama
from tests.fakes.telegram import FakeTelegram
from tests.services.mongo_server import unique_db_name
from tests.support.wait import until

ROOT = Path(__file__).resolve().parents[2]
MODEL = "alpha:latest"
DM = 5151
PASSWORD = "Tr0ub4dor&3 horse-battery"
WEB_TEXT = "my web secret: the vault code is 90417"
KEY_TEXT = "my key secret: launch at dawn 33812"
BOT_TEXT = "my telegram secret: the cat is called Mr Whiskers 5521"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeOllama]]:
    telegram = FakeTelegram(token=f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}")
    await telegram.start()
    async with FakeOllama([MODEL]) as ollama:
        yield telegram, ollama
    await telegram.stop()


async def _traffic(base: str, api_key: str, telegram: FakeTelegram) -> dict[str, str]:
    """Drive every kind of request; returns the JWT the hub issued."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        account = {"name": "Ann", "email": "ann@example.com", "password": PASSWORD}
        signed_up = await http.post("/api/v1/auths/signup", json=account)
        assert signed_up.status_code == 200, signed_up.text
        signin = {"email": "ann@example.com", "password": PASSWORD}
        token = (await http.post("/api/v1/auths/signin", json=signin)).json()["token"]
        wrong = await http.post("/api/v1/auths/signin", json={**signin, "password": "nope"})
        assert wrong.status_code == 400
        jwt = {"Authorization": f"Bearer {token}"}
        chat = {"model": MODEL, "messages": [{"role": "user", "content": WEB_TEXT}]}
        assert (await http.post("/ollama/api/chat", json=chat, headers=jwt)).status_code == 200
        prompt = {"command": "/vault", "title": "Vault", "content": WEB_TEXT}
        made = await http.post("/api/v1/prompts/create", json=prompt, headers=jwt)
        assert made.status_code == 200
        new = {"password": PASSWORD, "new_password": PASSWORD + "!"}
        assert (await http.post("/api/v1/auths/update/password", json=new, headers=jwt)).json()
        key = {"Authorization": f"Bearer {api_key}"}
        openai = {"model": MODEL, "messages": [{"role": "user", "content": KEY_TEXT}]}
        done = await http.post("/ollama/v1/chat/completions", json=openai, headers=key)
        assert done.status_code == 200
        refused = await http.get("/ollama/api/tags", headers={"Authorization": "Bearer sk-nope"})
        assert refused.status_code == 401
    await until(lambda: bool(telegram.calls_of("getUpdates")), within=30)
    telegram.push_message(DM, BOT_TEXT)
    await until(lambda: len(telegram.chat_messages(DM)) > 0, within=30)
    return {"jwt": token}


def _password_hash(store: str, env: dict[str, str]) -> str:
    if store == "sqlite":
        with sqlite3.connect(Path(env["HUB_DATA_DIR"]) / "chathub.db") as db:
            row = db.execute("SELECT password_hash FROM users WHERE email = 'ann@example.com'")
            found: str = row.fetchone()[0]
            return found
    client: MongoClient[dict[str, Any]] = MongoClient(env["HUB_MONGODB_URL"])
    try:
        doc = client[env["HUB_MONGODB_DB"]]["users"].find_one({"email": "ann@example.com"})
        assert doc is not None
        hashed: str = doc["password_hash"]
        return hashed
    finally:
        client.drop_database(env["HUB_MONGODB_DB"])
        client.close()


@pytest.mark.parametrize("store", ["sqlite", "mongo"])
async def test_no_secret_reaches_the_log_at_debug(
    tmp_path: Path,
    fakes: tuple[FakeTelegram, FakeOllama],
    store: str,
    request: pytest.FixtureRequest,
) -> None:
    telegram, ollama = fakes
    port = free_port()
    configured = {
        "HUB_JWT_SECRET": secrets.token_urlsafe(48),
        "HUB_API_KEYS": f"sk-hub-{secrets.token_hex(20)}",
        "HUB_TELEGRAM__TOKEN": telegram.token,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        configured,
        HUB_PORT=str(port),
        HUB_DATA_DIR=str(tmp_path / "data"),
        HUB_OLLAMA_URL=ollama.url,
        HUB_TELEGRAM__BASE_URL=telegram.base_url,
        HUB_TELEGRAM__POLL_TIMEOUT="1",
        HUB_LOG_LEVEL="DEBUG",
        PYTHONPATH=str(ROOT),
    )
    if store == "mongo":
        env.update(HUB_MONGODB_URL=request.getfixturevalue("mongo_url"))
        env.update(HUB_MONGODB_DB=unique_db_name("logs"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "serve",
        cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:

            async def healthy() -> bool:
                try:
                    return (await client.get(f"{base}/health")).is_success
                except httpx.HTTPError:
                    return False

            for _ in range(600):
                if proc.returncode is not None or await healthy():
                    break
                await asyncio.sleep(0.05)
        issued = await _traffic(base, configured["HUB_API_KEYS"], telegram)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    log = out.decode()
    assert proc.returncode == 0, log
    assert "path=/ollama/v1/chat/completions" in log  # it did log
    forbidden = {
        **configured,
        "password": PASSWORD,
        "new password": PASSWORD + "!",
        "password hash": _password_hash(store, env),
        "JWT": issued["jwt"],
        "JWT payload": issued["jwt"].split(".")[1],
        "web chat text": WEB_TEXT,
        "API chat text": KEY_TEXT,
        "bot chat text": BOT_TEXT,
    }
    for name, secret in forbidden.items():
        for part in {secret, secret.split(":")[-1]}:
            assert part not in log, f"the {name} is in the log"
