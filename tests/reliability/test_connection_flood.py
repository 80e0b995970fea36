"""Connection hygiene of a real `chathub serve` process with a lowered descriptor limit.

The issue's failure: 21,000 idle connections made 54 of 61 new `/health` probes fail. Here the
hub runs with `RLIMIT_NOFILE` 512 (so it can hold about 190 client connections) and gets far
more idle and slowloris connections than it has descriptors, opened in waves while probes run.
Every probe must be answered within one header timeout: counts are asserted, not times.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hub.http_server import RESERVED_DESCRIPTORS
from tests.e2e.test_serve import free_port, hub_env, tmp_cwd

ROOT = Path(__file__).resolve().parents[2]
NOFILE = 512
HEADER_TIMEOUT = 3.0
IDLE = 1200  # more than twice the hub's descriptors
SLOW = 400
PROBES = 15


class Hub:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port

    def fds(self) -> int:
        return psutil.Process(self.proc.pid).num_fds()

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)


def _lower_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    port = free_port()
    env = hub_env(
        tmp_path,
        HUB_PORT=str(port),
        HUB_OLLAMA_URL=f"http://127.0.0.1:{free_port()}",  # /health needs no backend
        HUB_SERVER__HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve"],
        cwd=tmp_cwd(env),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_lower_nofile,  # the child only calls setrlimit before exec
    )
    served = Hub(proc, port)
    try:
        for _ in range(600):
            if proc.poll() is not None:
                pytest.fail(f"chathub serve exited: {proc.stdout.read() if proc.stdout else ''}")
            if probe(port, timeout=1.0):
                break
            time.sleep(0.05)
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        assert "Too many open files" not in out, out[-3000:]


def probe(port: int, timeout: float) -> bool:
    """One `/health` request on a new connection; True if it was answered 200 in time."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
            return answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"status":"ok"}')
    except OSError:
        return False


def _open_idle(port: int, count: int, sink: list[socket.socket]) -> None:
    """Connections that never send anything (non-blocking connects: the backlog may be full)."""
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        sink.append(sock)


def _slowloris(
    port: int, count: int, stop: threading.Event, ready: threading.Event, sink: list[socket.socket]
) -> None:
    """Connections that send a request's headers one short line at a time, for ever."""
    socks = []
    for _ in range(count):
        with contextlib.suppress(OSError):
            sock = socket.create_connection(("127.0.0.1", port), timeout=1.0)
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.send(b"GET /health HTTP/1.1\r\nHost: hub\r\n")
            socks.append(sock)
    sink.extend(socks)
    ready.set()
    while not stop.wait(0.3):
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.send(b"X-a: b\r\n")


def test_idle_and_slow_connections_beyond_the_descriptor_limit_never_block_health(
    hub: Hub,
) -> None:
    held: list[socket.socket] = []
    stop, ready = threading.Event(), threading.Event()
    slow = threading.Thread(target=_slowloris, args=(hub.port, SLOW, stop, ready, held))
    answered = 0
    most_fds = 0
    try:
        slow.start()
        for wave in range(PROBES):
            _open_idle(hub.port, IDLE // PROBES, held)  # the flood keeps growing
            if wave == 3:
                assert ready.wait(timeout=60)  # every slowloris connection is in by now
            answered += probe(hub.port, timeout=HEADER_TIMEOUT)
            most_fds = max(most_fds, hub.fds())
    finally:
        stop.set()
        slow.join(timeout=60)
        for sock in held:
            sock.close()
    assert len(held) >= IDLE + SLOW * 0.9  # the load really was there
    assert answered == PROBES
    assert most_fds < NOFILE - RESERVED_DESCRIPTORS // 2
    assert hub.proc.poll() is None


def test_a_50_mb_header_is_refused_cheaply_with_431(hub: Hub) -> None:
    before = hub.rss()
    header = b"a" * (50 * 1024 * 1024)
    head = b"GET /api/v1/chats HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer "
    sent = 0
    with socket.create_connection(("127.0.0.1", hub.port), timeout=30) as sock:
        with contextlib.suppress(OSError):  # the hub may close before all of it is sent
            sock.sendall(head)
            for start in range(0, len(header), 1 << 20):
                sent += sock.send(header[start : start + (1 << 20)])
            sock.sendall(b"\r\n\r\n")
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert rest.endswith(
        b'{"detail":"The request\'s headers are too large (32768 bytes at most)."}'
    )
    assert hub.rss() - before < 8 * 1024 * 1024  # the refused header was never kept
    assert probe(hub.port, timeout=HEADER_TIMEOUT)


def test_a_request_whose_headers_stop_arriving_gets_408(hub: Hub) -> None:
    with socket.create_connection(("127.0.0.1", hub.port), timeout=30) as sock:
        sock.sendall(b"GET /ollama/api/tags HTTP/1.1\r\nHost: hub\r\nX-Half")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b'{"error":"The request\'s headers did not arrive within 3 s."}')


def test_connections_that_never_send_or_idle_after_a_reply_are_closed(hub: Hub) -> None:
    with socket.create_connection(("127.0.0.1", hub.port), timeout=30) as silent:
        assert silent.recv(1) == b""  # closed by the hub, without an answer
    with socket.create_connection(("127.0.0.1", hub.port), timeout=30) as kept:
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: hub\r\n\r\n")
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):
            answer += kept.recv(4096)
        assert kept.recv(1) == b""  # the keep-alive timeout closed it


def test_the_hub_process_limit_is_lowered_for_these_tests(hub: Hub) -> None:
    soft, hard = psutil.Process(hub.proc.pid).rlimit(psutil.RLIMIT_NOFILE)
    assert (soft, hard) == (NOFILE, NOFILE)
    assert os.getpid() != hub.proc.pid
