"""Slow HTTP readers of a long streamed reply, against a real `chathub serve` process.

Shared by tests/reliability/test_slow_readers.py and benchmarks/slow_readers.py. The hub runs
as its own process in front of the fake Ollama (also its own process, unpaced, so it streams as
fast as the hub reads); each reader asks `/ollama/api/chat` for the long reply over a socket
with a small receive buffer and takes `read_bytes` bytes once per `interval` seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from tests.fakes.process import fake_ollama_process

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-slow-readers-0123456789"
MODEL = "long:latest"


@dataclass
class Figures:
    idle_rss: int = 0
    peak_rss: int = 0
    samples: list[int] = field(default_factory=list)
    bytes_read: list[int] = field(default_factory=list)
    flowing_at: list[int] = field(default_factory=list)  # bytes read when all streams flowed

    @property
    def growth(self) -> int:
        return self.peak_rss - self.idle_rss


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def hub_process(backend: str, data_dir: Path, root: Path = ROOT) -> Iterator[tuple[int, int]]:
    """`chathub serve` of the checkout at `root` on a free port; yields (port, pid)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_PORT=str(port),
        HUB_DATA_DIR=str(data_dir),
        HUB_OLLAMA_URL=backend,
        HUB_API_KEYS=KEY,
        HUB_JWT_SECRET="slow-readers-secret-0123456789-0123456789",
        HUB_LOG_LEVEL="WARNING",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=str(root),
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve"], cwd=data_dir, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"chathub serve exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).is_success:
                    break
            time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _request(port: int) -> bytes:
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "go"}], "stream": True}
    ).encode()
    head = (
        f"POST /ollama/api/chat HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _slow_reader(
    port: int, read_bytes: int, interval: float, stop: threading.Event, counted: list[int], i: int
) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(_request(port))
        sock.settimeout(interval)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                chunk = sock.recv(read_bytes)
                if not chunk:
                    return
                counted[i] += len(chunk)
            stop.wait(interval)


def _settled_rss(pid: int) -> int:
    rss = psutil.Process(pid).memory_info().rss
    for _ in range(20):  # settled: two readings 0.1 s apart within 256 KB
        time.sleep(0.1)
        now = psutil.Process(pid).memory_info().rss
        if abs(now - rss) < 256 * 1024:
            return int(now)
        rss = now
    return int(rss)


def measure(
    tmp: Path,
    *,
    readers: int = 4,
    tokens: int = 2_000_000,
    seconds: float = 8.0,
    read_bytes: int = 1024,
    interval: float = 1.0,
    root: Path = ROOT,
) -> Figures:
    """Idle RSS of the hub, then its peak while `readers` read the long reply slowly."""
    figures = Figures(bytes_read=[0] * readers)
    with (
        fake_ollama_process(MODEL, tokens) as backend,
        hub_process(backend, tmp / "data", root) as (port, pid),
    ):
        warm = threading.Event()  # one short read first: every code path imported and warm
        _warm_counted = [0]
        warm_thread = threading.Thread(
            target=_slow_reader, args=(port, 65536, 0.2, warm, _warm_counted, 0)
        )
        warm_thread.start()
        while not _warm_counted[0]:
            time.sleep(0.1)
        warm.set()
        warm_thread.join()
        time.sleep(1.0)  # the hub notices the disconnect and stops that reply
        figures.idle_rss = _settled_rss(pid)
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=_slow_reader,
                args=(port, read_bytes, interval, stop, figures.bytes_read, i),
            )
            for i in range(readers)
        ]
        for thread in threads:
            thread.start()
        # The fake builds each 2M-token reply before its first byte (a few seconds of its CPU):
        # the measured window starts once every stream flows, and lasts `seconds`.
        deadline = time.monotonic() + 180
        while not all(figures.bytes_read) and time.monotonic() < deadline:
            figures.samples.append(int(psutil.Process(pid).memory_info().rss))
            time.sleep(0.25)
        figures.flowing_at = list(figures.bytes_read)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            figures.samples.append(int(psutil.Process(pid).memory_info().rss))
            time.sleep(0.25)
        stop.set()
        for thread in threads:
            thread.join()
    figures.peak_rss = max(figures.samples)
    return figures
