"""`chathub serve --workers N`: N processes on one port, refused without Redis, sharing SQLite
with Redis, restarted when one dies, stopped together."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.replicas import KEYS, bearer
from tests.e2e.test_serve import free_port, hub_env, python_path, run_cli, tmp_cwd
from tests.fakes.ollama import FakeOllama
from tests.support.wait import until

MODEL = "alpha:latest"


def test_several_workers_without_redis_are_refused_with_one_line(tmp_path: Path) -> None:
    done = run_cli("serve", "--workers", "2", env=hub_env(tmp_path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("chathub: --workers 2 needs HUB_REDIS_URL")
    assert "Traceback" not in done.stderr


def test_zero_workers_is_refused(tmp_path: Path, redis_url: str) -> None:
    done = run_cli("serve", "--workers", "0", env=hub_env(tmp_path, HUB_REDIS_URL=redis_url))
    assert done.returncode == 2
    assert done.stderr.strip() == "chathub: --workers: must be 1 or more (got 0)"


def workers_of(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    return [p for p in psutil.Process(proc.pid).children() if p.is_running()]


async def test_two_workers_share_the_port_sqlite_and_the_limits(
    tmp_path: Path, redis_url: str
) -> None:
    async with FakeOllama([MODEL]) as ollama:
        ollama.script(MODEL, token_count=10, tokens_per_second=100)
        port = free_port()
        config = tmp_path / "hub.yaml"
        backends = [{"name": "ollama", "url": ollama.url, "max_concurrency": 2}]
        config.write_text(json.dumps({"routing": {"backends": backends}}))
        env = hub_env(
            tmp_path,
            HUB_REDIS_URL=redis_url,
            HUB_PORT=str(port),
            HUB_CONFIG=str(config),
            HUB_API_KEYS=",".join(KEYS),
            HUB_LOG_REQUESTS="false",
        )
        out = tmp_path / "serve.log"
        proc = start_workers(env, out, 2)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient() as client:
                await until(lambda: "coordination ready" in out.read_text(), within=60)
                await wait_healthy(client, base, proc, out)
                await until(lambda: out.read_text().count("coordination ready") == 2, within=60)
                replicas = set(re.findall(r"coordination ready .*replica=(\w+)", out.read_text()))
                assert len(replicas) == 2  # two hubs, each its own replica of the same hub
                first = workers_of(proc)
                assert len(first) == 2

                answers = await asyncio.gather(*(chat(client, base, i) for i in range(12)))
                assert answers == [200] * 12
                assert ollama.peak == 2  # one max_concurrency for both workers

                first[0].kill()  # a worker dies: the supervisor starts another
                await until(lambda: "a worker died; starting it again" in out.read_text())
                await until(lambda: len(workers_of(proc)) == 2, within=30)
                await until(lambda: out.read_text().count("coordination ready") == 3, within=60)
                assert await chat(client, base, 99) == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
        log_text = text_of(out)
        assert code == 0, log_text
        assert "Traceback" not in log_text, log_text
        assert all(not p.is_running() for p in first)


async def wait_healthy(
    client: httpx.AsyncClient, base: str, proc: subprocess.Popen[str], out: Path
) -> None:
    for _ in range(1200):
        if proc.poll() is not None:
            pytest.fail(f"serve --workers exited ({proc.returncode}):\n{text_of(out)}")
        try:
            if (await client.get(f"{base}/health", timeout=2)).is_success:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.05)
    pytest.fail(f"serve --workers never answered /health:\n{text_of(out)}")


def text_of(path: Path) -> str:
    return path.read_text()


def start_workers(env: dict[str, str], out: Path, workers: int) -> subprocess.Popen[str]:
    with out.open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--workers", str(workers)],
            cwd=tmp_cwd(env),
            env={**env, "PYTHONPATH": python_path(env)},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


async def chat(client: httpx.AsyncClient, base: str, i: int) -> int:
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"q{i}"}], "stream": False}
    # A new connection each time, so the kernel may hand it to either worker.
    answer = await client.post(
        f"{base}/ollama/api/chat",
        json=body,
        headers={**bearer(KEYS[i % 3]), "Connection": "close"},
        timeout=60,
    )
    return answer.status_code
