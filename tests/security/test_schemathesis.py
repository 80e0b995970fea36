"""Schemathesis against a real `chathub serve`, from its own `/schema` (issue 17, item 6).

Every documented route is fuzzed with valid and invalid data (a fixed seed and a bounded number
of examples, so the run is the same each time and short): no answer may be a server error, and
every answer must be documented: its status, its media type and its body. The routes come
from the document, which is written from the app itself, so routes added later are fuzzed too.
The longer run is `benchmarks/fuzz.py`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar, get, post
from litestar.params import JSONBody

from hub.api.schema_responses import BODIES, STREAMS, document_responses
from hub.connectors.telegram.webhook import SECRET_HEADER
from tests.api.conftest import API_KEY
from tests.fakes.ollama import FakeOllama
from tests.fakes.telegram import FakeTelegram
from tests.support.served import serve_env, served_hub

SEED = 20261208
COVERED = (
    "/api/v1/users/{user_id}/update",  # the Open WebUI admin panel
    "/api/v1/users/permissions/user",
    "/ollama/api/pull",  # model management
    "/ollama/api/push",
    "/ollama/api/copy",
    "/ollama/api/delete",
    "/ollama/api/create",
    "/ollama/api/embed",
    "/ollama/v1/embeddings",
    "/ollama/v1/completions",
    "/webhooks/telegram",
    "/api/v1/jobs",  # jobs (issue 19): submit, status, cancel
    "/api/v1/jobs/{job_id}",
)
EXAMPLES = 40
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    )
)


WEBHOOK_SECRET = "fuzz-webhook-secret"


def hub_env(data_dir: Path, ollama_url: str, telegram: FakeTelegram) -> dict[str, str]:
    """The fuzzed hub: embedded stores, the fake Ollama, and Telegram in webhook mode (so
    `/webhooks/telegram` is served and documented)."""
    return serve_env(
        data_dir,
        HUB_OLLAMA_URL=ollama_url,
        HUB_API_KEYS=API_KEY,
        HUB_LOG_LEVEL="WARNING",
        HUB_TELEGRAM__TOKEN=telegram.token,
        HUB_TELEGRAM__BASE_URL=telegram.base_url,
        HUB_TELEGRAM__MODE="webhook",
        HUB_TELEGRAM__WEBHOOK_SECRET=WEBHOOK_SECRET,
        HUB_TELEGRAM__WEBHOOK_URL="https://hub.example/webhooks/telegram",
    )


def st_command(url: str, token: str, *, examples: int, seed: int) -> list[str]:
    """The `st run` command line the suite and benchmarks/fuzz.py share. Both headers go
    with every request: the webhook's secret lets its bodies past the secret check."""
    st = str(Path(sys.executable).with_name("st"))
    return [
        st, "run", f"{url}/schema/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--header", f"{SECRET_HEADER}: {WEBHOOK_SECRET}",
        "--checks", CHECKS,
        "--max-examples", str(examples),
        "--seed", str(seed),
        "--workers", "1",
        "--request-timeout", "30",
        "--suppress-health-check", "too_slow,filter_too_much,data_too_large",
        "--generation-database", "none",
        "--no-color",
    ]  # fmt: skip


@pytest.fixture
async def ollama() -> AsyncIterator[FakeOllama]:
    async with FakeOllama(["alpha:latest", "beta:1b"]) as fake:
        yield fake


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


async def admin_token(url: str) -> str:
    """Sign up the first account (the admin) and return its token."""
    body = {"name": "Fuzz", "email": "fuzz@example.com", "password": "correct horse battery"}
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/api/v1/auths/signup", json=body)
    response.raise_for_status()
    return str(response.json()["token"])


async def test_schemathesis_finds_no_server_error_and_nothing_undocumented(
    tmp_path: Path, ollama: FakeOllama, telegram: FakeTelegram
) -> None:
    env = hub_env(tmp_path / "data", ollama.url, telegram)
    async with served_hub(env, tmp_path) as hub:
        token = await admin_token(hub.url)
        async with httpx.AsyncClient(base_url=hub.url) as client:
            paths = (await client.get("/schema/openapi.json")).json()["paths"]
        proc = await asyncio.create_subprocess_exec(
            *st_command(hub.url, token, examples=EXAMPLES, seed=SEED),
            cwd=tmp_path,
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        hub.signal()
        await hub.wait()
    report = out.decode(errors="replace")
    # What main serves now is in the document, so it was fuzzed (issue 17, item 6).
    for path in COVERED:
        assert path in paths, path
    assert proc.returncode == 0, report
    assert "Tested:" in report, report
    assert "Traceback" not in hub.log, hub.log


def test_a_route_added_later_is_documented_with_its_family_errors() -> None:
    @post("/ollama/api/pull", opt={STREAMS: "application/x-ndjson"}, sync_to_thread=False)
    def pull(data: JSONBody[dict[str, str]]) -> dict[str, str]:
        return data

    @get("/api/v1/anything", sync_to_thread=False)
    def anything() -> dict[str, str]:
        return {}

    app = Litestar([pull, anything])
    schema = document_responses(app.openapi_schema.to_schema(), app)
    pulled = schema["paths"]["/ollama/api/pull"]["post"]
    assert pulled["responses"]["400"]["content"]["application/json"]["schema"] == BODIES["ollama"]
    assert "application/x-ndjson" in pulled["responses"]["201"]["content"]
    assert pulled["security"] == []  # no sign-in dependency: documented as open
    other = schema["paths"]["/api/v1/anything"]["get"]["responses"]
    assert other["404"]["content"]["application/json"]["schema"] == BODIES["webui"]
    assert "429" not in other and "503" in other
