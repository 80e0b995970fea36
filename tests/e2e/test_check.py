"""`chathub check` against real processes: every dependency reported, all of them even when
several are down at once (a stopped model server, a stopped Redis, an unreachable MongoDB, a
Telegram token Telegram refuses), exit 1 when anything is down."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_serve import free_port, hub_env, run_cli
from tests.fakes.process import fake_process
from tests.fakes.telegram import FakeTelegram
from tests.services.redis_server import RedisServer

GOOD_TOKEN = FakeTelegram().token
WRONG_TOKEN = "999000:WrongTokenWellFormed_abc"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, so it can be stopped without touching the others."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    workdir = Path(tempfile.mkdtemp(prefix="chathub-check-redis-"))
    server = RedisServer(binary, free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def telegram_base() -> Iterator[str]:
    with fake_process("tests.fakes.telegram") as url:
        yield f"{url}/bot"


def lines(stdout: str) -> dict[str, str]:
    """`{"store": "ok    store: …", …}`: each report line by what it checks."""
    found = {}
    for line in stdout.splitlines():
        status, _, rest = line.partition("  ")
        assert status in ("ok", "FAIL"), line
        found[rest.strip().split(":")[0]] = line
    return found


def test_check_reports_every_dependency_when_all_answer(
    tmp_path: Path, mongo_url: str, own_redis: RedisServer, telegram_base: str
) -> None:
    with fake_process("tests.fakes.ollama", "--models", "alpha:latest,beta:1b") as ollama:
        env = hub_env(
            tmp_path,
            HUB_MONGODB_URL=mongo_url,
            HUB_MONGODB_DB="check_all_ok",
            HUB_REDIS_URL=own_redis.url,
            HUB_OLLAMA_URL=ollama,
            HUB_DEFAULT_MODEL="alpha",
            HUB_TELEGRAM__TOKEN=GOOD_TOKEN,
            HUB_TELEGRAM__BASE_URL=telegram_base,
        )
        result = run_cli("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = lines(result.stdout)
    assert list(report) == [
        "store",
        "limiter",
        "backend ollama",
        "default model",
        "connector telegram",
    ]
    assert report["store"].startswith("ok    store: MongoDB at mongodb://127.0.0.1:")
    assert report["limiter"] == f"ok    limiter: Redis at redis://127.0.0.1:{own_redis.port}"
    assert report["backend ollama"] == "ok    backend ollama: answering, 2 models"
    assert report["default model"] == "ok    default model: alpha (on ollama)"
    assert report["connector telegram"] == "ok    connector telegram: bot @hub_test_bot"


def test_check_reports_every_dependency_down_at_once(
    tmp_path: Path, own_redis: RedisServer, telegram_base: str
) -> None:
    with fake_process("tests.fakes.ollama", "--models", "alpha:latest") as ollama:
        pass  # started and stopped: nothing answers at its address any more
    own_redis.stop()
    mongo = f"mongodb://hub:hunter2@127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500"
    env = hub_env(
        tmp_path,
        HUB_MONGODB_URL=mongo,
        HUB_REDIS_URL=own_redis.url,
        HUB_OLLAMA_URL=ollama,
        HUB_DEFAULT_MODEL="alpha",
        HUB_TELEGRAM__TOKEN=WRONG_TOKEN,
        HUB_TELEGRAM__BASE_URL=telegram_base,
    )
    result = run_cli("check", env=env)
    assert result.returncode == 1
    report = lines(result.stdout)
    assert all(line.startswith("FAIL") for line in report.values()), result.stdout
    assert "MongoDB is not reachable at mongodb://127.0.0.1:" in report["store"]
    assert f"Redis at redis://127.0.0.1:{own_redis.port} is not answering" in report["limiter"]
    assert "unset HUB_REDIS_URL" in report["limiter"]
    assert f"Ollama is not reachable at {ollama}" in report["backend ollama"]
    assert "ollama serve" in report["backend ollama"]
    assert report["default model"] == "FAIL  default model: unknown: no backend is answering"
    assert report["connector telegram"].startswith(
        "FAIL  connector telegram: Telegram refused HUB_TELEGRAM__TOKEN (401 Unauthorized)"
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "hunter2" not in output and WRONG_TOKEN.split(":")[1] not in output


def test_check_names_a_model_server_without_models_and_a_missing_default(tmp_path: Path) -> None:
    with fake_process("tests.fakes.ollama", "--models", "") as empty:
        result = run_cli("check", env=hub_env(tmp_path, HUB_OLLAMA_URL=empty))
        wanted = run_cli(
            "check", env=hub_env(tmp_path, HUB_OLLAMA_URL=empty, HUB_DEFAULT_MODEL="qwen3:4b")
        )
    assert result.returncode == 1
    report = lines(result.stdout)
    assert report["backend ollama"] == (
        "FAIL  backend ollama: answering, but it has no models; run `ollama pull llama3.2`"
    )
    assert report["default model"] == "FAIL  default model: none: run `ollama pull llama3.2`"
    assert "run `ollama pull qwen3:4b`" in lines(wanted.stdout)["backend ollama"]

    with fake_process("tests.fakes.ollama", "--models", "alpha:latest") as ollama:
        missing = run_cli(
            "check", env=hub_env(tmp_path, HUB_OLLAMA_URL=ollama, HUB_DEFAULT_MODEL="gamma")
        )
    assert missing.returncode == 1
    assert lines(missing.stdout)["default model"] == (
        "FAIL  default model: HUB_DEFAULT_MODEL=gamma is on no backend (they have: "
        "alpha:latest); run `ollama pull gamma` or set HUB_DEFAULT_MODEL to one of those"
    )
    assert lines(missing.stdout)["backend ollama"] == "ok    backend ollama: answering, 1 model"
