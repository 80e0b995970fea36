"""Several `chathub serve` processes of one hub, as an operator runs replicas: one Redis, one
MongoDB-wire server (database per test), the same secrets and config, each on its own port
with its own data directory. Output goes to a file per replica (read it with `log()`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_serve import free_port
from tests.services.mongo_server import unique_db_name

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("sk-replica-x-0123456789", "sk-replica-a-0123456789", "sk-replica-b-0123456789")


class Replica:
    """One `chathub serve` process."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, logfile: Path) -> None:
        self.proc = proc
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.logfile = logfile

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def kill(self) -> None:
        """Die at once (SIGKILL): no shutdown, nothing released."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


class Replicas:
    """Starts replicas of one hub; `env` and `config` are shared by all of them."""

    def __init__(self, tmp: Path, env: dict[str, str], config: dict[str, Any]) -> None:
        self.tmp = tmp
        self.env = env
        self.config_path = tmp / "hub.yaml"
        self.config_path.write_text(json.dumps(config))  # JSON is YAML
        self.started: list[Replica] = []

    def spawn(self, **extra: str) -> Replica:
        index = len(self.started)
        port = free_port()
        data = self.tmp / f"replica{index}"
        data.mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "HUB_PORT": str(port),
            "HUB_DATA_DIR": str(data),
            "HUB_CONFIG": str(self.config_path),
            **extra,
        }
        logfile = self.tmp / f"replica{index}.log"
        with logfile.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve"],
                cwd=data,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        replica = Replica(proc, port, logfile)
        self.started.append(replica)
        return replica

    async def start(self, count: int, **extra: str) -> list[Replica]:
        """Start `count` replicas at once; return them once each answers /health."""
        replicas = [self.spawn(**extra) for _ in range(count)]
        await asyncio.gather(*(healthy(r) for r in replicas))
        return replicas

    def stop_all(self) -> None:
        for replica in self.started:
            replica.stop()


async def healthy(replica: Replica, within: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with httpx.AsyncClient() as client:
        while loop.time() < deadline:
            if replica.proc.poll() is not None:
                raise AssertionError(
                    f"replica exited ({replica.proc.returncode}):\n{replica.log()}"
                )
            try:
                if (await client.get(f"{replica.base}/health", timeout=2)).is_success:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"replica did not answer /health:\n{replica.log()}")


def shared_env(redis_url: str, mongo_url: str, **extra: str) -> dict[str, str]:
    """What every replica of one hub shares: Redis, the MongoDB database, secrets, keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_REDIS_URL=redis_url,
        HUB_MONGODB_URL=mongo_url,
        HUB_MONGODB_DB=unique_db_name("replicas"),
        HUB_JWT_SECRET="replica-test-secret-0123456789abcdef0123",
        HUB_API_KEYS=",".join(KEYS),
        HUB_LOG_REQUESTS="false",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@contextmanager
def replica_set(tmp: Path, env: dict[str, str], config: dict[str, Any]) -> Iterator[Replicas]:
    replicas = Replicas(tmp, env, config)
    try:
        yield replicas
    finally:
        replicas.stop_all()


def routing(url: str, max_concurrency: int, **extra: Any) -> dict[str, Any]:
    """A config with one Ollama backend and fast leases (a dead replica's share moves on
    within seconds)."""
    backend = {"name": "ollama", "url": url, "max_concurrency": max_concurrency}
    return {
        "routing": {"backends": [backend], **extra},
        "coordination": {"lease_ttl": 3, "leader_ttl": 2},
    }


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
