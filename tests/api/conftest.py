"""A real hub for the API tests: `hub.app.create_app` served by uvicorn on port 0, the fake
Ollama (tests/fakes/ollama.py), SQLite in a temp dir, the in-memory limiter."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar

from hub.app import create_app
from hub.settings import HubSettings
from tests.fakes.ollama import FakeOllama

API_KEY = "sk-hub-test-0123456789"
JWT_SECRET = "test-secret-for-the-api-suite-0123456789"
MODELS = ("alpha:latest", "gemma3:270m", "slow:latest", "broken:latest", "thinker:latest")


@dataclass
class Hub:
    """A running hub and how to reach it."""

    url: str
    app: Litestar
    fake: FakeOllama

    @property
    def ollama_url(self) -> str:
        return self.url + "/ollama"

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs.setdefault("base_url", self.url)
        return httpx.AsyncClient(headers=headers, timeout=10, **kwargs)

    async def signup(self, name: str = "Ann", **extra: Any) -> tuple[str, dict[str, Any]]:
        """A new account with a unique e-mail; returns (token, user object)."""
        body = {
            "name": name,
            "email": f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com",
            "password": "correct horse battery staple",
            **extra,
        }
        async with self.client() as http:
            response = await http.post("/api/v1/auths/signup", json=body)
        assert response.status_code == 200, response.text
        user = response.json()
        return user["token"], user


def hub_settings(tmp: Path, fake: FakeOllama, **overrides: Any) -> HubSettings:
    values: dict[str, Any] = {
        "_env_file": None,
        "data_dir": tmp,
        "ollama_url": fake.url,
        "api_keys": API_KEY,
        "jwt_secret": JWT_SECRET,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return HubSettings(**values)


@asynccontextmanager
async def running_hub(settings: HubSettings, fake: FakeOllama) -> AsyncIterator[Hub]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # start-up failed: raise its error
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Hub(f"http://127.0.0.1:{port}", app, fake)
    finally:
        server.should_exit = True
        await task


def fake_ollama() -> FakeOllama:
    fake = FakeOllama(MODELS)
    fake.script("slow:latest", token_count=400, tokens_per_second=40)
    fake.script("broken:latest", token_count=20, error_after=3)
    fake.script(
        "thinker:latest",
        thinking=["Let me ", "think."],
        tokens=["It is ", "noon."],
        tool_calls=[{"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}],
    )
    return fake


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeOllama]:
    async with fake_ollama() as server:
        yield server


@pytest.fixture(scope="module")
async def hub(fake: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    settings = hub_settings(tmp_path_factory.mktemp("hub"), fake)
    async with running_hub(settings, fake) as running:
        yield running


@pytest.fixture
def make_hub(
    tmp_path: Path,
) -> Callable[..., Any]:
    """A hub with its own settings (and data dir) for tests that change the configuration."""

    def make(fake: FakeOllama, **overrides: Any) -> Any:
        return running_hub(hub_settings(tmp_path, fake, **overrides), fake)

    return make
