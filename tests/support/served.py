"""`chathub serve` as a process of its own, driven from an async test.

For tests that signal, kill or restart the hub (or what it depends on) while traffic runs: the
hub gets its own event loop and its own process, as deployed; the fakes may stay in the test's
loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
START_WITHIN = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without HUB_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATA_DIR=str(data_dir),
        HUB_JWT_SECRET="test-secret-for-served-hubs-0123456789",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def write_config(path: Path, config: Mapping[str, object]) -> str:
    """Write `config` as the HUB_CONFIG YAML file; returns its path."""
    path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    return str(path)


@dataclass
class ServedHub:
    """A running `chathub serve`: its base URL, and its output once it has exited."""

    proc: asyncio.subprocess.Process
    url: str
    output: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @property
    def log(self) -> str:
        return "".join(self.output)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    async def wait(self, within: float = 120.0) -> int:
        """Wait for the process to exit (failing after `within` seconds); its exit code."""
        code = await asyncio.wait_for(self.proc.wait(), within)
        if self._reader is not None:
            await self._reader
        return code


async def _read(proc: asyncio.subprocess.Process, into: list[str]) -> None:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        into.append(line.decode(errors="replace"))


@asynccontextmanager
async def served_hub(env: Mapping[str, str], cwd: Path) -> AsyncIterator[ServedHub]:
    """Start `chathub serve` with `env` in `cwd` (which must exist) and wait until `/health`
    answers; kill it on exit if the test left it running."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "serve",
        cwd=cwd, env={**env, "HUB_PORT": str(port)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    hub = ServedHub(proc, f"http://127.0.0.1:{port}")
    hub._reader = asyncio.create_task(_read(proc, hub.output))
    try:
        await _wait_healthy(hub)
        yield hub
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await hub._reader


async def _wait_healthy(hub: ServedHub) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_WITHIN
    async with httpx.AsyncClient(timeout=2) as client:
        while loop.time() < deadline:
            if hub.proc.returncode is not None:
                await asyncio.sleep(0.1)  # let the reader take the last lines
                raise AssertionError(f"chathub serve exited early:\n{hub.log}")
            try:
                if (await client.get(hub.url + "/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"chathub serve did not answer /health in time:\n{hub.log}")
